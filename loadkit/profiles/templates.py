"""Path templating: many concrete URLs collapse into a few endpoints, so the mix stays small and replayable.

Rules (docs/profiles.md): a whole path segment that is a number becomes ``{id}``, a UUID
``{uuid}``, a hex string of 8 or more characters with at least one digit ``{hash}`` (the digit
keeps hex-letter words such as ``/defaced`` or ``/acceded`` intact); query keys are kept, sorted
and de-duplicated, and every value becomes ``{key}``. A scheme and host in an absolute-form
target and a ``#fragment`` are dropped.
"""

from __future__ import annotations

import re

__all__ = ["template_path", "endpoint_of_request", "split_endpoint"]

_END = r"(?=[/;]|$|\.[A-Za-z])"  # a whole segment, or one before a file extension (/tickets/42.json)
_UUID = re.compile(r"(?<=/)[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}" + _END)
_ID = re.compile(r"(?<=/)\d+" + _END)
_HASH = re.compile(r"(?<=[/.-])(?=[a-fA-F]*\d)[0-9a-fA-F]{8,}(?=[/.;]|$)")  # also app.3f9a2c1b.js
_DIGIT = re.compile(r"\d")
_NAME = re.compile(r"\W")
_METHOD = re.compile(r"[A-Z][A-Z0-9_-]{0,19}")


def template_path(target: str) -> str:
    """``/tickets/42?q=refund&page=2`` -> ``/tickets/{id}?page={page}&q={q}``."""
    if not target.startswith("/"):
        if target.startswith(("http://", "https://")):
            slash = target.find("/", target.index("//") + 2)
            target = target[slash:] if slash >= 0 else "/"
        else:
            target = "/" + target
    if "#" in target:
        target = target.partition("#")[0]
    q = target.find("?")
    path = target if q < 0 else target[:q]
    if _DIGIT.search(path):  # literal replacements (no callback): several times faster
        if "-" in path:
            path = _UUID.sub("{uuid}", path)
        path = _ID.sub("{id}", path)
        if _DIGIT.search(path):
            path = _HASH.sub("{hash}", path)
    if q >= 0:
        keys = dict.fromkeys(k for k in (p.partition("=")[0] for p in target[q + 1:].split("&")) if k)
        if keys:
            path += "?" + "&".join(f"{k}={{{_NAME.sub('_', k)}}}" for k in sorted(keys))
    return path


def endpoint_of_request(request: str) -> tuple[str, str] | None:
    """``"GET /tickets/42 HTTP/1.1"`` -> ``("GET", "/tickets/{id}")``; ``None`` for ``"-"`` or a TLS probe."""
    parts = request.split(" ", 2)
    if len(parts) >= 2 and _METHOD.fullmatch(parts[0]) and parts[1].startswith(("/", "http://", "https://")):
        return parts[0], template_path(parts[1])
    return None


def split_endpoint(text: str) -> tuple[str, str] | None:
    """``"GET /tickets/42"`` or ``"/tickets/42"`` (method GET) from a CSV endpoint column, templated."""
    text = text.strip()
    if not text:
        return None
    method, sep, rest = text.partition(" ")
    if not sep:
        method, rest = "GET", text
    rest = rest.strip()
    if not _METHOD.fullmatch(method.upper()) or not rest.startswith(("/", "http://", "https://")):
        return None
    return method.upper(), template_path(rest)
