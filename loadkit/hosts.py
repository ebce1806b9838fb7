"""The allow-list: which hosts may receive a request, compared after normalisation.

Host spellings are normalised before they are compared: case, a trailing dot, IPv6 brackets,
the BSD forms of IPv4 (``127.1``, ``0x7f000001``, ``2130706433``, octal parts) and IPv4-mapped
IPv6 (``::ffff:127.0.0.1``) all become one canonical name. A name in the list is resolved once
(:meth:`AllowList.resolve`), and the addresses a connection really goes to are checked against
the addresses of the list, so a name that resolves elsewhere later cannot reach another host.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["LOOPBACK", "AllowList", "HostNotAllowed", "canonical_host", "url_host_problem"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class HostNotAllowed(ConnectionRefusedError):
    """Raised where a request would leave for a host outside ``allowed_hosts``; nothing was sent."""

    MARK = "not in target.allowed_hosts"

    def __init__(self, host: str, allowed: Iterable[str]):
        self.host = host
        super().__init__(f"refused: host {host!r} is {self.MARK} ({', '.join(allowed)}); nothing was sent")


def canonical_host(host: str) -> str:
    """One spelling per host: lower case, no trailing dot or brackets, IPv4 in dotted decimal."""
    h = host.strip().lower().rstrip(".")
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if "%" in h:  # IPv6 zone id
        h = h.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        try:
            return socket.inet_ntoa(socket.inet_aton(h))  # 127.1, 0x7f000001, 2130706433, 0177.0.0.1
        except OSError:
            return h
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def url_host_problem(url: str) -> str | None:
    """Why ``url`` is not an http(s) URL with a usable host and port, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"expected an http(s) URL such as http://127.0.0.1:8000, got {url!r} ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"expected an http(s) URL such as http://127.0.0.1:8000, got {url!r}"
    if "\\" in parts.netloc or any(c.isspace() for c in parts.netloc):
        return f"expected an http(s) URL without spaces or backslashes in its host, got {url!r}"
    if port == 0:
        return f"expected a port from 1 to 65535, got {url!r}"
    return None


@dataclass(frozen=True)
class AllowList:
    """Entries are host names or addresses, optionally ``host:port``; an entry without a port allows every port."""

    entries: tuple[str, ...] = LOOPBACK
    addresses: frozenset[str] = field(default=frozenset(), compare=False)  # filled by resolve()

    @classmethod
    def of(cls, entries: Iterable[str]) -> AllowList:
        return cls(tuple(entries))

    def _pairs(self) -> list[tuple[str, int | None]]:
        out = []
        for e in self.entries:
            host, port = e, None
            if e.count(":") == 1 or (e.startswith("[") and "]:" in e):
                h, _, p = e.rpartition(":")
                if p.isdigit():
                    host, port = h, int(p)
            out.append((canonical_host(host), port))
        return out

    def allows(self, host: str, port: int | None = None) -> bool:
        """Is ``host`` (as written in a URL) in the list, for ``port``?"""
        h = canonical_host(host)
        return any(h == eh and (ep is None or ep == port) for eh, ep in self._pairs())

    def url_problem(self, url: str) -> str | None:
        """Why a request to ``url`` is refused (not http(s), or its host not listed), or None."""
        bad = url_host_problem(url)
        if bad:
            return bad
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if self.allows(parts.hostname or "", port):
            return None
        return (f"host {canonical_host(parts.hostname or '')!r} is not in target.allowed_hosts "
                f"({', '.join(self.entries)}); add it there if this target is meant to take load")

    def resolve(self, resolver=socket.getaddrinfo) -> AllowList:
        """A copy that also knows the addresses of every listed name (resolved once, now)."""
        addrs: set[str] = set()
        for host, _ in self._pairs():
            if _is_ip(host):
                addrs.add(host)
                continue
            try:
                for info in resolver(host, None):
                    addrs.add(canonical_host(str(info[4][0])))
            except (OSError, UnicodeError):
                continue
        return AllowList(self.entries, frozenset(addrs))

    def allows_address(self, address: str) -> bool:
        """May a socket connect to ``address`` (an IP)? Only addresses listed or resolved from the list."""
        return canonical_host(address) in self.addresses
