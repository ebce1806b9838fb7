"""The load generator watching itself: its CPU, its event loop's lag, CPU steal and the machine's load.

A measurement is only as good as its instrument. A generator short of CPU (or a neighbour taking
the cores) starts requests late and times them late; latencies and rates then describe the
machine, not the target. Every second this records, for the generator process: its CPU (percent
of one core, threads included), the worst lag of a 10 ms timer on its event loop, the CPU the
hypervisor stole and the whole machine's busy share (from ``/proc/stat``), the users running, the
requests in flight, and the CPU used by **others**: the machine's busy share less what loadkit's own
processes (this one, its local workers) and the target (``--target-pid``, a ``process`` metric's
``pid``) used. A neighbour shows there, whatever the load loadkit itself puts on the machine; the
machine's busy share alone cannot tell a neighbour from a busy target on the same host. And the
**wait**: the time the event loop's thread was ready to run but had no CPU (Linux ``schedstat``), the
direct sign of a generator starved by whatever shares its core, even when its own CPU use looks
modest. The verdict and the capacity fit read these rows (``health.parquet``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import gevent

__all__ = ["HealthMonitor", "Ours", "host_times", "write_health", "disturbed_seconds"]

_TICK_S = 0.01


def host_times() -> tuple[float, float, float] | None:
    """(busy, steal, total) jiffies of all cores from ``/proc/stat``; None where there is none."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            parts = fh.readline().split()
    except OSError:
        return None
    if not parts or parts[0] != "cpu":
        return None
    v = [float(x) for x in parts[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0.0)
    steal = v[7] if len(v) > 7 else 0.0
    total = sum(v[:8]) if len(v) >= 8 else sum(v)
    return total - idle - steal, steal, total


class Ours:
    """CPU seconds used so far by loadkit's processes and the target: ``root`` (this process, or a worker's
    master), the children of ``root`` that are loadkit workers (started with ``--parent-pid``), and
    ``targets``. Processes that are gone count no more; their last second shows as others' (at most)."""

    def __init__(self, root: int, targets: Sequence[int] = ()):
        self.root, self.targets = root, tuple(int(p) for p in targets if p)
        self._workers: tuple[int, ...] = ()
        self._looked = -1e9

    def pids(self) -> tuple[int, ...]:
        import psutil

        now = time.monotonic()
        if now - self._looked > 5.0:  # workers start once; look for them now and then, not every second
            self._looked = now
            try:
                kids = psutil.Process(self.root).children()
                self._workers = tuple(k.pid for k in kids if _is_worker(k))
            except psutil.Error:
                self._workers = ()
        return (self.root, *self._workers, *self.targets)

    def cpu_seconds(self) -> float:
        import psutil

        total = 0.0
        for pid in dict.fromkeys(self.pids()):
            try:
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system
            except psutil.Error:
                continue
        return total


def _is_worker(proc: Any) -> bool:
    import psutil

    try:
        return "--parent-pid" in proc.cmdline()
    except psutil.Error:
        return False


class HealthMonitor:
    """A greenlet sampling the generator's health; ``rows`` holds one tuple per second.

    Row: (ts, worker, cpu %, lag ms, steal %, host cpu %, users, inflight, others' cpu %, wait %).
    """

    def __init__(self, worker: str, users: Callable[[], int], inflight: Callable[[], int],
                 on_row: Callable[[tuple], None] | None = None, clock: Callable[[], float] = time.time,
                 ours: Ours | None = None):
        self.worker, self.users, self.inflight, self.on_row, self.clock = worker, users, inflight, on_row, clock
        self.ours = ours or Ours(os.getpid())
        self.rows: list[tuple] = []
        self._greenlet: Any = None

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._loop)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
            self._greenlet = None

    def _ours(self) -> float:
        """Read in a native thread: psutil's reads of /proc must not hold up the event loop being measured."""
        try:
            return float(gevent.get_hub().threadpool.apply(self.ours.cpu_seconds))
        except Exception:  # noqa: BLE001 - unknown: others' share is then not measured
            return float("nan")

    def _loop(self) -> None:
        cpu0, host0, t0, ours0, wait0 = _cpu(), host_times(), time.perf_counter(), self._ours(), run_delay()
        ncpu = os.cpu_count() or 1
        lag = 0.0
        next_second = t0 + 1.0
        while True:
            before = time.perf_counter()
            gevent.sleep(_TICK_S)
            now = time.perf_counter()
            lag = max(lag, (now - before - _TICK_S) * 1000.0)
            if now < next_second:
                continue
            cpu1, host1, ours1, wait1 = _cpu(), host_times(), self._ours(), run_delay()
            wall = now - t0
            cpu = 100.0 * (cpu1 - cpu0) / wall if wall > 0 else 0.0
            wait = 100.0 * (wait1 - wait0) / wall if wall > 0 else float("nan")
            steal = busy = others = float("nan")
            if host0 is not None and host1 is not None and host1[2] > host0[2]:
                span = host1[2] - host0[2]
                busy, steal = 100.0 * (host1[0] - host0[0]) / span, 100.0 * (host1[1] - host0[1]) / span
                if wall > 0 and ours1 == ours1 and ours0 == ours0:
                    others = max(0.0, busy - 100.0 * (ours1 - ours0) / (wall * ncpu))
            row = (self.clock(), self.worker, cpu, lag, steal, busy, int(self.users()), int(self.inflight()), others,
                   wait)
            self.rows.append(row)
            if self.on_row is not None:
                self.on_row(row)
            cpu0, host0, t0, ours0, wait0, lag = cpu1, host1, now, ours1, wait1, 0.0
            next_second = now + 1.0


def run_delay() -> float:
    """Seconds this thread has spent ready to run but waiting for a CPU (NaN where the kernel does not say)."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return float("nan")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def write_health(path, rows: list[tuple]) -> None:
    """The rows as ``health.parquet`` (:data:`loadkit.runfolder.HEALTH_SCHEMA`).

    Columns are built from numpy buffers: ``pa.table`` of Python lists imports pandas (0.15 s after every run).
    """
    import numpy as np
    import pyarrow as pa

    from ..runfolder import HEALTH_SCHEMA, write_table
    from .capture import arrow_numbers, arrow_strings

    width = len(HEALTH_SCHEMA)
    full = [tuple(r) + (float("nan"),) * (width - len(r)) for r in rows]  # a row from before a column existed
    cols = list(zip(*full, strict=True)) if full else [() for _ in HEALTH_SCHEMA.names]
    arrays = []
    for field, col in zip(HEALTH_SCHEMA, cols, strict=True):
        if pa.types.is_string(field.type):
            arrays.append(arrow_strings([str(v) for v in col]))
        else:
            dtype = np.int64 if pa.types.is_integer(field.type) else np.float64
            arrays.append(arrow_numbers(np.asarray(col, dtype=dtype)))
    write_table(path, pa.Table.from_arrays(arrays, schema=HEALTH_SCHEMA))


def disturbed_seconds(rows: list[tuple]) -> list[float]:
    """End times of the seconds in which a generator was disturbed: its event loop late, CPU stolen, its
    thread kept waiting for a CPU, or the whole machine saturated (any worker's second counts)."""
    from ..analysis.windows import (
        DISTURBED_BUSY,
        DISTURBED_HOST,
        DISTURBED_LAG_MS,
        DISTURBED_OTHERS,
        DISTURBED_STEAL,
        DISTURBED_WAIT,
        DISTURBED_WAIT_OTHERS,
    )

    out = []
    for ts, _worker, _cpu, lag, steal, host, *rest in rows:
        others = rest[2] if len(rest) > 2 and rest[2] is not None else float("nan")
        wait = rest[3] if len(rest) > 3 and rest[3] is not None else float("nan")
        if others == others:  # a neighbour counts when it leaves the machine short of CPU
            crowded = others >= DISTURBED_OTHERS and host >= DISTURBED_BUSY
        else:
            crowded = host == host and host >= DISTURBED_HOST
        # kept from its core by a neighbour (unknown others: the wait alone tells)
        starved = wait == wait and wait >= DISTURBED_WAIT and not (others == others and others < DISTURBED_WAIT_OTHERS)
        if lag >= DISTURBED_LAG_MS or (steal == steal and steal >= DISTURBED_STEAL) or crowded or starved:
            out.append(float(ts))
    return sorted(out)
