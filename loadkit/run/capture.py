"""Full-resolution request capture, streamed to Parquet in chunks.

Locust's own statistics round response times into buckets; here every request is kept as
float milliseconds with its start time, so any percentile can be computed exactly later.
Memory stays flat: rows are buffered up to ``chunk_rows`` and written as a part file.

With workers, each worker buffers its own rows and ships them to the master over Locust's
message channel (``loadkit_samples``), then says how many it sent (``loadkit_done``), so the
master can prove nothing was lost. The channel is the same across hosts, so remote workers
need nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..files import atomic_path
from ..runfolder import SCHEMA

__all__ = ["SCHEMA", "SampleBuffer", "PartWriter", "attach_recorder"]

COLUMNS = SCHEMA.names
MAX_ERROR_CHARS = 300


class SampleBuffer:
    """Row buffer filled by Locust's ``request`` event: the hot path does one tuple append."""

    def __init__(self, worker: str = "local"):
        self.worker = worker
        self.count = 0
        self.rows: list[tuple] = []

    def on_request(self, request_type: str, name: str, response_time: float, response_length: int,
                   response: Any = None, exception: BaseException | None = None, start_time: float | None = None,
                   context: dict | None = None, **_: Any) -> None:
        intended = context.get("intended") if context else None
        self.rows.append((start_time, name, request_type, response_time, response_length,
                          getattr(response, "status_code", None), exception, intended))
        self.count += 1

    def __len__(self) -> int:
        return len(self.rows)

    def take(self) -> dict[str, list[Any]]:
        """Hand over the buffered rows as columns (once a second, off the per-request path)."""
        rows, self.rows = self.rows, []
        if not rows:
            return {c: [] for c in COLUMNS}
        ts, name, method, latency, size, status, exc, intended = (list(col) for col in zip(*rows, strict=True))
        return {
            "ts": ts, "endpoint": name, "method": method,
            # open model: from the intended start, so time spent waiting for a free user counts (wrk2)
            "latency_ms": [float(v) if i is None else float(v) + max(0.0, (t - i) * 1000.0)
                           for v, t, i in zip(latency, ts, intended, strict=True)],
            "bytes": [int(v or 0) for v in size],
            "status": status,
            "error": [None if e is None else _error_text(e) for e in exc],
            "worker": [self.worker] * len(rows),
            "intended_ts": intended,
        }


def _inline(fn: Callable[[], None]) -> Callable[[], None]:
    fn()
    return lambda: None


def _write_part(batches: list[dict[str, list[Any]]], path: Path) -> None:
    table = pa.concat_tables([pa.table(c, schema=SCHEMA) for c in batches])
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if not text.startswith(type(exc).__name__) and not type(exc).__name__.startswith("CatchResponse"):
        text = f"{type(exc).__name__}: {text}"
    return text[:MAX_ERROR_CHARS]


class PartWriter:
    """Writes column batches to ``samples.parts/part-NNNNN.parquet``; ``finish`` merges them.

    Every part is a complete Parquet file, so a crash loses at most the rows not yet written.
    Parts are written by ``run_in`` (under gevent: a native thread of the hub's pool), so
    encoding never stalls the load generator's event loop and inflates latencies.
    """

    def __init__(self, run_dir: Path, chunk_rows: int = 50_000,
                 run_in: Callable[[Callable[[], None]], Callable[[], None]] | None = None):
        self.parts_dir = run_dir / "samples.parts"
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        self.chunk_rows = chunk_rows
        self.rows = 0
        self.parts: list[Path] = []
        self._pending: list[dict[str, list[Any]]] = []
        self._pending_rows = 0
        self._run_in = run_in or _inline
        self._waits: list[Callable[[], None]] = []

    def add(self, cols: dict[str, list[Any]]) -> None:
        n = len(cols["ts"])
        if not n:
            return
        self._pending.append(cols)
        self._pending_rows += n
        if self._pending_rows >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        """Hand the pending rows to the writer (returns before they are on disk)."""
        if not self._pending:
            return
        batches, n = self._pending, self._pending_rows
        path = self.parts_dir / f"part-{len(self.parts):05d}.parquet"
        self.parts.append(path)
        self.rows += n
        self._pending, self._pending_rows = [], 0
        self._waits.append(self._run_in(lambda: _write_part(batches, path)))

    def wait(self) -> None:
        """Block until every part handed over is on disk (re-raises a write error)."""
        waits, self._waits = self._waits, []
        for w in waits:
            w()

    def finish(self, out_file: Path) -> int:
        """Merge all parts into ``out_file`` one part at a time (flat memory) and remove them."""
        self.flush()
        self.wait()
        with atomic_path(out_file) as tmp, pq.ParquetWriter(tmp, SCHEMA) as writer:
            for part in self.parts:
                writer.write_table(pq.read_table(part, schema=SCHEMA))
        for part in self.parts:
            part.unlink()
        self.parts_dir.rmdir()
        return self.rows


def attach_recorder(events: Any, buffer: SampleBuffer) -> Callable[[], None]:  # noqa: D103
    """Subscribe ``buffer`` to Locust's request event; returns the unsubscribe function."""
    events.request.add_listener(buffer.on_request)
    return lambda: events.request.remove_listener(buffer.on_request)
