"""What limited each step: the load generator, the machine, or the target.

A USL fit describes the target only if the target is what saturated. For every step this reads
the generator's own state from ``health.parquet`` (CPU of each generator process, event-loop
lag, the machine's CPU and hypervisor steal) and the target's CPU from ``metrics.parquet``
(``<name>.cpu`` of each ``process`` or ``host`` source), then:

* a step in which a generator process was CPU-bound or its event loop lagged is
  *generator-limited*: it measured the generator, so the fit leaves it out by default;
* a plateau (throughput flat over a range of users) while the target's CPU stays low is called
  out: the limit lies elsewhere (the generator, the network, a lock, a pool).

Missing data is said, never guessed: a run without ``health.parquet`` gives "generator load
unknown". :func:`read_step_loads` does the reading; everything else is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, ResultsError
from ..runfolder import RunPaths, read_health, read_json, read_metrics
from .inputs import CapacityInput, Point

__all__ = ["StepLoad", "Health", "step_load", "read_step_loads", "plateau", "bottleneck_notes",
           "GENERATOR_CPU_LIMIT", "GENERATOR_LAG_LIMIT_MS", "HOST_CPU_LIMIT", "STEAL_LIMIT", "TARGET_CPU_LOW"]

GENERATOR_CPU_LIMIT = 90.0  # % of one core; Locust itself warns above 90 % (locust.runners CPU_WARNING_THRESHOLD)
GENERATOR_LAG_LIMIT_MS = 50.0  # median per-second worst lag: requests leave (and are timed) 50 ms late
HOST_CPU_LIMIT = 90.0  # % of all cores: the shared machine itself is saturated
STEAL_LIMIT = 10.0  # % of all cores taken by the hypervisor: a noisy neighbour
TARGET_CPU_LOW = 80.0  # % of one core: not even one core busy
PLATEAU_BAND = 0.10  # points within 10 % of the highest throughput ...
PLATEAU_SPAN = 1.5  # ... over at least 1.5× the users form a plateau


@dataclass(frozen=True)
class Health:
    """``health.parquet`` as arrays (one row per second and generator process)."""

    ts: np.ndarray
    worker: np.ndarray
    cpu: np.ndarray
    lag_ms: np.ndarray
    steal: np.ndarray
    host_cpu: np.ndarray


@dataclass(frozen=True)
class StepLoad:
    """What the generator, the machine and the target did during one point's measured window."""

    label: str
    generator_cpu: float | None  # the busiest generator process's mean CPU, % of one core
    generator_lag_ms: float | None  # median over the step's seconds of the worst event-loop lag
    host_cpu: float | None  # the machine, % of all cores
    steal: float | None  # % of all cores
    target_cpu: tuple[tuple[str, float], ...]  # (series, mean % of one core) of each process/host source
    generator_limited: bool
    reason: str  # why generator-limited; "" otherwise
    unknown: str  # why the generator's load is unknown ("no health.parquet"); "" when known

    def to_json(self) -> dict:
        return {"label": self.label, "generator_cpu": self.generator_cpu, "generator_lag_ms": self.generator_lag_ms,
                "host_cpu": self.host_cpu, "steal": self.steal,
                "target_cpu": {name: v for name, v in self.target_cpu}, "generator_limited": self.generator_limited,
                "reason": self.reason, "generator_unknown": self.unknown or None}


def _mean(a: np.ndarray) -> float | None:
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else None


def step_load(label: str, start: float | None, end: float | None, health: Health | None, unknown: str,
              target: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> StepLoad:
    """Summarise one window; a health row covers the second that ends at its ``ts``."""
    if start is None or end is None:
        return StepLoad(label, None, None, None, None, (), False, "", unknown or "no measured window")
    cpu_t = []
    for name, (ts, values) in sorted(target.items()):
        v = _mean(values[(ts >= start) & (ts <= end)])
        if v is not None:
            cpu_t.append((name, v))
    if health is None:
        return StepLoad(label, None, None, None, None, tuple(cpu_t), False, "", unknown)
    mid = health.ts - 0.5
    inside = (mid >= start) & (mid < end)
    if not inside.any():
        return StepLoad(label, None, None, None, None, tuple(cpu_t), False, "", "no health rows in this step")
    workers = health.worker[inside]
    per_worker = [_mean(health.cpu[inside][workers == w]) for w in np.unique(workers)]
    gen_cpu = max((c for c in per_worker if c is not None), default=None)
    seconds = np.round(health.ts[inside])
    lag = health.lag_ms[inside]
    worst = [np.nanmax(lag[seconds == s]) for s in np.unique(seconds) if np.isfinite(lag[seconds == s]).any()]
    gen_lag = float(np.median(worst)) if worst else None
    reasons = []
    if gen_cpu is not None and gen_cpu >= GENERATOR_CPU_LIMIT:
        reasons.append(f"generator CPU {gen_cpu:.0f} % of one core (≥ {GENERATOR_CPU_LIMIT:g} %)")
    if gen_lag is not None and gen_lag >= GENERATOR_LAG_LIMIT_MS:
        reasons.append(f"event-loop lag {gen_lag:.0f} ms (median per-second worst, ≥ {GENERATOR_LAG_LIMIT_MS:g} ms)")
    return StepLoad(label, gen_cpu, gen_lag, _mean(health.host_cpu[inside]), _mean(health.steal[inside]),
                    tuple(cpu_t), bool(reasons), "; ".join(reasons), "")


def _health_of(path: RunPaths) -> Health | None:
    table = read_health(path)
    if table.num_rows == 0:
        return None
    col = (lambda n: np.asarray(table.column(n).to_numpy(zero_copy_only=False), dtype=float))  # noqa: E731
    return Health(col("ts"), np.asarray(table.column("worker").to_pylist(), dtype=object), col("cpu"), col("lag_ms"),
                  col("steal"), col("host_cpu"))


def _target_cpu(path: RunPaths) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``<name>.cpu`` series of the run's ``process`` and ``host`` metric sources."""
    manifest = read_json(path.manifest)
    sources = manifest.get("metrics") if isinstance(manifest, dict) else None
    names = {f"{m['name']}.cpu" for m in sources or ()
             if isinstance(m, dict) and m.get("source") in ("process", "host")}
    if not names:
        return {}
    table = read_metrics(path)
    metric = np.asarray(table.column("metric").to_pylist(), dtype=object)
    ts = np.asarray(table.column("ts").to_numpy(), dtype=float)
    value = np.asarray(table.column("value").to_numpy(zero_copy_only=False), dtype=float)
    return {n: (ts[metric == n], value[metric == n]) for n in sorted(names) if (metric == n).any()}


def read_step_loads(data: CapacityInput) -> tuple[StepLoad, ...]:
    """One :class:`StepLoad` per point of ``data``, read from each run's health and metrics files."""
    if data.kind == "csv":
        return tuple(StepLoad(p.label, None, None, None, None, (), False, "", "CSV input: not measured by loadkit")
                     for p in data.points)
    by_run = {}
    for run in data.runs:
        paths = RunPaths(run.path)
        try:
            health = _health_of(paths)
            target = _target_cpu(paths)
        except ResultsError as exc:
            raise ConfigError(str(exc)) from None
        by_run[run.run_id] = (health, "" if health is not None else "no health.parquet", target)
    out = []
    for p in data.points:
        health, unknown, target = by_run.get(p.run, (None, "not from a run folder", {}))
        out.append(step_load(p.label, p.start, p.end, health, unknown, target))
    return tuple(out)


def plateau(points: Sequence[Point]) -> tuple[int, ...]:
    """Indices of the points forming a plateau: within 10 % of the highest throughput over ≥ 1.5× the users."""
    if len(points) < 2:
        return ()
    top = max(p.throughput for p in points)
    band = [i for i, p in enumerate(points) if p.throughput >= (1 - PLATEAU_BAND) * top]
    ns = [points[i].concurrency for i in band]
    if len(set(ns)) < 2 or max(ns) < PLATEAU_SPAN * min(ns):
        return ()
    return tuple(band)


def _names(points: Sequence[Point], idx: Sequence[int]) -> str:
    """"the steps at N = 2, 4, 8" (per run when the points come from several runs)."""
    runs = list(dict.fromkeys(points[i].run for i in idx))
    several = len({p.run for p in points}) > 1
    parts = [", ".join(f"{points[i].concurrency:g}" for i in idx if points[i].run == run) + (f" of {run}" if several
                                                                                            else "") for run in runs]
    return f"the step{'s' if len(idx) > 1 else ''} at N = " + "; ".join(parts)


def bottleneck_notes(points: Sequence[Point], loads: Sequence[StepLoad], excluded: Sequence[int]) -> tuple[str, ...]:
    """Plain sentences: what the generator, the machine and the target did, and where the limit lies."""
    notes = []
    unknown = sorted({s.unknown for s in loads if s.unknown})
    if unknown and all(s.unknown for s in loads):
        notes.append(f"generator load unknown ({'; '.join(unknown)}): a step the load generator could not drive "
                     "cannot be told from one the target could not serve")
    elif unknown:
        notes.append(f"generator load unknown in {_names(points, [i for i, s in enumerate(loads) if s.unknown])} "
                     f"({'; '.join(unknown)})")
    limited = [i for i, s in enumerate(loads) if s.generator_limited]
    known = [s for s in loads if not s.unknown]
    if known and not limited:
        cpu = max((s.generator_cpu for s in known if s.generator_cpu is not None), default=None)
        lag = max((s.generator_lag_ms for s in known if s.generator_lag_ms is not None), default=None)
        notes.append("the generator kept up in every step it recorded: CPU at most "
                     f"{'n/a' if cpu is None else f'{cpu:.0f} %'} of one core, event-loop lag at most "
                     f"{'n/a' if lag is None else f'{lag:.0f} ms'} (median per second)")
    if limited:
        kept = [i for i in limited if i not in excluded]
        what = "kept in the fit (as asked)" if kept else "left out of the fit"
        notes.append(f"generator-limited, {what}: "
                     + "; ".join(f"{points[i].label}: {loads[i].reason}" for i in limited))
    busy = [i for i, s in enumerate(loads) if s.host_cpu is not None and s.host_cpu >= HOST_CPU_LIMIT]
    if busy:
        notes.append(f"the machine was saturated (CPU ≥ {HOST_CPU_LIMIT:g} % of all cores) in {_names(points, busy)}: "
                     "generator and target compete for it, so the limit measured there may be the machine's")
    stolen = [i for i, s in enumerate(loads) if s.steal is not None and s.steal >= STEAL_LIMIT]
    if stolen:
        notes.append(f"the hypervisor took ≥ {STEAL_LIMIT:g} % of the CPU (steal) in {_names(points, stolen)}: "
                     "a noisy neighbour; repeat on a quieter machine")
    flat = plateau(points)
    if flat:
        n_lo, n_hi = min(points[i].concurrency for i in flat), max(points[i].concurrency for i in flat)
        top = max(p.throughput for p in points)
        text = (f"plateau: throughput stayed within {PLATEAU_BAND:.0%} of its highest ({top:.4g}/s) from "
                f"N = {n_lo:g} to N = {n_hi:g}")
        series: dict[str, list[float]] = {}
        for i in flat:
            for name, v in loads[i].target_cpu:
                series.setdefault(name, []).append(v)
        gen = [i for i in flat if loads[i].generator_limited]
        if gen:
            text += (f"; the generator saturated in {_names(points, gen)}, so that part of the plateau is the "
                     "generator's")
        if not series and any(s.unknown.startswith("CSV") for s in loads):
            text += "; the target's CPU was not measured (CSV input), so whether it is the limit cannot be told"
        elif not series:
            text += ("; the target's CPU is unknown (no process or host metric source: add one under metrics: or pass "
                     "--target-pid), so whether the target's CPU is the limit cannot be told")
        else:
            cpu = {name: sum(v) / len(v) for name, v in series.items()}
            shown = ", ".join(f"{v:.0f} % of one core ({name})" for name, v in cpu.items())
            if max(cpu.values()) < TARGET_CPU_LOW:
                blind = any(loads[i].unknown for i in flat)
                where = ("the load generator (its load was not recorded), " if blind else "") + \
                    "the network, a lock or a connection pool"
                text += (f" while the target's CPU stayed low ({shown}): the limit lies elsewhere: {where}, "
                         "not the target's CPU")
            else:
                text += f" with the target's CPU at {shown}: consistent with a CPU limit in the target"
        if min(points[i].concurrency for i in flat) <= min(p.concurrency for p in points):
            text += "; it starts at the lowest step, so the system was saturated from the start: begin the steps lower"
        notes.append(text)
    return tuple(notes)

