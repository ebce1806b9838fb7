"""The machine loadkit runs on, read with psutil, in the same fields as a process.

``<name>.cpu`` is the percent of ONE core (up to 100 × number of cores), like a process's,
so that ``host.cpu`` and ``target.cpu`` can be compared directly; ``rss_bytes`` is memory in
use (total − available: psutil's "available" counts reclaimable cache as free).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import psutil

from ._common import SourceBase
from .base import MetricSpec, Row

__all__ = ["HostCollector"]


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    # psutil's own cpu_percent: busy = total - idle - iowait; guest time is already in user/nice on Linux.
    return sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)


def _threads_and_files() -> tuple[int, int]:
    """Kernel-wide counts from /proc on Linux (one read, no process walk); a process walk elsewhere."""
    try:
        threads = int(Path("/proc/loadavg").read_text().split()[3].split("/")[1])
        files = int(Path("/proc/sys/fs/file-nr").read_text().split()[0])
        return threads, files
    except (OSError, ValueError, IndexError):
        threads = files = 0
        for p in psutil.process_iter():
            try:
                threads += p.num_threads()
                files += p.num_fds() if hasattr(p, "num_fds") else p.num_handles()
            except psutil.Error:
                continue
        return threads, files


class HostCollector(SourceBase):
    """``<name>.cpu``, ``cpu_seconds`` (busy CPU since start, all cores), ``rss_bytes`` (used memory),
    ``threads`` and ``open_files`` of the whole machine."""

    def __init__(self, spec: MetricSpec, env: Mapping[str, str], clock: Callable[[], float]):
        super().__init__(spec, env, clock)
        self._base = 0.0
        self._used = 0.0

    def _start(self, now: float) -> list[Row]:
        self._base, self._used = _busy_seconds(), 0.0
        self._rate(now, "cpu", 0.0)
        return self._fields(now)

    def _sample(self, now: float) -> list[Row]:
        self._used = max(self._used, _busy_seconds() - self._base)
        rate = self._rate(now, "cpu", self._used)
        return ([self._row(now, "cpu", 100.0 * rate)] if rate is not None else []) + self._fields(now)

    def _fields(self, now: float) -> list[Row]:
        vm = psutil.virtual_memory()
        threads, files = _threads_and_files()
        return [self._row(now, "cpu_seconds", self._used), self._row(now, "rss_bytes", vm.total - vm.available),
                self._row(now, "threads", threads), self._row(now, "open_files", files)]
