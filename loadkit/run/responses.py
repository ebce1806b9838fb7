"""Judging one response: its expectations (status, body, JSON values, latency) and the values it yields.

Pure functions over what a response is (status, headers, body text, latency), compiled once per
request so a step costs a few dictionary lookups; the Locust side lives in :mod:`loadkit.run.users`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any, Protocol

from ..scenario.extract import compile_jsonpath, compile_regex
from ..scenario.model import Expect, Extract, ExtractFrom

__all__ = ["Judge", "Headers", "Body", "excerpt"]

_EMPTY = (None, "", [], {})
_EXCERPT = 60


class Headers(Protocol):
    def get(self, name: str, default: Any = None) -> Any: ...


def excerpt(text: str | None) -> str:
    """The start of a body, on one line, for a failure message that says why (``{"error": "no token"}``)."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= _EXCERPT else flat[:_EXCERPT] + "…"


def _header_values(headers: Headers | None, name: str) -> list[str]:
    if headers is None:
        return []
    for method in ("getlist", "get_all"):  # geventhttpclient's Headers, email.message.Message
        many = getattr(headers, method, None)
        if many is not None:
            return [str(v) for v in (many(name) or [])]
    value = headers.get(name)
    return [] if value is None else [str(value)]


class Body:
    """A response body read at most once: its text and, when asked, its JSON (or why it is not JSON)."""

    __slots__ = ("_read", "_text", "_doc", "_why", "_parsed")

    def __init__(self, read: Callable[[], str | None]):
        self._read, self._text, self._parsed = read, None, False
        self._doc: Any = None
        self._why: str | None = None

    @property
    def text(self) -> str | None:
        if self._read is not None:
            self._text, self._read = self._read(), None
        return self._text

    def json(self) -> tuple[Any, str | None]:
        if not self._parsed:
            self._parsed = True
            body = self.text
            if not body:
                self._why = "the response body is empty, not JSON"
            else:
                try:
                    self._doc = json.loads(body)
                except ValueError:
                    self._why = f"the response is not JSON: {excerpt(body)}"
        return self._doc, self._why


_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\['([^'\\]*)'\]")


class _Path:
    """A JSONPath: plain keys and indexes ($.items[0].id) looked up directly, anything else by jsonpath-ng."""

    def __init__(self, text: str):
        keys: list[str | int] = []
        pos = 1
        while pos < len(text):
            m = _STEP.match(text, pos)
            if m is None:
                break
            keys.append(int(m.group(2)) if m.group(2) is not None else m.group(1) or m.group(3) or "")
            pos = m.end()
        self.keys = tuple(keys) if pos == len(text) else None
        self.compiled = compile_jsonpath(text) if self.keys is None else None

    def find(self, doc: Any) -> list[Any]:
        if self.keys is None:
            return [m.value for m in self.compiled.find(doc)]
        for k in self.keys:
            if isinstance(k, int):
                if not isinstance(doc, list) or not -len(doc) <= k < len(doc):
                    return []
            elif not isinstance(doc, dict) or k not in doc:
                return []
            doc = doc[k]
        return [doc]


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


class Judge:
    """The compiled expectations and extractions of one request."""

    def __init__(self, expect: Expect, extract: tuple[Extract, ...] = ()):
        self.expect = expect
        self.statuses = frozenset(expect.status)
        self.status_text = "/".join(map(str, expect.status))
        self.json_checks = [(path, _Path(path), want) for path, want in expect.json]
        self.extract = extract
        self.compiled: list[tuple[Extract, Any]] = [
            (e, _Path(e.expr) if e.source is ExtractFrom.JSON
             else compile_regex(e.expr) if e.source is ExtractFrom.REGEX else None) for e in extract]
        self.needs_json = bool(self.json_checks) or any(e.source is ExtractFrom.JSON for e in extract)

    def failure(self, status: int, headers: Headers | None, body: Body, latency_s: float) -> str | None:
        """Why the response fails its expectations, naming the one that failed; None when it passes."""
        e = self.expect
        if self.statuses and status not in self.statuses:
            got = f"expected status {self.status_text}, got {status}"
            return got + (f": {excerpt(body.text)}" if status >= 400 and body.text else "")
        if not self.statuses and not 0 < status < 400:
            return f"status {status}" + (f": {excerpt(body.text)}" if body.text else "")
        if e.max_latency is not None and latency_s > e.max_latency:
            return f"expected max_latency {e.max_latency * 1000:g}ms, took {latency_s * 1000:.0f}ms"
        if e.needs_body:
            text = body.text or ""
            for want in e.contains:
                if want not in text:
                    return f"response does not contain {want!r}"
            for unwanted in e.not_contains:
                if unwanted in text:
                    return f"response contains {unwanted!r} (body_not_contains)"
        if self.json_checks:
            doc, why = body.json()
            if why:
                return f"expect json: {why}"
            for path, compiled, want in self.json_checks:
                found = compiled.find(doc)
                if not found:
                    return f"expect json {path}: no match in the response"
                value = found[0]
                if want == "non-empty" and value in _EMPTY:
                    return f"expect json {path}: expected non-empty, got {_shown(value)}"
                if want not in ("non-empty", "exists") and value != want:
                    return f"expect json {path}: expected {_shown(want)}, got {_shown(value)}"
        return None

    def values(self, headers: Headers | None, body: Body) -> tuple[dict[str, Any], str | None]:
        """The extracted values, or the reason the first extraction failed."""
        out: dict[str, Any] = {}
        doc: Any = None
        if self.needs_json and any(e.source is ExtractFrom.JSON for e in self.extract):
            doc, why = body.json()
            if why:
                first = next(e for e in self.extract if e.source is ExtractFrom.JSON)
                return out, f"extract {first.name} ({first.text}): {why}"
        for e, compiled in self.compiled:
            value = _one(e, compiled, doc, headers, body)
            if value is None:
                return out, f"extract {e.name} ({e.text}): {_missing(e)}"
            out[e.name] = value
        return out, None


def _one(e: Extract, compiled: Any, doc: Any, headers: Headers | None, body: Body) -> Any:
    if e.source is ExtractFrom.JSON:
        found = compiled.find(doc)
        return found[0] if found and found[0] is not None else None
    if e.source is ExtractFrom.HEADER:
        values = _header_values(headers, e.expr)
        return values[0] if values else None
    if e.source is ExtractFrom.REGEX:
        m = compiled.search(body.text or "")
        return None if m is None else m.group(1 if compiled.groups else 0)
    for line in _header_values(headers, "Set-Cookie"):
        try:
            jar = SimpleCookie(line)
        except CookieError:
            continue
        if e.expr in jar:
            return jar[e.expr].value
    return None


def _missing(e: Extract) -> str:
    return {ExtractFrom.JSON: "no match in the response",
            ExtractFrom.HEADER: "the response has no such header",
            ExtractFrom.REGEX: "the pattern does not match the body",
            ExtractFrom.COOKIE: "the response sets no such cookie"}[e.source]
