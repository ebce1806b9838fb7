"""Measured (concurrency, throughput, latency) points, from a CSV file or from run folders.

Three sources, chosen by :func:`load_points`:

* a CSV file with the header ``concurrency,throughput[,latency_ms]`` (lines starting with ``#``
  are comments, e.g. where the data comes from);
* one run folder of a step-load run: one point per step (:func:`points_from_run`);
* several run folders, each run at one load level: one point per run (:func:`points_from_runs`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ResultsError
from ..runfolder import RunPaths, failed_mask, read_json, read_samples

__all__ = ["Point", "Stage", "read_points_csv", "points_from_run", "points_from_runs", "stages_from_manifest",
           "load_points", "RAMP_FRACTION", "WINDOW_S"]

RAMP_FRACTION = 0.2  # first part of each step left out: users are still being spawned, queues still filling
WINDOW_S = 10.0  # width of the time windows when a run records no stages


@dataclass(frozen=True)
class Point:
    """One measured load level: N users, X successful requests/s, and optionally mean latency in ms."""

    concurrency: float
    throughput: float
    latency_ms: float | None = None
    label: str = ""  # where it comes from: a CSV line, a step, a run id


@dataclass(frozen=True)
class Stage:
    """A step of constant users between two epoch times (``manifest.json`` key ``stages``)."""

    start: float
    end: float
    users: float


def read_points_csv(path: str | Path) -> list[Point]:
    """Points from ``concurrency,throughput[,latency_ms]``; every bad line is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise ConfigError(f"{path}: no data (expected a header concurrency,throughput[,latency_ms])")
    rows = list(csv.reader([line for _, line in lines]))
    header = [h.strip().lower() for h in rows[0]]
    if header[:2] != ["concurrency", "throughput"] or header[2:] not in ([], ["latency_ms"]):
        raise ConfigError(f"{path}:{lines[0][0]}: expected the header concurrency,throughput[,latency_ms], "
                          f"got {','.join(rows[0])}")
    points = []
    for (lineno, _), row in zip(lines[1:], rows[1:], strict=True):
        if len(row) != len(header):
            raise ConfigError(f"{path}:{lineno}: expected {len(header)} values, got {len(row)}")
        try:
            values = [float(v) for v in row]
        except ValueError:
            raise ConfigError(f"{path}:{lineno}: not a number in {','.join(row)!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise ConfigError(f"{path}:{lineno}: values must be finite numbers")
        if values[0] <= 0:
            raise ConfigError(f"{path}:{lineno}: concurrency must be positive, got {values[0]:g}")
        points.append(Point(values[0], values[1], values[2] if len(values) == 3 else None, f"{path.name}:{lineno}"))
    return points


def stages_from_manifest(manifest: dict[str, Any], where: str = "manifest.json") -> list[Stage] | None:
    """``manifest["stages"]`` as :class:`Stage` objects, or None when the run did not record them."""
    raw = manifest.get("stages")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: 'stages' must be a list of {{start, end, users}}")
    stages = []
    for i, s in enumerate(raw):
        if isinstance(s, dict) and s.get("start") is None and "users" in s:
            continue  # a stage the run never reached (stopped early)
        try:
            stage = Stage(float(s["start"]), float(s["end"]), float(s["users"]))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{where}: stages[{i}] needs numeric start, end (epoch seconds) and users") from None
        if stage.end <= stage.start:
            raise ConfigError(f"{where}: stages[{i}] ends before it starts")
        stages.append(stage)
    return stages


def _read_samples(paths: RunPaths) -> dict[str, np.ndarray]:
    if not paths.samples.is_file():
        raise ConfigError(f"{paths.samples}: missing; is this a finished loadkit run folder?")
    try:
        table = read_samples(paths, ["ts", "latency_ms", "error"])
    except ResultsError as exc:
        raise ConfigError(str(exc)) from None
    return {"ts": table.column("ts").to_numpy(), "latency_ms": table.column("latency_ms").to_numpy(),
            "ok": ~failed_mask(table.column("error"))}


def _latency(values: np.ndarray, statistic: str) -> float | None:
    if values.size == 0:
        return None
    return float(np.percentile(values, 95)) if statistic == "p95" else float(values.mean())


def points_from_run(run_dir: str | Path, *, latency: str = "mean", ramp_fraction: float = RAMP_FRACTION,
                    window_s: float = WINDOW_S, stages: Sequence[Stage] | None = None) -> list[Point]:
    """One point per step of a step-load run.

    Steps come from ``stages`` if given, else ``manifest.json`` key ``stages``
    (``[{"start": epoch_s, "end": epoch_s, "users": N}, …]``). Within each step the first
    ``ramp_fraction`` is skipped; throughput = successful requests that started in the rest,
    per second; latency = mean (or ``"p95"``) of those requests. Use ``"mean"`` when comparing
    with Little's law, which is about means.

    Without stages the run is cut into ``window_s`` windows and N is estimated per window with
    Little's law as the mean number of requests in flight (Σ latency / window length; Schwartz,
    *Practical Scalability Analysis with the USL*, 2015). That N counts requests, not users, and
    the latency is then not an independent check of the fit.
    """
    if latency not in ("mean", "p95"):
        raise ConfigError(f"latency statistic must be 'mean' or 'p95', got {latency!r}")
    if not 0 <= ramp_fraction < 1:
        raise ConfigError(f"ramp fraction must be in [0, 1), got {ramp_fraction:g}")
    paths = RunPaths(Path(run_dir))
    manifest = read_json(paths.manifest)
    if stages is None:
        stages = stages_from_manifest(manifest, str(paths.manifest))
    s = _read_samples(paths)
    ts, lat, ok = s["ts"], s["latency_ms"], s["ok"]
    points = []
    if stages is not None:
        for i, st in enumerate(stages):
            start = st.start + ramp_fraction * (st.end - st.start)
            inside = (ts >= start) & (ts < st.end) & ok
            points.append(Point(st.users, float(inside.sum()) / (st.end - start), _latency(lat[inside], latency),
                                f"step {i + 1} ({st.users:g} users)"))
        return points
    if window_s <= 0:
        raise ConfigError(f"window must be positive, got {window_s:g}s")
    if ts.size == 0:
        raise ConfigError(f"{paths.samples}: no requests")
    t0, t1 = float(ts.min()), float(ts.max())
    count = max(1, int((t1 - t0) // window_s))
    for i in range(count):
        lo, hi = t0 + i * window_s, t0 + (i + 1) * window_s
        inside = (ts >= lo) & (ts < hi)
        in_flight = float(lat[inside].sum()) / 1000.0 / window_s
        good = inside & ok
        if in_flight > 0:
            points.append(Point(in_flight, float(good.sum()) / window_s, _latency(lat[good], latency),
                                f"window {i + 1} (+{lo - t0:.0f}s)"))
    return points


def points_from_runs(run_dirs: Sequence[str | Path], *, latency: str = "mean") -> list[Point]:
    """One point per run: N = ``manifest["users"]``, X = goodput from ``summary.json``.

    X = ``requests.rps × (1 − requests.error_rate)``, the successful requests per second of the
    checked window (equal to ``rps`` when nothing failed): fast failures are not capacity.
    """
    if latency not in ("mean", "p95"):
        raise ConfigError(f"latency statistic must be 'mean' or 'p95', got {latency!r}")
    points = []
    for run_dir in run_dirs:
        paths = RunPaths(Path(run_dir))
        manifest = read_json(paths.manifest)
        summary = read_json(paths.summary)
        users = manifest.get("users")
        if not isinstance(users, (int, float)) or isinstance(users, bool) or users <= 0:
            raise ConfigError(f"{paths.manifest}: no positive 'users' (the run's maximum user count); "
                              "cannot place this run on the concurrency axis")
        try:
            req = summary["requests"]
            x = float(req["rps"]) * (1.0 - float(req.get("error_rate", 0.0)))
            lat_stats = req.get("latency_ms") or {}
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{paths.summary}: no requests.rps") from None
        lat = lat_stats.get("p95" if latency == "p95" else "mean")
        points.append(Point(float(users), x, None if lat is None else float(lat),
                            str(manifest.get("run_id") or paths.root.name)))
    return points


def load_points(sources: Sequence[str | Path], *, latency: str = "mean") -> list[Point]:
    """Dispatch on the sources: one CSV file, one step-load run folder, or several run folders."""
    if not sources:
        raise ConfigError("capacity: give a CSV file or one or more run folders")
    paths = [Path(s) for s in sources]
    for p in paths:
        if not p.exists():
            raise ConfigError(f"{p}: no such file or folder")
    dirs = [p for p in paths if p.is_dir()]
    if dirs and len(dirs) != len(paths):
        raise ConfigError("capacity: give either one CSV file or run folders, not both")
    if not dirs:
        if len(paths) != 1:
            raise ConfigError("capacity: give one CSV file (or several run folders)")
        return read_points_csv(paths[0])
    if len(dirs) == 1:
        return points_from_run(dirs[0], latency=latency)
    return points_from_runs(dirs, latency=latency)
