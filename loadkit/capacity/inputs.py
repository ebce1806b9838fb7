"""Measured (concurrency, throughput, latency) points, from a CSV file or from run folders.

Three sources, chosen by :func:`load_points`:

* a CSV file with the header ``concurrency,throughput[,latency_ms]`` (lines starting with ``#``
  are comments, e.g. where the data comes from);
* one run folder of a step-load run: one point per step (:func:`points_from_run`);
* several run folders, each run at one load level: one point per run (:func:`points_from_runs`);
* several step-load runs of one scenario: their steps pooled, each point tagged with its run
  (:func:`load_input`), so that :mod:`.repeat` can say whether the runs agree.

Each point from a run keeps its measured window, so that :mod:`.bottleneck` can read what the
generator and the target were doing in it.
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

__all__ = ["Point", "Stage", "RunInfo", "CapacityInput", "read_points_csv", "points_from_run", "points_from_runs",
           "stages_from_manifest", "load_points", "load_input", "RAMP_FRACTION", "WINDOW_S"]

RAMP_FRACTION = 0.2  # first part of each step left out: users are still being spawned, queues still filling
WINDOW_S = 10.0  # width of the time windows when a run records no stages


@dataclass(frozen=True)
class Point:
    """One measured load level: N users, X successful requests/s, and optionally mean latency in ms."""

    concurrency: float
    throughput: float
    latency_ms: float | None = None
    label: str = ""  # where it comes from: a CSV line, a step, a run id
    run: str = ""  # the run id of a point measured by loadkit; "" for CSV input
    start: float | None = None  # the measured window, epoch seconds (the ramp of a step left out)
    end: float | None = None
    throughput_se: float | None = None  # standard error of the step's rate, from its per-second counts


@dataclass(frozen=True)
class RunInfo:
    """A run folder the points came from: where it is and what ran."""

    run_id: str
    path: Path
    scenario: str
    scenario_sha256: str
    overrides: tuple[str, ...]
    step_users: tuple[float, ...]  # users of each step (empty for a run at one load level)
    step_seconds: tuple[float, ...]  # each step's measured length (after the ramp)


@dataclass(frozen=True)
class CapacityInput:
    """The points and their origin: ``kind`` is ``csv``, ``step`` (one or more step runs) or ``levels``."""

    points: tuple[Point, ...]
    runs: tuple[RunInfo, ...]
    kind: str


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


def _rate_se(ts: np.ndarray, start: float, end: float) -> float | None:
    """Standard error of a rate from its whole-second counts (None with fewer than 2 seconds)."""
    seconds = int(end - start)
    if seconds < 2:
        return None
    counts = np.bincount(((ts[(ts >= start) & (ts < start + seconds)] - start) // 1).astype(int), minlength=seconds)
    return float(np.std(counts[:seconds], ddof=1) / math.sqrt(seconds))


def _run_id(paths: RunPaths, manifest: dict[str, Any]) -> str:
    return str(manifest.get("run_id") or paths.root.name)


def points_from_run(run_dir: str | Path, *, latency: str = "mean", ramp_fraction: float = RAMP_FRACTION,
                    window_s: float = WINDOW_S, stages: Sequence[Stage] | None = None, prefix: str = "") -> list[Point]:
    """One point per step of a step-load run.

    Steps come from ``stages`` if given, else ``manifest.json`` key ``stages``
    (``[{"start": epoch_s, "end": epoch_s, "users": N}, …]``). Within each step the first
    ``ramp_fraction`` is skipped; throughput = successful requests that started in the rest,
    per second; latency = mean (or ``"p95"``) of those requests. Use ``"mean"`` when comparing
    with Little's law, which is about means.

    Without stages the run is cut into ``window_s`` windows and N is estimated per window with
    Little's law as the mean number of requests in flight (Σ latency / window length; Schwartz,
    *Practical Scalability Analysis with the USL*, 2015). That N counts requests, not users, and
    the latency is then not an independent check of the fit. ``prefix`` starts every label.
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
    run = _run_id(paths, manifest)
    points = []
    if stages is not None:
        for i, st in enumerate(stages):
            start = st.start + ramp_fraction * (st.end - st.start)
            inside = (ts >= start) & (ts < st.end) & ok
            points.append(Point(st.users, float(inside.sum()) / (st.end - start), _latency(lat[inside], latency),
                                f"{prefix}step {i + 1} ({st.users:g} users)", run, start, st.end,
                                _rate_se(ts[ok], start, st.end)))
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
                                f"{prefix}window {i + 1} (+{lo - t0:.0f}s)", run, lo, hi, _rate_se(ts[ok], lo, hi)))
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
        window = summary.get("window") if isinstance(summary.get("window"), dict) else {}
        start, end = window.get("start"), window.get("end")
        run = _run_id(paths, manifest)
        points.append(Point(float(users), x, None if lat is None else float(lat), run, run,
                            float(start) if isinstance(start, (int, float)) else None,
                            float(end) if isinstance(end, (int, float)) else None))
    return points


def _run_info(path: Path, ramp_fraction: float = RAMP_FRACTION) -> RunInfo:
    paths = RunPaths(path)
    manifest = read_json(paths.manifest)
    if not isinstance(manifest, dict):
        raise ConfigError(f"{paths.manifest}: not a loadkit manifest")
    stages = stages_from_manifest(manifest, str(paths.manifest)) or []
    scenario = manifest.get("scenario") if isinstance(manifest.get("scenario"), dict) else {}
    is_step = manifest.get("load") == "step" or len({st.users for st in stages}) >= 2
    return RunInfo(_run_id(paths, manifest), path, str(scenario.get("name") or ""), str(scenario.get("sha256") or ""),
                   tuple(map(str, scenario.get("overrides") or ())),
                   tuple(st.users for st in stages) if is_step else (),
                   tuple((st.end - st.start) * (1 - ramp_fraction) for st in stages) if is_step else ())


def load_input(sources: Sequence[str | Path], *, latency: str = "mean") -> CapacityInput:
    """The points of one CSV file, one step-load run, several step runs of one scenario (pooled), or
    several runs each at one load level (one point per run); mixing them is a ConfigError."""
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
        return CapacityInput(tuple(read_points_csv(paths[0])), (), "csv")
    try:
        runs = tuple(_run_info(d) for d in dirs)
    except ResultsError as exc:
        raise ConfigError(str(exc)) from None
    if len({r.run_id for r in runs}) != len(runs):
        raise ConfigError("capacity: the same run is given twice")
    if len(runs) == 1:
        return CapacityInput(tuple(points_from_run(dirs[0], latency=latency)), runs, "step")
    steps = [bool(r.step_users) for r in runs]
    if all(steps):
        names = sorted({r.scenario for r in runs})
        if len(names) > 1:
            raise ConfigError(f"capacity: step runs of different scenarios ({', '.join(names)}) cannot be pooled; "
                              "give runs of one scenario")
        pts = [p for d, r in zip(dirs, runs, strict=True) for p in points_from_run(d, latency=latency,
                                                                                   prefix=f"{r.run_id}: ")]
        return CapacityInput(tuple(pts), runs, "step")
    if any(steps):
        named = ", ".join(r.run_id for r, s in zip(runs, steps, strict=True) if s)
        raise ConfigError(f"capacity: {named} are step runs and the others are not; give step runs of one "
                          "scenario (pooled) or runs each at one load level (one point per run)")
    return CapacityInput(tuple(points_from_runs(dirs, latency=latency)), runs, "levels")


def load_points(sources: Sequence[str | Path], *, latency: str = "mean") -> list[Point]:
    """The points of :func:`load_input`."""
    return list(load_input(sources, latency=latency).points)
