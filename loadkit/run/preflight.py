"""Before the load: is the target there, and what is its configuration (the environment fingerprint)."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import gevent

from ..fingerprint import Fingerprint, collect_fingerprint
from ..redact import strip_url
from ..scenario.model import Scenario

__all__ = ["probe_target", "read_environment"]


def probe_target(host: str, timeout: float, clock: Callable[[], float] = time.monotonic) -> str | None:
    """Why the target cannot be reached (TCP connect, retried until ``timeout``), or None."""
    parts = urlsplit(host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = clock() + timeout
    last = ""
    while True:
        try:
            with socket.create_connection((parts.hostname, port), timeout=min(2.0, timeout)):
                return None
        except OSError as exc:
            last = exc.strerror or str(exc)
        if clock() >= deadline:
            return f"target {strip_url(host)} unreachable: {last} (tried for {timeout:g}s)"
        gevent.sleep(0.25)


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (an allowed host, checked at load)
        return resp.read(1_000_000)


def read_environment(scenario: Scenario, pairs: Mapping[str, str], env: Mapping[str, str],
                     fetch: Callable[[str], bytes] = _fetch) -> Fingerprint:
    """The target's configuration now (files, URLs, variables, ``--env-var`` pairs), secrets masked."""
    base = Path(scenario.file).resolve().parent

    def read(name: str) -> bytes:  # as the scenario resolves files: beside it, else from here
        return (base / name if (base / name).is_file() else Path(name)).read_bytes()

    return collect_fingerprint(scenario.environment, pairs, env, read, fetch, base_url=scenario.target.host)
