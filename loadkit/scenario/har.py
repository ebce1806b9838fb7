"""A browser recording (HAR 1.2, as DevTools' "Save all as HAR" writes it) turned into a flow scenario.

The recording's requests to its main host, in order, with the pauses between them as think times;
static assets and other hosts are left out (each by a flag). A value that a kept response returned
and a later request sent back (a token, an id, a CSRF field) becomes an ``extract:`` on the response
and a ``{variable}`` in the requests, so the replay sends the values of its own responses, not the
recorded ones. Cookies are left to each user's session, as the browser did.

Pure: :func:`har_to_scenario` takes the parsed HAR and returns the scenario as data; the caller
checks it with the scenario builder and writes it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..errors import ConfigError

__all__ = ["HarOptions", "har_to_scenario", "write_har_scenario", "STATIC_EXTENSIONS"]

STATIC_EXTENSIONS = (".js", ".mjs", ".css", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".avif",
                     ".woff", ".woff2", ".ttf", ".otf", ".eot", ".map", ".mp4", ".webm", ".mp3")
_STATIC_TYPES = {"script", "stylesheet", "image", "font", "media", "manifest", "texttrack"}
_STATIC_MIME = ("image/", "font/", "text/css", "text/javascript", "application/javascript", "video/", "audio/")
#: request headers the replay sets itself or the session carries (cookies), never copied from the recording
_DROP_HEADERS = {"host", "content-length", "connection", "cookie", "accept-encoding", "user-agent", "referer",
                 "origin", "cache-control", "pragma", "upgrade-insecure-requests", "if-none-match",
                 "if-modified-since", "proxy-connection", "keep-alive", "accept-language", "priority", "dnt"}
_WORD = re.compile(r"[A-Za-z_-]*")


@dataclass(frozen=True)
class HarOptions:
    name: str = "recorded"
    host: str | None = None  # the host (host:port) to replay; default: the one most requests went to
    keep_static: bool = False
    min_think: float = 0.2  # seconds: shorter pauses are the browser's own, not the person's
    max_think: float = 30.0


@dataclass
class _Entry:
    method: str
    url: str
    path: str
    headers: dict[str, str]
    json: Any = None
    data: str | None = None
    status: int = 0
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_text: str = ""
    response_mime: str = ""
    start: float = 0.0
    end: float = 0.0
    resource_type: str = ""  # Chrome's _resourceType: document, xhr, fetch, script, image...
    extract: dict[str, str] = field(default_factory=dict)


def har_to_scenario(har: Any, options: HarOptions, file: str = "recording.har") -> dict:
    """The scenario (as YAML-ready data) of a HAR recording; ConfigError when it holds nothing to replay."""
    entries = _entries(har, file)
    main = options.host or _main_host(entries)
    kept = [e for e in (_entry(raw) for raw in entries) if e is not None and _keep(e, main, options)]
    if not kept:
        raise ConfigError(f"{file}: no request to {main} is left to replay (static assets are dropped unless "
                          "--keep-static; other hosts always: --host chooses the one to replay)")
    _correlate(kept)
    hosts = sorted({urlsplit(e.url).hostname or "" for e in kept})
    scheme = urlsplit(kept[0].url).scheme
    flow: list[dict] = []
    for i, e in enumerate(kept):
        if i:
            pause = e.start - kept[i - 1].end
            if pause >= options.min_think:
                flow.append({"think": f"{min(pause, options.max_think):.1f}s"})
        flow.append(_step(e))
    return {
        "name": options.name,
        "description": f"recorded in {os.path.basename(file)}: {len(kept)} of {len(entries)} requests kept",
        "target": {"host": f"{scheme}://{main}", "allowed_hosts": hosts},
        "users": [{"name": "recorded", "wait": {"constant": "1s"}, "flow": flow}],
        "load": {"users": 1, "spawn_rate": 1, "duration": "1m"},
        "checks": ["error_rate < 1%"],
    }


def _entries(har: Any, file: str) -> list[dict]:
    entries = har.get("log", {}).get("entries") if isinstance(har, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{file}: not a HAR recording (expected log.entries, a non-empty list)")
    good = [e for e in entries if isinstance(e, dict) and isinstance(e.get("request"), dict)
            and str(e["request"].get("url", "")).startswith(("http://", "https://"))]
    if not good:
        raise ConfigError(f"{file}: no http(s) request in log.entries")
    return sorted(good, key=lambda e: str(e.get("startedDateTime", "")))


def _main_host(entries: list[dict]) -> str:
    """The host most requests went to (the earliest of equals): the site, not a browser's own calls."""
    hosts = [urlsplit(str(e["request"]["url"])).netloc for e in entries]
    return max(dict.fromkeys(hosts), key=hosts.count)


def _seconds(iso: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _entry(raw: dict) -> _Entry | None:
    req, resp = raw["request"], raw.get("response") or {}
    url = str(req["url"])
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {str(h.get("name")): str(h.get("value", "")) for h in req.get("headers") or []
               if isinstance(h, dict) and not str(h.get("name", "")).startswith(":")
               and str(h.get("name", "")).lower() not in _DROP_HEADERS and not str(h.get("name", "")).lower().startswith("sec-")}
    post = req.get("postData") or {}
    text = post.get("text") if isinstance(post, dict) else None
    e = _Entry(str(req.get("method", "GET")).upper(), url, path, headers)
    if text:
        mime = str(post.get("mimeType", "")).lower()
        try:
            e.json = json.loads(text) if "json" in mime else None
        except ValueError:
            e.json = None
        if e.json is None:
            e.data = str(text)
        else:
            headers.pop(next((k for k in headers if k.lower() == "content-type"), ""), None)
    content = resp.get("content") or {}
    e.status = int(resp.get("status") or 0)
    e.response_headers = [(str(h.get("name")), str(h.get("value", ""))) for h in resp.get("headers") or []
                          if isinstance(h, dict)]
    e.response_text = str(content.get("text") or "") if content.get("encoding") != "base64" else ""
    e.response_mime = str(content.get("mimeType") or "").lower()
    e.start = _seconds(str(raw.get("startedDateTime", "")))
    e.end = e.start + max(float(raw.get("time") or 0), 0.0) / 1000.0
    e.resource_type = str(raw.get("_resourceType") or "").lower()
    return e


def _keep(e: _Entry, main: str, o: HarOptions) -> bool:
    if urlsplit(e.url).netloc != main:  # a scenario has one target host
        return False
    if o.keep_static:
        return True
    static = (e.resource_type in _STATIC_TYPES or urlsplit(e.url).path.lower().endswith(STATIC_EXTENSIONS)
              or e.response_mime.startswith(_STATIC_MIME))
    return not static


# -- correlation ---------------------------------------------------------------------------------

def _candidates(e: _Entry) -> list[str]:
    """Values a request sends that could have come from an earlier response: not plain words, not tiny."""
    found: list[str] = []
    parts = urlsplit(e.url)
    found += [seg for seg in parts.path.split("/") if seg]
    found += [v for _, v in parse_qsl(parts.query)]
    for v in e.headers.values():
        found += [v, *v.split()]
    if e.data:
        found += [v for _, v in parse_qsl(e.data)]
    found += [str(v) for v in _leaves(e.json)]
    return [v for v in dict.fromkeys(found) if len(v) >= 4 and not _WORD.fullmatch(v)]


def _leaves(doc: Any):
    if isinstance(doc, dict):
        for v in doc.values():
            yield from _leaves(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _leaves(v)
    elif isinstance(doc, (str, int)) and not isinstance(doc, bool):
        yield doc


def _json_path(doc: Any, value: str, path: str = "$") -> tuple[str, str] | None:
    """(JSONPath, last key) of the first leaf equal to ``value``."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        step = f"[{k}]" if isinstance(k, int) else f".{k}" if re.fullmatch(r"[A-Za-z_][\w]*", k) else f"['{k}']"
        if isinstance(v, (dict, list)):
            hit = _json_path(v, value, path + step)
            if hit:
                return hit
        elif not isinstance(v, bool) and isinstance(v, (str, int)) and str(v) == value:
            return path + step, str(k)
    return None


def _source(e: _Entry, value: str, headers_only: bool = False) -> tuple[str, str] | None:
    """(extraction, a name for it) reading ``value`` from the response of ``e``, or None.

    Never from a redirect: the replay follows it, and sees the response it leads to instead."""
    if 300 <= e.status < 400:
        return None
    if headers_only:
        return next(((f"header:{n}", n) for n, v in e.response_headers if v == value and n.lower() != "set-cookie"),
                    None)
    if "json" in e.response_mime and e.response_text:
        try:
            hit = _json_path(json.loads(e.response_text), value)
        except ValueError:
            hit = None
        if hit:
            return f"json:{hit[0]}", hit[1]
    for name, v in e.response_headers:
        if v == value and name.lower() != "set-cookie":
            return f"header:{name}", name
    text = e.response_text
    at = text.find(value)
    if at > 0:
        start = max(text.rfind("<", 0, at), text.rfind("\n", 0, at), at - 60, 0)
        prefix, end = text[start:at], at + len(value)
        stop = text[end] if end < len(text) else ""
        name = re.findall(r"name=\"([\w-]+)\"", prefix)
        allowed = re.escape(stop) if stop else ""
        pattern = re.escape(prefix) + (f"([^{allowed}<>\\s]+)" if stop else r"(\S+)")
        m = re.search(pattern, text)
        if m and m.group(1) == value:
            return f"regex:{pattern}", name[-1] if name else "value"
    return None


def _var(base: str, taken: set[str]) -> str:
    name = re.sub(r"\W", "_", base).strip("_").lower() or "value"
    name = name if not name[0].isdigit() else f"v_{name}"
    out, n = name, 2
    while out in taken:
        out, n = f"{name}_{n}", n + 1
    taken.add(out)
    return out


def _correlate(kept: list[_Entry]) -> None:
    """Replace each value a request sends back with the variable an earlier response's extraction gives."""
    taken: set[str] = set()
    current: dict[str, str] = {}  # value -> variable, from the latest response that returned it
    for k, e in enumerate(kept):
        path = urlsplit(e.url).path  # the whole path only from a header: a Location the browser followed
        for value, headers_only in [(v, False) for v in _candidates(e)] + [(path, True)]:
            if value in current:
                continue
            for j in range(k - 1, -1, -1):
                src = kept[j]
                got = _source(src, value, headers_only)
                if got:
                    spec, base = got
                    name = _var(base, taken)
                    src.extract[name] = spec
                    current[value] = name
                    break
        for value, name in sorted(current.items(), key=lambda kv: -len(kv[0])):
            _substitute(e, value, name)


def _substitute(e: _Entry, value: str, name: str) -> None:
    e.path = e.path.replace(value, f"\x00{name}\x01")
    e.headers = {k: v.replace(value, f"\x00{name}\x01") for k, v in e.headers.items()}
    if e.data is not None:
        e.data = e.data.replace(value, f"\x00{name}\x01")
    e.json = _sub_json(e.json, value, name)


def _sub_json(doc: Any, value: str, name: str) -> Any:
    if isinstance(doc, dict):
        return {k: _sub_json(v, value, name) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_sub_json(v, value, name) for v in doc]
    if not isinstance(doc, bool) and isinstance(doc, (str, int)) and str(doc) == value:
        return f"\x00{name}\x01"
    if isinstance(doc, str) and value in doc:
        return doc.replace(value, f"\x00{name}\x01")
    return doc


def _template(text: str) -> str:
    """Braces of the recording escaped ({{, }}), the variables marked by _substitute written as {name}."""
    return text.replace("{", "{{").replace("}", "}}").replace("\x00", "{").replace("\x01", "}")


def _template_json(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {_template(k): _template_json(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_template_json(v) for v in doc]
    return _template(doc) if isinstance(doc, str) else doc


def _step(e: _Entry) -> dict:
    path = _template(e.path)
    step: dict[str, Any] = {"name": f"{e.method} {path.split('?')[0]}", "method": e.method, "path": path}
    if e.headers:
        step["headers"] = {k: _template(v) for k, v in e.headers.items()}
    if e.json is not None:
        step["json"] = _template_json(e.json)
    elif e.data is not None:
        step["data"] = _template(e.data)
    if e.extract:
        step["extract"] = dict(e.extract)
    if 200 <= e.status < 300 or 400 <= e.status < 600:  # redirects are followed, 304s were the browser's cache
        step["expect"] = {"status": e.status}
    return step


def write_har_scenario(har_file: str, out: str, options: HarOptions, force: bool = False) -> dict:
    """Read ``har_file``, write its scenario to ``out`` (atomically, never over a file unless ``force``).

    The scenario is checked by the scenario builder before it is written: what is written validates."""
    from pathlib import Path

    import yaml

    from ..files import atomic_write
    from .read import parse_scenario

    target = Path(out)
    if target.exists() and not force:
        raise ConfigError(f"{out}: exists; give another -o or --force to replace it")
    try:
        har = json.loads(Path(har_file).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {har_file}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{har_file}: not a HAR file (JSON): {exc}") from None
    scenario = har_to_scenario(har, options, har_file)
    text = ("# made by loadkit scenario from-har; think times and extractions are the recording's, "
            "review before use\n" + yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True, width=110))
    parse_scenario(text, str(target))
    atomic_write(target, text)
    return scenario
