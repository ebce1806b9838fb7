"""The baseline store: the last K accepted runs of a scenario in an environment.

``baselines/<scenario>/<environment>/<run-id>.json``, one readable, schema-versioned JSON
file per run: flat per-run aggregates (what the comparison reads), mergeable latency
histograms per endpoint, 10-second window aggregates (the band in reports), the metric
summaries and the environment fingerprint. Writes are atomic (temp file + rename) and
serialised by an exclusive lock, so two CI jobs promoting at once lose nothing and a crash
mid-write leaves the previous baseline intact.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .analysis.histogram import LogHistogram
from .analysis.sketch import LogBins
from .errors import ConfigError, ResultsError
from .files import atomic_write
from .runfolder import RunPaths, failed_mask, iso, iter_samples, read_json
from .scenario.checks import metric_key, se_key
from .status import Outcome

__all__ = ["BaselineRun", "BaselineStore", "aggregates_from_summary", "record_from_run", "SCHEMA", "WINDOW_S"]

SCHEMA = 1
WINDOW_S = 10.0
_LATENCY_STATS = ("min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max")
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class BaselineRun:
    run_id: str
    scenario: str
    environment: str
    start: str
    end: str
    promoted_at: str
    aggregates: dict[str, float]
    histograms: dict[str, LogHistogram] = field(default_factory=dict)  # "" is all requests
    windows: tuple[dict, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, str] = field(default_factory=dict)
    fingerprint_hash: str = ""
    forced: bool = False
    reference: tuple[str, str] | None = None  # (name, hash) of the parity reference the run was held to

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA, "run_id": self.run_id, "scenario": self.scenario, "environment": self.environment,
            "start": self.start, "end": self.end, "promoted_at": self.promoted_at, "forced": self.forced,
            "aggregates": self.aggregates,
            "histograms": {k: h.to_json() for k, h in self.histograms.items()},
            "windows": list(self.windows), "metrics": self.metrics,
            "fingerprint": {"hash": self.fingerprint_hash, "values": self.fingerprint},
            "reference": None if self.reference is None else {"name": self.reference[0], "hash": self.reference[1]},
        }

    @classmethod
    def from_json(cls, data: Any, source: str) -> BaselineRun:
        """A stored record, validated: a damaged one is refused with its path, never compared with."""
        if not isinstance(data, dict):
            raise ResultsError(f"{source}: not a baseline run (a JSON {type(data).__name__}, expected an object)")
        if data.get("schema") != SCHEMA:
            raise ResultsError(f"{source}: baseline schema {data.get('schema')!r}, this loadkit reads {SCHEMA}")
        try:
            fp = data.get("fingerprint") or {}
            ids = [data[k] for k in ("run_id", "scenario", "environment", "start", "end", "promoted_at")]
            if not all(isinstance(v, str) and v for v in ids):
                raise ValueError("run_id, scenario, environment, start, end and promoted_at must be non-empty text")
            aggregates = _aggregates(data["aggregates"])
            run = cls(*ids, aggregates, {k: LogHistogram.from_json(h) for k, h in data.get("histograms", {}).items()},
                      tuple(data.get("windows", ())), dict(data.get("metrics", {})), dict(fp.get("values", {})),
                      str(fp.get("hash", "")), bool(data.get("forced", False)),
                      None if not data.get("reference") else (str(data["reference"]["name"]),
                                                              str(data["reference"]["hash"])))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ResultsError(f"{source}: not a valid baseline run ({exc}); remove it with loadkit baseline "
                               "remove, or restore it from git") from None
        return run


def _aggregates(raw: Any) -> dict[str, float]:
    """The aggregates of a record: finite numbers in their ranges (a rate in [0, 1], latencies and rates >= 0)."""
    if not isinstance(raw, dict) or not raw:
        raise ValueError("its aggregates are missing or empty")
    out: dict[str, float] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"aggregate {key!r} is {value!r}, not a finite number")
        if key.startswith("error_rate") and not 0.0 <= value <= 1.0:
            raise ValueError(f"aggregate {key!r} is {value!r}, outside 0..1")
        if (key.startswith("rps") or "(latency" in key) and value < 0:
            raise ValueError(f"aggregate {key!r} is negative ({value!r})")
        out[str(key)] = float(value)
    if not out:
        raise ValueError("its aggregates are all empty")
    return out


def aggregates_from_summary(summary: dict) -> dict[str, float]:
    """Flat ``{metric key: value}`` for a run, the form comparisons read (see :func:`loadkit.scenario.checks.metric_key`).

    Where the summary has its robust part (the checked window's slices with a disturbed generator set
    aside), error rates, rates and quantiles come from there, with their within-run standard errors as
    ``se:<key>``; min, mean and max always come from the whole window."""
    out: dict[str, float] = {}
    robust = summary.get("robust") or {}
    robust_eps = robust.get("endpoints") or {}

    def add(stats: dict, endpoint: str | None, kept: dict | None) -> None:
        use = kept if kept and kept.get("total") else None
        main = use or stats
        out[metric_key(None, "error_rate", endpoint)] = float(main["error_rate"])
        out[metric_key(None, "rps", endpoint)] = float(main["rps"])
        for stat, value in (stats.get("latency_ms") or {}).items():
            if stat in _LATENCY_STATS and value is not None:
                out[metric_key(stat, "latency", endpoint)] = float(value)
        if use is None:
            return
        for stat, value in (use.get("latency_ms") or {}).items():
            out[metric_key(stat, "latency", endpoint)] = float(value)
        for stat, se in (use.get("se_log") or {}).items():
            out[se_key(metric_key(stat, "latency", endpoint))] = float(se)
        n, rate = max(int(use["total"]), 1), int(use["failures"]) / max(int(use["total"]), 1)
        out[se_key(metric_key(None, "error_rate", endpoint))] = math.sqrt(rate * (1 - rate) / n)  # binomial

    if summary.get("requests"):
        add(summary["requests"], None, robust.get("requests"))
    for name, stats in (summary.get("endpoints") or {}).items():
        add(stats, name, robust_eps.get(name))
    for name, stats in (summary.get("groups") or {}).items():  # what compare "p95(latency, group=G)" reads
        add(stats, f"group={name}", None)
    for name, m in (summary.get("metrics") or {}).items():
        for stat in ("mean", "p95", "max", "min", "per_request"):
            if isinstance(m, dict) and m.get(stat) is not None:
                out[metric_key(stat, "" + name, None)] = float(m[stat])
    return out


class _Windows:
    """10 s window aggregates of the checked window, added one batch of samples at a time (flat memory)."""

    def __init__(self, start: float, end: float):
        self.start, self.end = start, end
        self.n = max(0, math.ceil((end - start) / WINDOW_S - 1e-9))
        self.requests = np.zeros(self.n, np.int64)
        self.failures = np.zeros(self.n, np.int64)
        self.bins: list[LogBins] = [LogBins() for _ in range(self.n)]

    def add(self, ts: np.ndarray, lat: np.ndarray, failed: np.ndarray) -> None:
        inside = (ts >= self.start) & (ts < self.end)
        if not self.n or not inside.any():
            return
        w = np.minimum(((ts[inside] - self.start) // WINDOW_S).astype(np.int64), self.n - 1)
        f = failed[inside]
        self.requests += np.bincount(w, minlength=self.n)
        self.failures += np.bincount(w[f], minlength=self.n)
        ok_w, ok_lat = w[~f], lat[inside][~f]
        for i in np.unique(ok_w):
            self.bins[i].add(ok_lat[ok_w == i])

    def rows(self) -> tuple[dict, ...]:
        out = []
        for i in range(self.n):
            t = self.start + i * WINDOW_S
            n, span = int(self.requests[i]), min(WINDOW_S, self.end - t)
            b = self.bins[i]
            q = b.quantiles((0.5, 0.95, 0.99)) if b.total else [None, None, None]
            row: dict[str, Any] = {"offset_s": round(t - self.start, 3), "requests": n,
                                   "rps": round(n / span, 3) if span else 0.0,
                                   "error_rate": round(int(self.failures[i]) / n, 6) if n else None}
            for name, v in zip(("p50", "p95", "p99"), q, strict=True):
                row[name] = None if v is None else round(v, 3)
            out.append(row)
        return tuple(out)


def record_from_run(run_dir: Path, environment: str, promoted_at: float, forced: bool = False) -> BaselineRun:
    """Read a finished run folder into a compact baseline record: the aggregates from its summary, the
    latency histograms and 10 s windows from its samples, one row group at a time (flat memory)."""
    manifest = read_json(run_dir / "manifest.json")
    summary = read_json(run_dir / "summary.json")
    paths = RunPaths(run_dir)
    window = summary.get("window", {})
    start, end = float(window.get("start", -math.inf)), float(window.get("end", math.inf))
    hists: dict[str, LogBins] = {"": LogBins()}
    windows = _Windows(start, end) if math.isfinite(start) and math.isfinite(end) else None
    if paths.samples.exists():
        for batch in iter_samples(paths, ["ts", "endpoint", "latency_ms", "error"], dictionary=["endpoint"]):
            ts = batch.column("ts").to_numpy()
            lat = batch.column("latency_ms").to_numpy()
            failed = failed_mask(batch.column("error"))
            col = batch.column("endpoint")
            names = col.dictionary.to_pylist()
            codes = col.indices.to_numpy(zero_copy_only=False)
            ok = (ts >= start) & (ts < end) & ~failed
            hists[""].add(lat[ok])
            for code in np.unique(codes[(ts >= start) & (ts < end)]):
                hists.setdefault(str(names[code]), LogBins()).add(lat[ok & (codes == code)])
            if windows is not None:
                windows.add(ts, lat, failed)
    env_file = run_dir / "environment.json"
    fp = read_json(env_file) if env_file.exists() else {}
    return BaselineRun(
        run_id=manifest["run_id"], scenario=manifest["scenario"]["name"], environment=environment,
        start=manifest["start"], end=manifest.get("end") or manifest["start"], promoted_at=iso(promoted_at),
        aggregates=aggregates_from_summary(summary),
        histograms={k: LogHistogram.of_bins(b) for k, b in hists.items() if k == "" or b.total},
        windows=windows.rows() if windows is not None else (),
        metrics=summary.get("metrics", {}), fingerprint=fp.get("values", {}), fingerprint_hash=fp.get("hash", ""),
        forced=forced, reference=None if not manifest.get("parity") else (
            str(manifest["parity"]["reference"]), str(manifest["parity"]["hash"])),
    )


class BaselineStore:
    """``root/<scenario>/<environment>/<run-id>.json``, newest ``keep`` runs per scenario and environment."""

    def __init__(self, root: Path, keep: int = 10):
        if keep < 1:
            raise ConfigError(f"--keep: expected 1 or more, got {keep}")
        self.root, self.keep = root, keep

    def folder(self, scenario: str, environment: str) -> Path:
        for what, value in (("scenario", scenario), ("environment", environment)):
            if not _SAFE.match(value):
                raise ConfigError(f"{what} name {value!r}: expected letters, digits, '-', '_' or '.'")
        return self.root / scenario / environment

    def runs(self, scenario: str, environment: str) -> list[BaselineRun]:
        """The baseline runs, oldest first: a consistent snapshot, never half a promotion or a pruning."""
        folder = self.folder(scenario, environment)
        if not folder.is_dir():
            return []
        with self._shared(folder):
            runs = []
            for path in sorted(folder.glob("*.json")):
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except FileNotFoundError:  # pruned between listing and reading (a read-only store has no lock)
                    continue
                except (OSError, ValueError) as exc:
                    raise ResultsError(f"{path}: unreadable baseline run ({exc}); remove it with loadkit baseline "
                                       "remove, or restore it from git") from None
                runs.append(BaselineRun.from_json(data, str(path)))
        return sorted(runs, key=lambda r: (r.start, r.run_id))

    def check_writable(self, scenario: str, environment: str) -> None:
        """Refuse, before any load, a baseline folder this process could not promote into."""
        folder = self.folder(scenario, environment)
        probe = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if probe is None or not os.access(probe, os.W_OK):
            raise ConfigError(f"{folder}: the baseline folder is not writable, so --promote-on-pass could not "
                              "promote; fix its permissions or drop --promote-on-pass")

    @contextmanager
    def _shared(self, folder: Path) -> Iterator[None]:
        """A shared lock while reading (writers hold it exclusively); none on a read-only store."""
        try:
            fh = open(folder / ".lock", "a")  # noqa: SIM115 (closed below)
        except OSError:
            yield
            return
        try:
            fcntl.flock(fh, fcntl.LOCK_SH)
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def _runs_unlocked(self, folder: Path) -> list[BaselineRun]:
        runs = [BaselineRun.from_json(json.loads(p.read_text(encoding="utf-8")), str(p)) for p in sorted(folder.glob("*.json"))]
        return sorted(runs, key=lambda r: (r.start, r.run_id))

    def entries(self) -> list[tuple[str, str, int]]:
        """(scenario, environment, number of runs) for everything stored."""
        if not self.root.is_dir():
            return []
        return [(s.name, e.name, len(list(e.glob("*.json"))))
                for s in sorted(self.root.iterdir()) if s.is_dir()
                for e in sorted(s.iterdir()) if e.is_dir()]

    @contextmanager
    def _locked(self, folder: Path) -> Iterator[None]:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def promote(self, run_dir: Path, environment: str, now: float, force: bool = False) -> tuple[BaselineRun, list[str]]:
        """Add a run; returns it and the run ids pruned to keep the newest ``keep``."""
        manifest = read_json(run_dir / "manifest.json")
        verdict_path = run_dir / "verdict.json"
        verdict = read_json(verdict_path) if verdict_path.exists() else {"status": Outcome.ERROR, "reason": "no verdict.json"}
        status = manifest.get("status")
        if not force and status != "complete":
            raise ConfigError(f"{run_dir}: the run is {status!r} ({manifest.get('reason') or 'no reason given'}); "
                              "only complete runs become baselines (--force to override)")
        if not force and verdict.get("status") not in (Outcome.PASS, Outcome.WARN):
            raise ConfigError(f"{run_dir}: the verdict is {verdict.get('status')} ({verdict.get('reason', '')}); "
                              "only passing runs become baselines (--force to override)")
        record = record_from_run(run_dir, environment, now, forced=force)
        folder = self.folder(record.scenario, environment)
        with self._locked(folder):
            target = folder / f"{record.run_id}.json"
            if target.exists():
                raise ConfigError(f"{record.run_id} is already in the {record.scenario}/{environment} baseline")
            atomic_write(target, json.dumps(record.to_json(), separators=(",", ":")), fsync=True)
            pruned = [r.run_id for r in self._runs_unlocked(folder)[: -self.keep]]
            for run_id in pruned:
                (folder / f"{run_id}.json").unlink()
        return record, pruned

    def remove(self, scenario: str, environment: str, run_id: str) -> None:
        folder = self.folder(scenario, environment)
        if not _SAFE.match(run_id):
            raise ConfigError(f"run id {run_id!r}: expected letters, digits, '-', '_' or '.'")
        with self._locked(folder):
            path = folder / f"{run_id}.json"
            if not path.exists():
                known = ", ".join(r.run_id for r in self._runs_unlocked(folder)) or "none"
                raise ConfigError(f"{run_id} is not in the {scenario}/{environment} baseline (runs: {known})")
            path.unlink()
