"""Where requests are made: the allow-list, the timeout and the in-flight register, for every user kind.

Locust's two HTTP clients (``HttpSession`` on requests, ``FastHttpSession`` on geventhttpclient) and
the socket layer under them are wrapped once per process; the wrappers do nothing until a run
activates a :class:`Guard`. Three levels, so no path around them exists:

* the session: every request gets a timeout (the request's own, its user's, else the scenario's),
  is registered as in flight until it returns, and, if the load stops while it waits, is recorded
  as a failure ``in flight at end of run`` with its age as latency. FastHttpSession's timeouts are
  kept by one watchdog greenlet over the in-flight register (within :data:`TICK_S`), not by a timer
  per request: a timer and its exception per request cost 4 % of a generator's CPU;
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

__all__ = ["Guard", "RequestTimeout", "install", "active", "TICK_S"]

TICK_S = 0.05  # how often the watchdog looks for requests past their timeout


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
        self._checked: dict[tuple[str, int | None], bool] = {}  # the list never changes during a run
        self._watchdog: Any = None
        self._shortest = float("inf")  # the shortest timeout given so far: how far the watchdog must look
        self._thrown: set[int] = set()

    # -- timeouts ------------------------------------------------------------------
    def begin(self, start: float, method: str, name: str, seconds: float) -> int:
        """Register a request that must end within ``seconds``; the watchdog throws its timeout otherwise."""
        if self._watchdog is None:
            self._watchdog = gevent.spawn(self._watch)
        if seconds < self._shortest:
            self._shortest = seconds
        return self.inflight.begin(start, method, name, start + seconds, gevent.getcurrent(), seconds)

    def stop_watching(self) -> None:
        if self._watchdog is not None:
            self._watchdog.kill(block=False)
            self._watchdog = None

    def _watch(self) -> None:
        loop = gevent.get_hub().loop
        active = self.inflight.active
        while True:
            gevent.sleep(TICK_S)
            now = time.time()
            horizon = now - self._shortest  # requests started after it cannot have expired yet
            for key, entry in active.items():  # in order of start; nothing switches greenlets in this loop
                if entry[0] > horizon:
                    break
                if entry[3] <= now and entry[4] is not None and key not in self._thrown:
                    self._thrown.add(key)
                    loop.run_callback(self._throw, key, entry[4], entry[5])
            if self._thrown:
                self._thrown.intersection_update(active)

    def _throw(self, key: int, greenlet: Any, seconds: float) -> None:
        if key in self.inflight.active and not greenlet.dead:  # it may have ended since it was seen late
            greenlet.throw(_timeout_error(seconds))

    def allows(self, host: str, port: int | None) -> bool:
        """The allow-list's answer for (host, port), worked out once per spelling: a request's hop pays a lookup."""
        key = (host, port)
        ok = self._checked.get(key)
        if ok is None:
            if len(self._checked) >= 4096:  # URLs with ever-new hosts cannot grow it without bound
                self._checked.clear()
            ok = self._checked[key] = self.allow.allows(host, port)
        return ok

    def timeout_for(self, session: Any, given: Any) -> float:
        if isinstance(given, (int, float)) and not isinstance(given, bool) and given > 0:
            return float(given)
        user = getattr(session, "user", None)
        for cls, t in self.user_timeouts.items():
            if isinstance(user, cls):
                return t
        return self.timeout

    def check_url(self, host: str, port: int | None) -> None:
        if not self.allows(host, port):
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
        guard.stop_watching()


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return True
    except OSError:
        return False


def _timeout_error(seconds: float) -> type[RequestTimeout]:
    """The exception a timeout of ``seconds`` throws, as a class: made only when a request times out."""
    cls = _TIMEOUTS.get(seconds)
    if cls is None:
        text = f"no answer within {seconds:g}s (timeout)"
        cls = _TIMEOUTS[seconds] = type("RequestTimeout", (RequestTimeout,), {
            "__init__": lambda self: RequestTimeout.__init__(self, text), "__module__": __name__})
    return cls


_TIMEOUTS: dict[float, type[RequestTimeout]] = {}


def _cut_off(session: Any, method: str, url: Any, kwargs: dict, name: str, start: float) -> None:
    """The load stopped while this request waited: a failure, never a silent drop."""
    event = getattr(session, "request_event", None)
    if event is not None:
        user = getattr(session, "user", None)
        context = {**(user.context() if user is not None else {}), **(kwargs.get("context") or {})}
        event.fire(request_type=str(method).upper(), name=name, response_time=(time.time() - start) * 1000.0,
                   response_length=0, response=None, exception=InFlightAtEnd(), start_time=start,
                   context=context, url=str(url))


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

    # Inline, not through a shared closure: every object a waiting request holds counts towards
    # the collector's young generation (see heap.py).
    def fast(self, method, url, *args, **kwargs):
        g = _ACTIVE
        if g is None:
            return fast_request(self, method, url, *args, **kwargs)
        seconds = g.timeout_for(self, kwargs.pop("timeout", None))
        name = kwargs.get("name") or getattr(self, "request_name", None) or str(url)
        start = time.time()
        key = g.begin(start, str(method).upper(), str(name), seconds)
        try:
            return fast_request(self, method, url, *args, **kwargs)
        except GreenletExit:
            _cut_off(self, method, url, kwargs, name, start)
            raise
        finally:
            g.inflight.end(key)

    def http(self, method, url, *args, **kwargs):
        g = _ACTIVE
        if g is None:
            return http_request(self, method, url, *args, **kwargs)
        kwargs["timeout"] = g.timeout_for(self, kwargs.get("timeout"))
        name = kwargs.get("name") or getattr(self, "request_name", None) or str(url)
        start = time.time()
        key = g.inflight.begin(start, str(method).upper(), str(name))
        try:
            return http_request(self, method, url, *args, **kwargs)
        except GreenletExit:
            _cut_off(self, method, url, kwargs, name, start)
            raise
        finally:
            g.inflight.end(key)

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
