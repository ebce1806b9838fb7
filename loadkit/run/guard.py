"""Where requests are made: the allow-list, the timeout and the in-flight register, for every user kind.

Locust's two HTTP clients (``HttpSession`` on requests, ``FastHttpSession`` on geventhttpclient) and
the socket layer under them are wrapped once per process; the wrappers do nothing until a run
activates a :class:`Guard`. Three levels, so no path around them exists:

* the session: every request gets a timeout (the request's own, its user's, else the scenario's),
  is registered as in flight until it returns, and, if the load stops while it waits, is recorded
  as a failure ``in flight at end of run`` with its age as latency;
* each HTTP hop (redirects included): a URL whose host is not in ``allowed_hosts`` is refused
  before anything is sent, and recorded as a failure with the reason;
* each TCP connection: the address really connected to must be one the allow-list resolved to,
  so a name that resolves elsewhere (or a custom, non-HTTP client) cannot reach another host.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import gevent
from gevent import GreenletExit

from ..hosts import AllowList, HostNotAllowed, canonical_host
from .capture import InFlight, InFlightAtEnd

__all__ = ["Guard", "RequestTimeout", "install", "active"]


class RequestTimeout(socket.timeout):
    """No answer within the request's timeout (an ``OSError``, so both HTTP clients record it as a failure)."""


class Guard:
    """The rules of one run: allowed hosts, timeouts, and the requests now in flight."""

    def __init__(self, allow: AllowList, timeout: float, user_timeouts: dict[type, float] | None = None):
        self.allow = allow.resolve()
        self.timeout = timeout
        self.user_timeouts = dict(user_timeouts or {})
        self.inflight = InFlight()
        self.refused: Counter[str] = Counter()
        self.stopping = False

    def timeout_for(self, session: Any, given: Any) -> float:
        if isinstance(given, (int, float)) and not isinstance(given, bool) and given > 0:
            return float(given)
        user = getattr(session, "user", None)
        for cls, t in self.user_timeouts.items():
            if isinstance(user, cls):
                return t
        return self.timeout

    def check_url(self, host: str, port: int | None) -> None:
        if not self.allow.allows(host, port):
            self.refused[canonical_host(host)] += 1
            raise HostNotAllowed(canonical_host(host), self.allow.entries)

    def check_address(self, address: Any) -> None:
        if not isinstance(address, tuple) or not address or not isinstance(address[0], str):
            return  # AF_UNIX paths and the like: not a network host
        host = address[0]
        try:
            infos = socket.getaddrinfo(host, None) if not _is_ip(host) else [(0, 0, 0, "", (host,))]
        except OSError:
            return  # the connect itself will fail and say why
        for info in infos:
            if not self.allow.allows_address(str(info[4][0])):
                self.refused[canonical_host(host)] += 1
                raise HostNotAllowed(canonical_host(host), self.allow.entries)


_ACTIVE: Guard | None = None
_INSTALLED = False


def active() -> Guard | None:
    return _ACTIVE


@contextlib.contextmanager
def activated(guard: Guard) -> Iterator[Guard]:
    """Make ``guard`` the rules of this process for the duration of a run."""
    global _ACTIVE
    install()
    previous, _ACTIVE = _ACTIVE, guard
    try:
        yield guard
    finally:
        _ACTIVE = previous


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return True
    except OSError:
        return False


def _tracked(session: Any, method: str, url: Any, kwargs: dict, send: Any, guard: Guard) -> Any:
    name = kwargs.get("name") or getattr(session, "request_name", None) or str(url)
    start = time.time()
    key = guard.inflight.begin(start, str(method).upper(), str(name))
    try:
        return send()
    except GreenletExit:  # the load stopped while this request waited: a failure, never a silent drop
        event = getattr(session, "request_event", None)
        if event is not None:
            user = getattr(session, "user", None)
            context = {**(user.context() if user is not None else {}), **(kwargs.get("context") or {})}
            event.fire(request_type=str(method).upper(), name=name, response_time=(time.time() - start) * 1000.0,
                       response_length=0, response=None, exception=InFlightAtEnd(), start_time=start,
                       context=context, url=str(url))
        raise
    finally:
        guard.inflight.end(key)


def install() -> None:
    """Wrap the HTTP clients and the socket layer of this process (once; inert while no guard is active)."""
    global _INSTALLED
    if _INSTALLED:
        return
    import requests.adapters
    from gevent import socket as gsocket
    from locust.clients import HttpSession
    from locust.contrib.fasthttp import FastHttpSession, LocustUserAgent

    fast_request, http_request = FastHttpSession.request, HttpSession.request

    def fast(self, method, url, *args, **kwargs):
        g = _ACTIVE
        if g is None:
            return fast_request(self, method, url, *args, **kwargs)
        seconds = g.timeout_for(self, kwargs.pop("timeout", None))

        def send():
            with gevent.Timeout(seconds, RequestTimeout(f"no answer within {seconds:g}s (timeout)")):
                return fast_request(self, method, url, *args, **kwargs)

        return _tracked(self, method, url, kwargs, send, g)

    def http(self, method, url, *args, **kwargs):
        g = _ACTIVE
        if g is None:
            return http_request(self, method, url, *args, **kwargs)
        kwargs["timeout"] = g.timeout_for(self, kwargs.get("timeout"))
        return _tracked(self, method, url, kwargs, lambda: http_request(self, method, url, *args, **kwargs), g)

    urlopen_hop = LocustUserAgent._urlopen

    def hop(self, request):  # every request and every redirect it follows
        g = _ACTIVE
        if g is not None:
            u = request.url_split
            g.check_url(u.host, u.port)
        return urlopen_hop(self, request)

    adapter_send = requests.adapters.HTTPAdapter.send

    def adapter(self, request, *args, **kwargs):
        g = _ACTIVE
        if g is not None:
            from urllib.parse import urlsplit

            import requests.exceptions

            parts = urlsplit(request.url)
            try:
                g.check_url(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
            except HostNotAllowed as exc:
                raise requests.exceptions.ConnectionError(exc, request=request) from None
        return adapter_send(self, request, *args, **kwargs)

    connect, connect_ex = gsocket.socket.connect, gsocket.socket.connect_ex

    def guarded_connect(self, address):
        g = _ACTIVE
        if g is not None:
            g.check_address(address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        g = _ACTIVE
        if g is not None:
            g.check_address(address)
        return connect_ex(self, address)

    FastHttpSession.request = fast
    HttpSession.request = http
    LocustUserAgent._urlopen = hop
    requests.adapters.HTTPAdapter.send = adapter
    gsocket.socket.connect = guarded_connect
    gsocket.socket.connect_ex = guarded_connect_ex
    _INSTALLED = True
