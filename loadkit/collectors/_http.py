"""HTTP GET for the scrape and prometheus sources: auth from environment variables, one-line errors.

Credentials come from variables *named* in the options (``token_env``, ``username_env`` +
``password_env``) or from ``user:pass@`` in the URL; the values are kept as secrets so
:func:`~loadkit.redact.redact` masks them in every reason. Only http(s) URLs on the run's
``target.allowed_hosts`` are fetched: a redirect elsewhere is refused (nothing is sent there)
and fails the source; a redirect to another host:port of the list drops the credentials.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..hosts import AllowList, url_host_problem
from ..redact import redact, strip_url
from ._common import SourceError, one_line

__all__ = ["HttpTarget", "http_target", "get"]


@dataclass(frozen=True)
class HttpTarget:
    url: str  # without credentials
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    timeout: float = 10.0
    allowed: AllowList | None = None  # None: any http(s) host (the scheme is checked all the same)


def http_target(options: Mapping[str, Any], env: Mapping[str, str], timeout: float = 10.0,
                allowed: AllowList | None = None) -> HttpTarget:
    """The URL and auth headers of a source; :class:`SourceError` (permanent) when a named variable is unset."""
    parts = urlsplit(str(options["url"]))
    user, password = parts.username, parts.password
    url = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))
    secrets = [password] if password else []

    def var(key: str) -> str:
        name = str(options[key])
        value = env.get(name, "")
        if not value:
            raise SourceError(f"environment variable {name} (from {key}) is not set", permanent=True)
        secrets.append(value)
        return value

    headers: list[tuple[str, str]] = []
    if options.get("token_env"):
        headers.append(("Authorization", f"Bearer {var('token_env')}"))
    elif options.get("username_env") or options.get("password_env") or user:
        u = var("username_env") if options.get("username_env") else (user or "")
        p = var("password_env") if options.get("password_env") else (password or "")
        token = base64.b64encode(f"{u}:{p}".encode()).decode()
        secrets.append(token)
        headers.append(("Authorization", f"Basic {token}"))
    problem = allowed.url_problem(url) if allowed is not None else url_host_problem(url)
    if problem:
        raise SourceError(redact(f"{strip_url(url)}: refused: {problem}", secrets), permanent=True)
    return HttpTarget(url, tuple(headers), tuple(secrets), float(options.get("timeout", timeout)), allowed)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to an allowed http(s) URL, without credentials when the host:port changes."""

    def __init__(self, target: HttpTarget):
        self.target = target

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        allowed = self.target.allowed
        problem = allowed.url_problem(newurl) if allowed is not None else url_host_problem(newurl)
        if problem:
            raise SourceError(redact(f"{strip_url(req.full_url)}: refused a redirect to {strip_url(newurl)}: {problem}",
                                     self.target.secrets), permanent=True)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            new.remove_header("Authorization")
        return new


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    return p.scheme, (p.hostname or "").lower(), p.port


def get(target: HttpTarget, url: str | None = None, accept: str = "*/*") -> tuple[bytes, str]:
    """Body and content type of a GET; an HTTP error, refusal or timeout raises :class:`SourceError`.

    An HTTP error's body is kept in the reason when it is a Prometheus API error
    (``{"status": "error", "error": ...}``): that is where PromQL syntax errors are explained.
    """
    url = url or target.url
    req = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "loadkit-collector",
                                               **dict(target.headers)})
    shown = redact(target.url, target.secrets)
    opener = urllib.request.build_opener(_Redirects(target))
    try:
        with opener.open(req, timeout=target.timeout) as resp:  # http(s) on allowed hosts only, redirects too
            return resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        detail = api_error(exc.read()) or exc.reason
        raise SourceError(redact(f"{shown}: HTTP {exc.code}: {detail}", target.secrets)) from None
    except urllib.error.URLError as exc:
        reason = exc.reason if isinstance(exc.reason, str) else (getattr(exc.reason, "strerror", None) or exc.reason)
        raise SourceError(redact(f"cannot reach {shown}: {reason}", target.secrets)) from None
    except (OSError, ValueError) as exc:
        raise SourceError(redact(f"cannot reach {shown}: {one_line(exc)}", target.secrets)) from None


def api_error(body: bytes) -> str | None:
    """``errorType: error`` of a Prometheus API error body, or None."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if isinstance(doc, dict) and doc.get("status") == "error":
        return f"{doc.get('errorType', 'error')}: {doc.get('error', '')}".strip()
    return None
