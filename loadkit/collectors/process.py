"""CPU, memory, threads and open files of a target process and its children, read with psutil.

CPU is the difference of cumulative CPU times between samples (user + system, with the
times of reaped children), so no sample is lost to psutil's first-call zero and a child
that comes and goes between samples still counts. ``cpu_seconds`` starts at 0 with a row at
start, so its value at any instant of the run can be interpolated.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import psutil

from ._common import SourceBase, SourceError
from .base import MetricSpec, Row

__all__ = ["ProcessCollector", "find_listeners"]


def find_listeners(port: int) -> list[int]:
    """The processes to measure for the server LISTENing on TCP ``port``: the roots of its process tree.

    A pre-fork server (gunicorn, uwsgi, uvicorn --workers) has its master and every worker hold
    the same listening socket, and ``psutil.net_connections`` names only one of them (a worker,
    so half the CPU of two workers would go unseen). So every holder is found, from the socket's
    inode in ``/proc`` on Linux (each process asked elsewhere), and the roots are: the one
    topmost holder, whose children are its workers; or, when the holders are siblings (workers
    with SO_REUSEPORT under a supervisor that does not listen), their common parent, unless that
    parent is init or an ancestor of loadkit itself, whose other children are not the server.
    """
    holders = _holders_linux(port)
    if holders is None:
        holders = _holders_psutil(port)
    tops = []
    for pid in sorted(holders):
        try:
            if not any(a.pid in holders for a in psutil.Process(pid).parents()):
                tops.append(pid)
        except psutil.Error:
            continue
    if len(tops) > 1:
        parent = _common_parent(tops)
        if parent is not None:
            return [parent]
    return tops


def _listen_inodes(port: int) -> set[str] | None:
    """Inodes of the sockets LISTENing on ``port`` (IPv4 and IPv6), or None without /proc/net."""
    inodes: set[str] = set()
    found = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found = True
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # 0A: TCP_LISTEN
                inodes.add(f[9])
    return inodes if found else None


def _holders_linux(port: int) -> set[int] | None:
    """Every pid with a file descriptor on a socket LISTENing on ``port`` (that we may read), or None off Linux."""
    inodes = _listen_inodes(port)
    if inodes is None:
        return None
    links = {f"socket:[{i}]" for i in inodes}
    pids: set[int] = set()
    if not links:
        return pids
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) in links:
                        pids.add(int(entry.name))
                        break
        except OSError:  # gone, or another user's
            continue
    return pids


def _holders_psutil(port: int) -> set[int]:
    """Every process that reports a TCP socket LISTENing on ``port`` (asked one by one: slower, portable)."""
    pids: set[int] = set()
    for p in psutil.process_iter():
        try:
            conns = p.net_connections(kind="tcp") if hasattr(p, "net_connections") else p.connections(kind="tcp")
        except psutil.Error:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns):
            pids.add(p.pid)
    return pids


def _common_parent(pids: list[int]) -> int | None:
    """The one parent of all ``pids``, when it is the server's supervisor (not init, not loadkit's own ancestry)."""
    try:
        parents = {psutil.Process(pid).ppid() for pid in pids}
        ours = {os.getpid()} | {a.pid for a in psutil.Process().parents()}
    except psutil.Error:
        return None
    if len(parents) != 1:
        return None
    parent = parents.pop()
    return None if parent <= 1 or parent in ours else parent


class ProcessCollector(SourceBase):
    """``<name>.cpu`` (percent of one core), ``cpu_seconds`` (CPU used since start), ``rss_bytes``
    (sum over the tree; shared pages count once per process), ``threads``, ``open_files``
    (file descriptors, sockets included: what ``ulimit -n`` limits)."""

    def __init__(self, spec: MetricSpec, env: Mapping[str, str], clock: Callable[[], float]):
        super().__init__(spec, env, clock)
        self._roots: list[psutil.Process] = []
        self._base = 0.0
        self._used = 0.0  # CPU seconds since start

    def _resolve(self) -> list[psutil.Process]:
        o = self.spec.options
        if "port" in o:
            pids = find_listeners(int(o["port"]))
            if not pids:
                raise SourceError(f"no process is listening on TCP port {o['port']} (or it belongs to another user)",
                                  permanent=True)
            what = f"port {o['port']}"
        elif "pid_file" in o:
            try:
                pids = [int(Path(o["pid_file"]).read_text().split()[0])]
            except (OSError, ValueError, IndexError) as exc:
                raise SourceError(f"pid_file {o['pid_file']}: cannot read a pid ({type(exc).__name__})",
                                  permanent=True) from None
            what = f"pid {pids[0]} from {o['pid_file']}"
        else:
            pids, what = [int(o["pid"])], f"pid {o['pid']}"
        try:
            return [psutil.Process(p) for p in pids]
        except psutil.NoSuchProcess:
            raise SourceError(f"process {what} does not exist", permanent=True) from None

    def _tree(self) -> list[psutil.Process]:
        alive = [r for r in self._roots if _alive(r)]
        if not alive:
            pids = ", ".join(str(r.pid) for r in self._roots)
            raise SourceError(f"process {pids} exited", permanent=True)
        seen: dict[int, psutil.Process] = {}
        for root in alive:
            seen[root.pid] = root
            try:
                for child in root.children(recursive=True):
                    seen.setdefault(child.pid, child)
            except psutil.Error:
                pass
        return list(seen.values())

    def _read(self) -> tuple[float, float, int, int]:
        cpu, rss, threads, fds = 0.0, 0.0, 0, 0
        for p in self._tree():
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    cpu += t.user + t.system + t.children_user + t.children_system
                    rss += p.memory_info().rss
                    threads += p.num_threads()
                    fds += p.num_fds() if hasattr(p, "num_fds") else p.num_handles()
            except psutil.AccessDenied:
                if p in self._roots:
                    raise SourceError(f"process {p.pid}: access denied (run loadkit as its user)",
                                      permanent=True) from None
            except psutil.NoSuchProcess:
                continue  # a child that just exited; its time moves into its parent's children_*
        return cpu, rss, threads, fds

    def _start(self, now: float) -> list[Row]:
        self._roots = self._resolve()
        cpu, rss, threads, fds = self._read()
        self._base, self._used = cpu, 0.0
        self._rate(now, "cpu", 0.0)  # the baseline of the first rate
        return self._fields(now, rss, threads, fds)

    def _sample(self, now: float) -> list[Row]:
        cpu, rss, threads, fds = self._read()
        self._used = max(self._used, cpu - self._base)  # a child gone but not yet reaped would look like time going back
        rate = self._rate(now, "cpu", self._used)
        return ([self._row(now, "cpu", 100.0 * rate)] if rate is not None else []) + self._fields(now, rss, threads, fds)

    def _fields(self, now: float, rss: float, threads: int, fds: int) -> list[Row]:
        return [self._row(now, "cpu_seconds", self._used), self._row(now, "rss_bytes", rss),
                self._row(now, "threads", threads), self._row(now, "open_files", fds)]


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
