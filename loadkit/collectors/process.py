"""CPU, memory, threads and open files of a target process and its children, read with psutil.

CPU is the difference of cumulative CPU times between samples (user + system, with the
times of reaped children), so no sample is lost to psutil's first-call zero and a child
that comes and goes between samples still counts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path

import psutil

from ._common import SourceBase, SourceError
from .base import MetricSpec, Row

__all__ = ["ProcessCollector", "find_listeners"]


def find_listeners(port: int) -> list[int]:
    """Pids with a TCP socket LISTENing on ``port``; pre-fork servers share it, so only the topmost.

    ``psutil.net_connections`` is one call on Linux; where it is denied (macOS without root)
    each process is asked instead.
    """
    pids: set[int] = set()
    with contextlib.suppress(psutil.Error):
        pids = {c.pid for c in psutil.net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid}
    if not pids:
        for p in psutil.process_iter():
            try:
                conns = p.net_connections(kind="tcp") if hasattr(p, "net_connections") else p.connections(kind="tcp")
            except psutil.Error:
                continue
            if any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns):
                pids.add(p.pid)
    roots = []
    for pid in sorted(pids):
        try:
            if not any(a.pid in pids for a in psutil.Process(pid).parents()):
                roots.append(pid)
        except psutil.Error:
            continue
    return roots


class ProcessCollector(SourceBase):
    """``<name>.cpu`` (percent of one core), ``cpu_seconds`` (CPU used since start), ``rss_bytes``
    (sum over the tree; shared pages count once per process), ``threads``, ``open_files``
    (file descriptors, sockets included: what ``ulimit -n`` limits)."""

    def __init__(self, spec: MetricSpec, env: Mapping[str, str], clock: Callable[[], float]):
        super().__init__(spec, env, clock)
        self._roots: list[psutil.Process] = []
        self._base = 0.0
        self._last: tuple[float, float] | None = None  # (ts, cpu seconds since start)

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
        self._base = self._read()[0]
        self._last = (now, 0.0)
        return []

    def _sample(self, now: float) -> list[Row]:
        cpu, rss, threads, fds = self._read()
        t0, c0 = self._last or (now, 0.0)
        used = max(c0, cpu - self._base)  # a child gone but not yet reaped would look like time going back
        self._last = (now, used)
        rows = [self._row(now, "cpu", 100.0 * (used - c0) / (now - t0))] if now > t0 else []
        return rows + [self._row(now, "cpu_seconds", used), self._row(now, "rss_bytes", rss),
                       self._row(now, "threads", threads), self._row(now, "open_files", fds)]


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
