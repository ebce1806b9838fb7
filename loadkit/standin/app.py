"""The stand-in's WSGI application: a small helpdesk API with knobs for latency, CPU and stalls.

Per-request work is kept small on purpose (no logging, a dict lookup to route), so that
what a load test measures is the knobs and the database, not the stand-in's overhead.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import gevent

from .config import StandinConfig
from .metrics import Metrics
from .store import Store

__all__ = ["VERSION", "StandinApp", "burn_cpu"]

VERSION = "1.0"
MAX_BODY = 64 * 1024
MAX_LIMIT = 1000
_CACHE_SIZE = 4096
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

_log = logging.getLogger(__name__)

Response = tuple[int, Any]  # status, JSON-ready body (or str for text/plain)
StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    500: "Internal Server Error",
}


class StandinApp:
    """WSGI callable; one instance per server process."""

    def __init__(self, config: StandinConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.metrics = Metrics()
        self.started = time.monotonic()
        self._faq_cache: dict[str, list[dict[str, Any]]] = {}
        self._routes: dict[str, dict[str, Callable[[dict[str, Any]], Response]]] = {
            "/health": {"GET": self._health},
            "/faq/search": {"GET": self._faq_search},
            "/tickets": {"GET": self._list_tickets, "POST": self._create_ticket},
            "/tickets/{id}": {"GET": self._get_ticket},
            "/config": {"GET": self._config},
            "/metrics": {"GET": self._metrics},
        }
        # Injected latency per template, resolved once rather than on every request.
        self._latency = {t: config.latency_for(t) / 1000 for t in (*self._routes, "other")}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        begun = time.perf_counter()
        method = environ["REQUEST_METHOD"]
        endpoint, handlers = self._route(environ.get("PATH_INFO", ""))
        self._misbehave(endpoint)
        handler = handlers.get(method) if handlers else None
        if handlers is None:
            status, body = 404, {"error": "not found"}
        elif handler is None:
            status, body = 405, {"error": f"method {method} not allowed"}
        else:
            try:
                status, body = handler(environ)
            except Exception:  # any bug becomes a 500; the server stays up
                _log.exception("standin: %s %s failed", method, endpoint)
                status, body = 500, {"error": "internal error"}
        if isinstance(body, str):
            payload, ctype = body.encode(), "text/plain; version=0.0.4; charset=utf-8"
        else:
            payload, ctype = json.dumps(body, separators=(",", ":")).encode(), "application/json"
        headers = [("Content-Type", ctype), ("Content-Length", str(len(payload)))]
        if status == 201:
            headers.append(("Location", f"/tickets/{body['id']}"))
        if status == 405 and handlers:
            headers.append(("Allow", ", ".join(handlers)))
        start_response(f"{status} {_REASONS[status]}", headers)
        label = method if method in _METHODS else "OTHER"
        self.metrics.observe(endpoint, label, status, time.perf_counter() - begun)
        return [payload]

    def _route(self, path: str) -> tuple[str, dict[str, Callable[[dict[str, Any]], Response]] | None]:
        handlers = self._routes.get(path)
        if handlers is not None:
            return path, handlers
        if path.startswith("/tickets/") and "/" not in path[9:] and path[9:]:
            return "/tickets/{id}", self._routes["/tickets/{id}"]
        return "other", None

    def _misbehave(self, endpoint: str) -> None:
        """Apply the knobs: stall window, injected latency (cooperative), CPU burn (not)."""
        if self.config.stall:
            t0, t1 = self.config.stall
            elapsed = time.monotonic() - self.started
            if t0 <= elapsed < t1:
                gevent.sleep(t1 - elapsed)
        delay = self._latency[endpoint]
        if delay:
            gevent.sleep(delay)
        if self.config.cpu_ms:
            burn_cpu(self.config.cpu_ms)

    # --- handlers -----------------------------------------------------------------------

    def _health(self, environ: dict[str, Any]) -> Response:
        return 200, {"status": "ok"}

    def _faq_search(self, environ: dict[str, Any]) -> Response:
        query = _query(environ).get("q", [""])[0].strip()
        if not self.config.cache:
            return 200, self.store.search_faq(query)
        key = query.lower()
        hit = self._faq_cache.get(key)
        if hit is not None:
            self.metrics.cache_hits += 1
            return 200, hit
        if len(self._faq_cache) >= _CACHE_SIZE:  # bounded: random queries must not grow memory
            self._faq_cache.clear()
        result = self._faq_cache[key] = self.store.search_faq(query)
        return 200, result

    def _create_ticket(self, environ: dict[str, Any]) -> Response:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 400, {"error": "bad Content-Length"}
        if length > MAX_BODY:
            return 413, {"error": f"body larger than {MAX_BODY} bytes"}
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            data = json.loads(raw)
        except ValueError:
            return 400, {"error": "body is not valid JSON"}
        if not isinstance(data, dict):
            return 400, {"error": "body must be a JSON object"}
        subject, body = data.get("subject"), data.get("body")
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 200:
            return 400, {"error": "subject must be a non-empty string of at most 200 characters"}
        if not isinstance(body, str) or len(body) > 10_000:
            return 400, {"error": "body must be a string of at most 10000 characters"}
        return 201, self.store.create_ticket(subject, body)

    def _get_ticket(self, environ: dict[str, Any]) -> Response:
        raw_id = environ["PATH_INFO"][len("/tickets/") :]
        if not raw_id.isdigit() or len(raw_id) > 18:
            return 404, {"error": "no such ticket"}
        ticket = self.store.get_ticket(int(raw_id))
        return (200, ticket) if ticket else (404, {"error": "no such ticket"})

    def _list_tickets(self, environ: dict[str, Any]) -> Response:
        raw = _query(environ).get("limit", ["20"])[0]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            return 400, {"error": f"limit must be an integer from 1 to {MAX_LIMIT}"}
        return 200, self.store.list_tickets(int(raw))

    def _config(self, environ: dict[str, Any]) -> Response:
        return 200, {**self.config.public(), "version": VERSION}

    def _metrics(self, environ: dict[str, Any]) -> Response:
        return 200, self.metrics.render(self.store.queries, self.store.transactions)


def _query(environ: dict[str, Any]) -> dict[str, list[str]]:
    return parse_qs(environ.get("QUERY_STRING", ""))


def burn_cpu(ms: float) -> None:
    """Spend ``ms`` of this process's CPU time (not wall time: preemption doesn't shorten it)."""
    end = time.process_time() + ms / 1000
    total = 0
    while time.process_time() < end:
        for i in range(200):
            total += i
