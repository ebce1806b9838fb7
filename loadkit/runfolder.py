"""The run folder: its paths, its JSON files, and the one reader of ``samples.parquet``.

``manifest.json``, ``samples.parquet``, ``summary.json``, ``verdict.json`` (schemas in
docs/results.md). Every file is written atomically (:mod:`loadkit.files`): a reader never sees
half a file, and an existing run folder is never overwritten. What a failed request is
(:func:`failed_mask`) is defined here, once, for every reader.
"""

from __future__ import annotations

import json
import platform
import re
import secrets
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from . import __version__
from .errors import ConfigError, ResultsError
from .files import write_json

__all__ = ["RunPaths", "new_run_id", "check_run_id", "read_json", "write_json", "iso", "versions", "git_commit",
           "read_samples", "iter_samples", "failed_mask", "SCHEMA", "SAMPLE_COLUMNS",
           "METRICS_SCHEMA", "write_metrics", "read_metrics", "write_table", "read_table", "HEALTH_SCHEMA",
           "read_health"]

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


@dataclass(frozen=True)
class RunPaths:
    """Where each file of a run lives; creating the folder is :meth:`create`'s job, not the constructor's."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def samples(self) -> Path:
        return self.root / "samples.parquet"

    @property
    def parts(self) -> Path:
        return self.root / "samples.parts"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def verdict(self) -> Path:
        return self.root / "verdict.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.parquet"

    @property
    def health(self) -> Path:
        return self.root / "health.parquet"

    @property
    def rate(self) -> Path:
        return self.root / "rate.parquet"

    @property
    def environment(self) -> Path:
        return self.root / "environment.json"

    @property
    def reference(self) -> Path:
        """The parity reference as the run read it (a fingerprint document), when the scenario names one."""
        return self.root / "reference.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    def create(self) -> RunPaths:
        """Make the folder; an existing one is never reused (results are never overwritten)."""
        try:
            self.root.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise ConfigError(f"{self.root}: a run folder with this id already exists; results are never "
                              "overwritten") from None
        except OSError as exc:
            raise ConfigError(f"{self.root}: cannot create the run folder: {exc.strerror}") from None
        return self


def new_run_id(now: float, scenario: str) -> str:
    stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{scenario}-{secrets.token_hex(2)}"


def check_run_id(run_id: str) -> str:
    """A run id is one safe folder name (no ``/``, no ``..``), like scenario and environment names."""
    if not _SAFE_ID.match(run_id) or run_id in (".", ".."):
        raise ConfigError(f"--run-id {run_id!r}: expected one folder name of letters, digits, '-', '_' or '.' "
                          "(no '/' and not starting with '.')")
    return run_id


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing; is this a loadkit run folder?") from None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: unreadable ({exc})") from None


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        locust_version = version("locust")
    except PackageNotFoundError:
        locust_version = "unknown"
    return {"loadkit": __version__, "locust": locust_version, "python": platform.python_version()}


def git_commit(cwd: Path) -> dict[str, Any] | None:
    """The commit of the working directory and whether it had local changes, if it is a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5)
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


# -- samples ------------------------------------------------------------------------------------------
#: ``samples.parquet``: one row per request (docs/results.md).
SCHEMA = pa.schema([
    ("ts", pa.float64()),          # request start, Unix epoch seconds
    ("endpoint", pa.string()),     # the request's name
    ("method", pa.string()),
    ("latency_ms", pa.float64()),
    ("bytes", pa.int64()),
    ("status", pa.int32()),        # HTTP status; 0 when no response; null when not HTTP
    ("error", pa.string()),        # null on success
    ("worker", pa.string()),       # "local" or the Locust worker id
    ("intended_ts", pa.float64()),  # open model: the scheduled start; latency_ms counts from it. Null when closed
])
SAMPLE_COLUMNS = tuple(SCHEMA.names)
#: ``health.parquet``: the load generator's own state, one row per second and generator process.
HEALTH_SCHEMA = pa.schema([
    ("ts", pa.float64()),         # end of the second, Unix epoch seconds
    ("worker", pa.string()),      # "local" or the Locust worker id
    ("cpu", pa.float64()),        # the generator process's CPU over the second, percent of one core
    ("lag_ms", pa.float64()),     # the event loop's worst lag in the second (a 10 ms timer that fired late)
    ("steal", pa.float64()),      # CPU stolen by the hypervisor, percent of all cores (Linux /proc/stat)
    ("host_cpu", pa.float64()),   # the whole machine busy, percent of all cores
    ("users", pa.int64()),        # users running
    ("inflight", pa.int64()),     # requests in flight at the end of the second
    ("others", pa.float64()),     # CPU of processes neither loadkit's nor the target's, percent of all cores
    ("wait", pa.float64()),       # the event loop's thread ready to run but waiting for a CPU, percent of the second
])
#: ``metrics.parquet``: long format, one row per (time, series) sample of a collector.
METRICS_SCHEMA = pa.schema([("ts", pa.float64()), ("metric", pa.string()), ("labels", pa.string()),
                            ("value", pa.float64())])


def failed_mask(error: Any) -> np.ndarray:
    """Which requests failed: those whose ``error`` is set (an Arrow column or array, or a sequence).

    The capture writes null for a success and never an empty string, so "has an error" is the
    whole definition; every reader of samples asks here.
    """
    import pyarrow.compute as pc

    if isinstance(error, (pa.Array, pa.ChunkedArray)):
        return pc.is_valid(error).to_numpy(zero_copy_only=False)
    return np.fromiter((e is not None for e in error), dtype=bool, count=len(error))


def _sources(paths: RunPaths) -> list[Path]:
    if paths.samples.exists():
        return [paths.samples]
    return sorted(paths.parts.glob("part-*.parquet")) if paths.parts.is_dir() else []


def iter_samples(paths: RunPaths, columns: Sequence[str], dictionary: Sequence[str] = ()) -> Iterator[Any]:
    """The samples as Arrow record batches, one row group at a time (flat memory for any run length).

    Reads ``samples.parquet``, or the parts of an unfinished run when it is missing.
    """
    import pyarrow.parquet as pq

    for path in _sources(paths):
        try:
            # pre_buffer holds every row group it has read until the file is closed: memory grew with the run
            # (1.6 GB for 100 M requests); without it one row group at a time is all that is held
            f = pq.ParquetFile(path, read_dictionary=list(dictionary), pre_buffer=False)
            yield from f.iter_batches(columns=list(columns), batch_size=65_536)
        except OSError as exc:
            raise ResultsError(f"{path}: unreadable ({exc})") from None


def read_samples(paths: RunPaths, columns: Sequence[str], dictionary: Sequence[str] = ()) -> Any:
    """The samples as one Arrow table of ``columns``; an empty table when there are none."""
    import pyarrow.parquet as pq

    sources = _sources(paths)
    if not sources:
        raise ResultsError(f"{paths.samples}: missing; the run's samples are needed")
    try:
        # ParquetFile, not read_table: read_table goes through pyarrow.dataset, half a second to import
        tables = [pq.ParquetFile(p, read_dictionary=list(dictionary)).read(columns=list(columns)) for p in sources]
    except (OSError, pa.ArrowException) as exc:
        raise ResultsError(f"{sources[0]}: unreadable ({exc})") from None
    if not tables:
        return empty_table(SCHEMA).select(list(columns))
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def write_table(path: Path, table: Any) -> None:
    """An Arrow table as Parquet, atomically."""
    import pyarrow.parquet as pq

    from .files import atomic_path

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_table(path: Path, columns: Sequence[str] | None = None) -> Any:
    """A small Parquet file of the run folder (metrics, rate) as an Arrow table; ResultsError if unreadable."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).read(columns=list(columns) if columns else None)
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing") from None
    except (OSError, pa.ArrowException) as exc:
        raise ResultsError(f"{path}: unreadable ({exc})") from None


def write_metrics(path: Path, rows: Sequence[tuple[float, str, str, float]]) -> None:
    """Collector rows ``(ts, metric, labels, value)`` as ``metrics.parquet``, atomically."""
    cols = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
    write_table(path, pa.table({n: list(c) for n, c in zip(METRICS_SCHEMA.names, cols, strict=True)},
                               schema=METRICS_SCHEMA))


def numbers(col: Any) -> np.ndarray:
    """A numeric Arrow column as float64, nulls as NaN, read from its buffer: ``to_numpy`` and
    ``np.asarray`` import pandas (0.15 s after every run, 40 MB), which nothing else here needs."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if col.null_count:
        import pyarrow.compute as pc

        col = pc.fill_null(col.cast(pa.float64()), float("nan"))
    width = col.type.bit_width // 8 if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) else 0
    if not width or len(col) == 0:
        return np.asarray(col.to_pylist() if len(col) else [], dtype=np.float64)
    dtype = np.dtype(f"{'f' if pa.types.is_floating(col.type) else 'i' if pa.types.is_signed_integer(col.type) else 'u'}{width}")
    raw = np.frombuffer(col.buffers()[1], dtype=dtype, count=len(col), offset=col.offset * width)
    return raw.astype(np.float64)


def empty_table(schema: pa.Schema) -> Any:
    """A table of no rows (``Schema.empty_table`` imports pandas: 0.15 s after every run)."""
    return pa.Table.from_batches([], schema=schema)


def read_metrics(paths: RunPaths) -> Any:
    """``metrics.parquet`` as an Arrow table (empty when the run collected nothing)."""
    if not paths.metrics.exists():
        return empty_table(METRICS_SCHEMA)
    return read_table(paths.metrics, METRICS_SCHEMA.names)


def read_health(paths: RunPaths) -> Any:
    """``health.parquet`` as an Arrow table; empty (schema only) for runs recorded before it existed."""
    if not paths.health.exists():
        return empty_table(HEALTH_SCHEMA)
    table = read_table(paths.health)
    for field in HEALTH_SCHEMA:  # a column added since the run was recorded is unknown there: NaN / null
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table.select(HEALTH_SCHEMA.names)
