"""HTTP GET for the scrape and prometheus sources: auth from environment variables, one-line errors.

Credentials come from variables *named* in the options (``token_env``, ``username_env`` +
``password_env``) or from ``user:pass@`` in the URL; the values are kept as secrets so
:func:`~loadkit.redact.redact` masks them in every reason.
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

from ..redact import redact
from ._common import SourceError, one_line

__all__ = ["HttpTarget", "http_target", "get"]


@dataclass(frozen=True)
class HttpTarget:
    url: str  # without credentials
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    timeout: float = 10.0


def http_target(options: Mapping[str, Any], env: Mapping[str, str], timeout: float = 10.0) -> HttpTarget:
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
    return HttpTarget(url, tuple(headers), tuple(secrets), float(options.get("timeout", timeout)))


def get(target: HttpTarget, url: str | None = None, accept: str = "*/*") -> tuple[bytes, str]:
    """Body and content type of a GET; an HTTP error, refusal or timeout raises :class:`SourceError`.

    An HTTP error's body is kept in the reason when it is a Prometheus API error
    (``{"status": "error", "error": ...}``): that is where PromQL syntax errors are explained.
    """
    url = url or target.url
    req = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "loadkit-collector",
                                               **dict(target.headers)})
    shown = redact(target.url, target.secrets)
    try:
        with urllib.request.urlopen(req, timeout=target.timeout) as resp:  # noqa: S310 - http(s) URLs only
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
