"""Full-resolution request capture, streamed to Parquet in parts.

Locust's own statistics round response times into buckets; here every request is kept as
float milliseconds with its start time, so any percentile can be computed exactly later.

The hot path (:meth:`SampleBuffer.on_request`, one call per request) appends one tuple and keeps
no reference to the exception: its text is taken at once. An exception holds its traceback, its
frames and the response, and Locust's ``resp.error = e`` makes a reference cycle, so keeping it
until the next flush made failing requests trigger full garbage collections on the event loop
and halved the load exactly when a target started failing.

:meth:`SampleBuffer.take` turns the rows into an Arrow record batch once a second; names and
error texts pass through the run's :class:`~loadkit.redact.Redactor` there (cached: they repeat).
:class:`PartWriter` writes batches as ``samples.parts/part-NNNNN.parquet`` on a time bound and a
row bound, so a hard kill loses at most a second or two; ``finish`` merges them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..analysis.summary import INFLIGHT
from ..files import atomic_path
from ..redact import Redactor
from ..runfolder import SCHEMA

__all__ = ["SCHEMA", "SampleBuffer", "PartWriter", "InFlight", "InFlightAtEnd", "attach_recorder", "error_text",
           "empty_batch"]

MAX_ERROR_CHARS = 300


class InFlightAtEnd(Exception):
    """The load stopped while this request waited for its answer; its age is a lower bound of its latency."""

    def __init__(self) -> None:
        super().__init__(INFLIGHT)


def error_text(exc: BaseException) -> str:
    """One line for a failed request: ``Type: message`` (Locust's own failure texts as they are)."""
    if isinstance(exc, InFlightAtEnd):
        return INFLIGHT
    original = getattr(exc, "original", None)  # geventhttpclient's RetriesExceeded wraps the real failure
    if isinstance(original, BaseException) and type(exc).__name__ == "RetriesExceeded":
        exc = original
    name = type(exc).__name__
    text = str(exc) or name
    if not text.startswith(name) and not name.startswith("CatchResponse"):
        text = f"{name}: {text}"
    text = " ".join(text.split())
    return text[:MAX_ERROR_CHARS]


def empty_batch() -> pa.RecordBatch:
    f, i, s = np.empty(0, np.float64), np.empty(0, np.int64), []
    return pa.RecordBatch.from_arrays([arrow_numbers(f), arrow_strings(s), arrow_strings(s), arrow_numbers(f),
                                       arrow_numbers(i), arrow_numbers(i.astype(np.int32)), arrow_strings(s),
                                       arrow_strings(s), arrow_numbers(f)], schema=SCHEMA)


class SampleBuffer:
    """Row buffer filled by Locust's ``request`` event."""

    def __init__(self, worker: str = "local", redactor: Redactor | None = None):
        self.worker = worker
        self.count = 0
        self.rows: list[tuple] = []
        self.redactor = redactor or Redactor()

    def on_request(self, request_type: str, name: str, response_time: float, response_length: int,
                   response: Any = None, exception: BaseException | None = None, start_time: float | None = None,
                   context: dict | None = None, **_: Any) -> None:
        intended = context.get("intended") if context else None
        err = None if exception is None else error_text(exception)
        if start_time is None:  # events fired by hand (events.request.fire) may carry no start
            start_time = time.time() - (response_time or 0.0) / 1000.0
        status = 0 if isinstance(exception, InFlightAtEnd) else getattr(response, "status_code", None)
        self.rows.append((start_time, name, request_type, response_time, response_length, status, err, intended))
        self.count += 1

    def __len__(self) -> int:
        return len(self.rows)

    def take(self) -> pa.RecordBatch:
        """Hand over the buffered rows as an Arrow batch (once a second, off the per-request path).

        Arrays are built from their buffers (:func:`arrow_strings`, :func:`arrow_numbers`), because
        ``pa.array`` imports pandas on first use: 0.3 s of event-loop stall and 40 MB in every
        load generator.
        """
        rows, self.rows = self.rows, []
        if not rows:
            return empty_batch()
        ts, name, method, latency, size, status, err, intended = zip(*rows, strict=True)
        ts_a = np.asarray(ts, dtype=np.float64)
        lat = np.asarray([float(v or 0.0) for v in latency], dtype=np.float64)
        planned = np.asarray([np.nan if i is None else float(i) for i in intended], dtype=np.float64)
        # open model: latency counts from the intended start, so waiting for a free user counts (wrk2)
        late = np.where(np.isnan(planned), 0.0, np.maximum(0.0, (ts_a - planned) * 1000.0))
        text = self.redactor.text
        codes = np.asarray([-1 if v is None else int(v) for v in status], dtype=np.int64)
        return pa.RecordBatch.from_arrays([
            arrow_numbers(ts_a),
            arrow_strings([text(str(n)) for n in name]),
            arrow_strings([str(m) for m in method]),
            arrow_numbers(lat + late),
            arrow_numbers(np.asarray([int(v or 0) for v in size], dtype=np.int64)),
            arrow_numbers(codes.astype(np.int32), codes >= 0),
            arrow_strings([None if e is None else text(e) for e in err]),
            arrow_strings([self.worker] * len(rows)),
            arrow_numbers(planned, ~np.isnan(planned)),
        ], schema=SCHEMA)


_TYPES = {np.dtype(np.float64): pa.float64(), np.dtype(np.int64): pa.int64(), np.dtype(np.int32): pa.int32()}


def _validity(valid: np.ndarray | None) -> pa.Buffer | None:
    if valid is None or valid.all():
        return None
    return pa.py_buffer(np.packbits(valid.astype(bool), bitorder="little"))


def arrow_numbers(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A numeric Arrow array straight from a numpy array's buffer (``valid``: False where null)."""
    values = np.ascontiguousarray(values)
    nulls = 0 if valid is None else int((~valid).sum())
    return pa.Array.from_buffers(_TYPES[values.dtype], len(values), [_validity(valid), pa.py_buffer(values)],
                                 null_count=nulls)


def arrow_strings(values: list[str | None]) -> pa.Array:
    """A UTF-8 Arrow array from Python strings (None is null), built from its offsets and data."""
    cache: dict[str, bytes] = {}
    encoded = [b"" if v is None else cache.get(v) or cache.setdefault(v, v.encode("utf-8", "surrogatepass"))
               for v in values]
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    valid = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    nulls = len(values) - int(valid.sum())
    return pa.Array.from_buffers(pa.string(), len(values), [_validity(valid), pa.py_buffer(offsets),
                                                            pa.py_buffer(b"".join(encoded))], null_count=nulls)


class InFlight:
    """Requests sent and not yet answered: start, method and name, for abort rules, progress and the end of the run."""

    def __init__(self) -> None:
        # key -> (start, method, name, deadline, greenlet, timeout s), in order of start
        self.active: dict[int, tuple[float, str, str, float, Any, float]] = {}
        self._ids = itertools.count()

    def begin(self, start: float, method: str = "", name: str = "", deadline: float = float("inf"),
              greenlet: Any = None, seconds: float = float("inf")) -> int:
        key = next(self._ids)
        self.active[key] = (start, method, name, deadline, greenlet, seconds)
        return key

    def end(self, key: int) -> None:
        self.active.pop(key, None)

    def __len__(self) -> int:
        return len(self.active)

    def ages(self, now: float, endpoint: str | None = None) -> np.ndarray:
        """Seconds each request in flight (to ``endpoint``: a name or ``METHOD name``) has waited so far."""
        starts = [s for s, m, n, *_ in list(self.active.values())
                  if endpoint is None or endpoint == n or endpoint == f"{m} {n}"]
        return now - np.asarray(starts, dtype=np.float64)


def _inline(fn: Callable[[], None]) -> Callable[[], None]:
    fn()
    return lambda: None


def _write_part(batches: list[pa.RecordBatch], path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_batches(batches, schema=SCHEMA), tmp)


class PartWriter:
    """Writes batches to ``samples.parts/part-NNNNN.parquet``; ``finish`` merges them into ``samples.parquet``.

    Every part is a complete Parquet file, so a crash loses at most the rows not yet written.
    Parts are written by ``run_in`` (under gevent: a native thread of the hub's pool), so encoding
    never stalls the load generator's event loop and inflates latencies. The folder is created
    on the first part, not in the constructor.
    """

    def __init__(self, run_dir: Path, chunk_rows: int = 50_000,
                 run_in: Callable[[Callable[[], None]], Callable[[], None]] | None = None):
        self.parts_dir = run_dir / "samples.parts"
        self.chunk_rows = chunk_rows
        self.rows = 0
        self.parts: list[Path] = []
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._run_in = run_in or _inline
        self._waits: list[Callable[[], None]] = []

    def add(self, batch: pa.RecordBatch) -> None:
        n = batch.num_rows
        if not n:
            return
        self._pending.append(batch)
        self._pending_rows += n
        if self._pending_rows >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        """Hand the pending rows to the writer (returns before they are on disk)."""
        if not self._pending:
            return
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        batches, n = self._pending, self._pending_rows
        path = self.parts_dir / f"part-{len(self.parts):05d}.parquet"
        self.parts.append(path)
        self.rows += n
        self._pending, self._pending_rows = [], 0
        self._waits.append(self._run_in(lambda: _write_part(batches, path)))

    def add_part(self, table: pa.Table) -> None:
        """A whole part written elsewhere (a worker's), kept as it is."""
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        path = self.parts_dir / f"part-{len(self.parts):05d}.parquet"
        self.parts.append(path)
        self.rows += table.num_rows
        self._waits.append(self._run_in(lambda: _write_part(table.to_batches(), path)))

    def wait(self) -> None:
        """Block until every part handed over is on disk (re-raises the first write error, after all are done)."""
        waits, self._waits = self._waits, []
        first: BaseException | None = None
        for w in waits:
            try:
                w()
            except Exception as exc:  # noqa: BLE001 - every write is waited for before one error is raised
                first = first or exc
        if first is not None:
            raise first

    def failed(self) -> BaseException | None:
        """The error of a part write that has finished badly, if any (checked once a second, never blocking)."""
        for w in self._waits:
            done = getattr(w, "done", None)
            if done is not None and done() and getattr(w, "error", None) is not None:
                return w.error()
        return None

    def finish(self, out_file: Path) -> int:
        """Merge all parts into ``out_file`` one part at a time (flat memory), then remove them."""
        self.flush()
        self.wait()
        with atomic_path(out_file) as tmp, pq.ParquetWriter(tmp, SCHEMA) as writer:
            for part in self.parts:
                writer.write_table(pq.ParquetFile(part).read())  # not read_table: it imports pyarrow.dataset
        for part in self.parts:
            part.unlink()
        if self.parts_dir.is_dir():
            self.parts_dir.rmdir()
        return self.rows


def attach_recorder(events: Any, buffer: SampleBuffer) -> Callable[[], None]:
    """Subscribe ``buffer`` to Locust's request event; returns the unsubscribe function."""
    events.request.add_listener(buffer.on_request)
    return lambda: events.request.remove_listener(buffer.on_request)
