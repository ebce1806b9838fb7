"""The results folder of a run: ``manifest.json``, ``samples.parquet``, ``summary.json``,
``verdict.json`` (schemas in docs/results.md). Every file is written atomically: a reader
never sees half a file, and an existing run folder is never overwritten."""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import __version__
from .analysis import Summary, summarize_coded
from .errors import ConfigError, ResultsError

__all__ = ["new_run_dir", "write_json", "read_json", "strip_credentials", "summarize_run", "iso", "versions",
           "git_commit", "RunPaths"]


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def samples(self) -> Path:
        return self.root / "samples.parquet"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def verdict(self) -> Path:
        return self.root / "verdict.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.parquet"


def new_run_id(now: float, scenario: str) -> str:
    stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{scenario}-{secrets.token_hex(2)}"


def new_run_dir(out: Path, now: float, scenario: str, run_id: str | None = None) -> RunPaths:
    run_id = run_id or new_run_id(now, scenario)
    path = out / run_id
    try:
        path.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise ConfigError(f"{path}: a run folder with this id already exists; results are never overwritten") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the run folder: {exc.strerror}") from None
    return RunPaths(path)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=False, default=_json_default)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing; is this a loadkit run folder?") from None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: unreadable ({exc})") from None


def strip_credentials(url: str) -> str:
    """The URL without user:password@ and without a query string (tokens hide there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def versions() -> dict[str, str]:
    import locust

    return {"loadkit": __version__, "locust": locust.__version__, "python": platform.python_version()}


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


def summarize_run(samples: Path, window_start: float, window_end: float, top_errors: int = 20) -> Summary:
    """Read the columns the summary needs (not the whole table) and summarise.

    Endpoints are read dictionary-encoded and errors only as a null mask (their texts are
    grouped by Arrow), so memory is a few numeric arrays, not a Python string per request.
    """
    table = pq.read_table(samples, columns=["ts", "endpoint", "latency_ms", "error"], read_dictionary=["endpoint"])
    if table.num_rows == 0:
        empty = np.empty(0)
        return summarize_coded(empty, empty.astype(np.int64), [], empty, empty.astype(bool), (), window_start,
                               window_end)
    endpoint = table.column("endpoint").combine_chunks()
    if not isinstance(endpoint, pa.DictionaryArray):
        endpoint = endpoint.dictionary_encode()
    error = table.column("error")
    failed = pc.and_(pc.is_valid(error), pc.not_equal(pc.fill_null(error, ""), "")).to_numpy(zero_copy_only=False)
    failures = table.filter(pa.array(failed)).select(["endpoint", "error"])
    if failures.num_rows:
        failures = failures.set_column(0, "endpoint", pc.cast(failures.column("endpoint"), pa.string()))
        grouped = failures.group_by(["endpoint", "error"]).aggregate([([], "count_all")]).sort_by(
            [("count_all", "descending"), ("endpoint", "ascending")])
        errors = tuple((r["endpoint"], r["error"], int(r["count_all"])) for r in grouped.slice(0, top_errors).to_pylist())
    else:
        errors = ()
    return summarize_coded(table.column("ts").to_numpy(), endpoint.indices.to_numpy(zero_copy_only=False).astype(np.int64),
                           endpoint.dictionary.to_pylist(), table.column("latency_ms").to_numpy(), failed, errors,
                           window_start, window_end)
