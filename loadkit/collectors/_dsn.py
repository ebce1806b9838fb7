"""Database connection strings shown without their passwords, whatever their syntax.

A DSN with a typo (``postgresql:/`` for ``postgresql://``) is what a parser cannot read, and a
driver's error then echoes it whole: the masking cannot rely on parsing it. So the password is
found by position, as liberally as a typo allows (everything between the first ``:`` of the
user part and the last ``@``, every ``password=`` value), masked in what is shown, and every
candidate plus the DSN itself are secrets for :func:`loadkit.redact.redact`, which masks them in
any driver message, URL-encoded forms included.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from ..redact import redact

__all__ = ["dsn_secrets", "mask_dsn"]

_KV_PASSWORD = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\S+)")
_SCHEME = re.compile(r"[A-Za-z][\w+.-]*(?::/+|/{2})")  # postgresql://, postgresql:/, postgresql//
_BARE_SCHEME = re.compile(r"[A-Za-z][\w+.-]*:")  # postgresql:user:pw@… (no slashes) or user:pw@…


def _password_span(dsn: str) -> tuple[int, int] | None:
    """Where the password of a URL-like DSN is, typo or not: (start, end) in ``dsn``, or None."""
    head, at, _ = dsn.rpartition("@")
    if not at:
        return None
    m = _SCHEME.match(head)
    start = m.end() if m else 0
    colon = head.find(":", start)
    if m is None and (bare := _BARE_SCHEME.match(head)) and ":" not in head[bare.end():]:
        colon = bare.end() - 1  # "user:pw@host": that colon is the user's, not a scheme's
    if colon < 0:
        return None
    return colon + 1, len(head)


def dsn_secrets(dsn: str) -> tuple[str, ...]:
    """Every text in ``dsn`` that may be its password (and the DSN itself), to mask in any message."""
    found = {dsn}
    span = _password_span(dsn)
    if span:
        pw = dsn[span[0]:span[1]]
        parts = pw.split(":")
        for i in range(len(parts)):  # "user:pw" when a typo hides which colon is the user's
            found |= {":".join(parts[i:]), unquote(":".join(parts[i:]))}
    for m in _KV_PASSWORD.finditer(dsn):
        found.add(m.group(2).strip("'\""))
    try:
        from psycopg.conninfo import conninfo_to_dict

        parsed = conninfo_to_dict(dsn).get("password")
        if parsed:
            found.add(str(parsed))
    except Exception:  # noqa: BLE001 - a DSN libpq cannot parse: the candidates above stand
        pass
    return tuple(s for s in found if s)


def mask_dsn(dsn: str) -> str:
    """``dsn`` as it may be shown: its password (by position, whatever the syntax) replaced by ``***``."""
    span = _password_span(dsn)
    shown = dsn[: span[0]] + "***" + dsn[span[1]:] if span and span[1] > span[0] else dsn
    shown = _KV_PASSWORD.sub(lambda m: m.group(1) + "***", shown)
    return redact(shown, [s for s in dsn_secrets(dsn) if s != dsn])
