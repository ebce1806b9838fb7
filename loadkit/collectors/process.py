"""CPU and memory of a target process (and its children), read with psutil."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["ProcessSampler", "write_metrics", "METRICS_SCHEMA"]

METRICS_SCHEMA = pa.schema([("ts", pa.float64()), ("metric", pa.string()), ("labels", pa.string()),
                            ("value", pa.float64())])
Row = tuple[float, str, str, float]


class ProcessSampler:
    """Samples ``<name>.cpu`` (percent of one core), ``.cpu_seconds`` and ``.rss_bytes``.

    CPU is the difference of cumulative CPU times between samples, so no sample is lost to
    psutil's first-call zero. A process that is gone is recorded once as ``missing`` with its reason.
    """

    def __init__(self, pid: int, name: str = "target", clock: Callable[[], float] | None = None):
        import time

        self.name, self.clock = name, clock or time.time
        self.rows: list[Row] = []
        self.missing: str | None = None
        try:
            self.proc = psutil.Process(pid)
            self._last = (self.clock(), self._cpu_seconds())
        except psutil.Error as exc:
            self.missing = f"process {pid}: {type(exc).__name__}"

    def _cpu_seconds(self) -> float:
        total = 0.0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                if p is self.proc:
                    raise
        return total

    def sample(self) -> None:
        if self.missing:
            return
        try:
            now, cpu = self.clock(), self._cpu_seconds()
            rss = self.proc.memory_info().rss
        except psutil.Error as exc:
            self.missing = f"process {self.proc.pid} gone ({type(exc).__name__})"
            return
        t0, c0 = self._last
        if now > t0:
            self.rows.append((now, f"{self.name}.cpu", "", 100.0 * (cpu - c0) / (now - t0)))
        self.rows.append((now, f"{self.name}.cpu_seconds", "", cpu))
        self.rows.append((now, f"{self.name}.rss_bytes", "", float(rss)))
        self._last = (now, cpu)


def write_metrics(path: Path, rows: list[Row]) -> None:
    cols = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
    table = pa.table({n: list(c) for n, c in zip(METRICS_SCHEMA.names, cols, strict=True)}, schema=METRICS_SCHEMA)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
