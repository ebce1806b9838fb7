"""Secrets never leave loadkit: the one place that decides what is secret and masks it.

Two rules, applied to everything loadkit writes or prints (results, baselines, reports, JUnit,
Markdown, the terminal, error messages):

* a value under a secret-looking key, at any depth (``password``, ``token``, ``auth.pass``…),
  is replaced by ``***`` and a short digest, so a change is still visible but the value is not;
* every known secret value (credentials read from environment variables, passwords inside DSNs,
  values interpolated from the environment into the scenario) is masked wherever it appears in a
  text, as written, URL-encoded or base64-encoded; URL credentials (``user:pass@``) and
  ``password=…`` pairs are masked whatever their value.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

__all__ = ["Redactor", "is_secret_key", "mask_value", "mask_tree", "strip_url", "redact", "MIN_SECRET_LEN",
           "redacted_logging"]

#: Shorter values cannot be searched for in text without masking ordinary words and numbers.
MIN_SECRET_LEN = 4
_WORDS = {"password", "passwd", "pass", "pwd", "passphrase", "secret", "secrets", "token", "tokens", "apikey",
          "credential", "credentials", "dsn", "auth", "authorization", "bearer", "cookie", "cookies", "privatekey",
          "sessionkey", "accesskey", "secretkey", "clientsecret", "signature", "jwt", "sig", "otp"}
_PAIRS = {("api", "key"), ("private", "key"), ("session", "key"), ("access", "key"), ("secret", "key"),
          ("client", "secret"), ("session", "id"), ("auth", "key")}
_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CRED = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*:/{1,2})(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@", re.I)
_KV = re.compile(r"(?P<key>\b[\w.-]*(?:password|passwd|pwd|passphrase|token|secret|api[_-]?key)[\w-]*)"
                 r"(?P<sep>\s*[=:]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s&;,'\"]+)", re.I)


def _segments(key: str) -> list[str]:
    return [s for s in _SPLIT.split(_CAMEL.sub("_", key).lower()) if s]


def is_secret_key(key: str) -> bool:
    """Does the last part of ``key`` (``db.password``, ``/config#auth.pass``, ``APP_PASS``) name a secret?"""
    for part in reversed(re.split(r"[#.\[\]/]", str(key))):
        if part.strip():
            last = part
            break
    else:
        return False
    segs = _segments(last)
    joined = "".join(segs)
    if joined in _WORDS or any(s in _WORDS for s in segs):
        return True
    if any(w in joined for w in ("password", "passwd", "secret", "token", "passphrase", "apikey", "privatekey")):
        return True
    return any(pair in _PAIRS for pair in zip(segs, segs[1:], strict=False))


_MASKED = re.compile(r"\*\*\*[0-9a-f]{8}")


def mask_value(value: Any) -> str:
    """``***`` plus 8 hex digits of the value's SHA-256: equal values stay equal, changes stay visible.

    A value already masked is returned as it is, so masking twice (a fingerprint written through the
    run's redactor, a reference read back) gives what masking once gives."""
    if isinstance(value, str) and _MASKED.fullmatch(value):
        return value
    return "***" + hashlib.sha256(str(value).encode("utf-8", "surrogatepass")).hexdigest()[:8]


def strip_url(url: str) -> str:
    """The URL without ``user:password@`` and without a query string or fragment (tokens hide there)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return redact(url)
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _forms(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    for raw in (secret.encode("utf-8", "surrogatepass"),):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            forms.add(enc(raw).decode("ascii").rstrip("="))
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with URL credentials, ``password=…`` pairs and the given secret values masked."""
    return Redactor(secrets).text(text)


class Redactor:
    """Masks known secret values (and their encodings) plus credential patterns in any text or data."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets = tuple(s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LEN)
        forms: set[str] = set()
        for s in self.secrets:
            forms |= _forms(s)
        self._forms = sorted(forms, key=len, reverse=True)  # longest first: a secret inside another
        self._pattern = re.compile("|".join(re.escape(f) for f in self._forms)) if self._forms else None
        self._cache: dict[str, str] = {}

    @classmethod
    def from_environment(cls, env: Mapping[str, str], extra: Iterable[str] = ()) -> Redactor:
        """Secrets: the values of secret-looking environment variables, plus ``extra``."""
        return cls([v for k, v in env.items() if is_secret_key(k)] + list(extra))

    def with_secrets(self, more: Iterable[str]) -> Redactor:
        return Redactor([*self.secrets, *more])

    def text(self, value: str) -> str:
        """``value`` with every secret masked (cached: names and error texts repeat)."""
        if not isinstance(value, str):
            value = str(value)
        hit = self._cache.get(value)
        if hit is not None:
            return hit
        out = _CRED.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@", value)
        out = _KV.sub(lambda m: f"{m.group('key')}{m.group('sep')}***", out)
        if self._pattern is not None:
            out = self._pattern.sub("***", out)
        if len(self._cache) < 100_000:
            self._cache[value] = out
        return out

    def data(self, value: Any) -> Any:
        """JSON-like data with secret-looking keys masked at any depth and every string redacted."""
        return mask_tree(value, self)


def mask_tree(value: Any, redactor: Redactor | None = None, _secret: bool = False) -> Any:
    """Mask every value under a secret-looking key (whole subtrees) and redact every other string."""
    r = redactor or _PLAIN
    if isinstance(value, Mapping):
        return {k: mask_tree(v, r, _secret or is_secret_key(str(k))) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_tree(v, r, _secret) for v in value]
    if _secret and value is not None:
        return mask_value(value)
    if isinstance(value, str):
        return r.text(value)
    return value


_PLAIN = Redactor()


class _Filter(logging.Filter):
    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.text(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:  # the traceback text, once, redacted
            record.exc_text = self.redactor.text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


@contextlib.contextmanager
def redacted_logging(redactor: Redactor) -> Iterator[None]:
    """Every log line written while the block runs (Locust's included) passes through ``redactor``."""
    f = _Filter(redactor)
    handlers = list(logging.getLogger().handlers)
    for h in handlers:
        h.addFilter(f)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(f)
