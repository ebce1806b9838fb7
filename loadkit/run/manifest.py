"""What a run records about itself: the manifest, the collectors' state, the metric and health summaries,
the open-model plan and its rates."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..analysis import OpenPlan, Summary, summarize_metrics
from ..analysis.health import GeneratorHealth, summarize_health
from ..collectors import SOURCES, CollectorSet, MetricSpec
from ..collectors.base import series_key
from ..redact import Redactor, strip_url
from ..runfolder import RunPaths, git_commit, iso, numbers, read_health, read_metrics, versions, write_table
from ..scenario.model import OpenLoad, Scenario
from ..status import RunStatus
from .openmodel import check_interval, intended_counts, planned_duration

__all__ = ["start_manifest", "record_collectors", "finish_manifest", "metrics_summary", "health_summary",
           "open_plan", "write_rates"]


def start_manifest(s: Scenario, paths: RunPaths, workers: int, environment: str, started: float, seed: int,
                   redactor: Redactor) -> dict:
    """The manifest as written when the run starts (status ``running``); every text redacted."""
    o = s.load.open
    return {
        "schema": 2,
        "run_id": paths.root.name,
        "scenario": {"name": s.name, "file": os.path.relpath(s.file), "sha256": s.content_hash,
                     "overrides": [redactor.text(x) for x in s.overrides]},
        "status": RunStatus.RUNNING,
        "reason": "",
        "start": iso(started),
        "end": None,
        "duration_s": None,
        "planned_duration_s": planned_duration(o) if o else round(s.load.duration, 9),
        "target": strip_url(s.target.host),
        "workers": workers,
        "environment": environment,
        "checks": [{"check": c.text, "severity": c.severity, "nodata": c.nodata} for c in s.checks],
        "compare": [c.text for c in s.compare],
        "abort": [a.text for a in s.abort],
        "parity": None if s.environment.parity is None else s.environment.parity.to_json(),
        "load": s.load.kind,
        "timeout_s": s.timeout,
        "stages": [] if s.load.kind == "shape" else
        [{"duration_s": st.duration, "users": st.users, "spawn_rate": st.spawn_rate} for st in s.load.stages],
        "shape": None if s.load.shape is None else f"{os.path.relpath(s.load.shape.file)}:{s.load.shape.class_name}",
        "seed": seed,
        "open_model": None if o is None else {
            "source": o.source, "concurrency": o.concurrency, "arrivals": o.arrivals, "peak_rate": o.peak_rate,
            "mix": dict(o.mix), "unmapped": [{"endpoint": e, "share": sh} for e, sh in o.unmapped],
            "unmapped_mode": o.unmapped_mode},
        "versions": versions(),
        "git": git_commit(Path.cwd()),
    }


def record_collectors(manifest: dict, collectors: CollectorSet) -> None:
    """The metric sources, the ones that failed and why, their notes and what sampling cost."""
    manifest["metrics"] = [{"name": m.name, "source": m.source} for m in collectors.specs]
    manifest["metrics_missing"] = dict(collectors.missing)
    for name, reason in collectors.missing.items():
        manifest.setdefault("warnings", []).append(f"metric source {name!r} failed: {reason}")
    for name, lines in collectors.notes.items():
        manifest.setdefault("warnings", []).extend(f"metric source {name!r}: {line}" for line in lines)
    if collectors.cost is not None:
        manifest["collector_cost"] = {"cpu_ms_per_sample": round(collectors.cost.cpu_ms_per_sample(), 3),
                                      "samples": collectors.cost.samples}


def finish_manifest(manifest: dict, scenario: Scenario, started: float, ended: float, status: RunStatus, reason: str,
                    samples: int, locust_requests: int, locust_failures: int, workers: int) -> None:
    """The manifest's final state: status, times, counts, when each stage ran."""
    t = started
    for st in manifest.get("stages", []):  # when each stage ran, for per-step analysis (capacity)
        ran = t < ended
        st["start"], st["end"] = (t, min(t + st["duration_s"], ended)) if ran else (None, None)
        t += st["duration_s"]
    o = scenario.load.open
    if o is not None:
        manifest.setdefault("warnings", []).extend(getattr(o, "warnings", ()))
        if o.unmapped:
            manifest["warnings"].append("profile endpoints with no request in map: " + ", ".join(
                f"{e} ({sh:.1%})" for e, sh in o.unmapped[:10]))
    manifest.update({"status": status, "reason": reason, "end": iso(ended), "duration_s": round(ended - started, 3),
                     "samples": samples, "workers": workers,
                     "locust_totals": {"requests": locust_requests, "failures": locust_failures}})


def metrics_summary(paths: RunPaths, specs: Sequence[MetricSpec], summary: Summary) -> dict:
    """Each collected series summarised over the checked window (``summary.json`` ``metrics``)."""
    t = read_metrics(paths)
    if t.num_rows == 0:
        return {}
    metric = t.column("metric").to_pylist()
    labels = t.column("labels").to_pylist()
    keys = np.array([series_key(m, lab) for m, lab in zip(metric, labels, strict=True)], dtype=object)
    units = {f"{m.name}.{f.name}": f.unit for m in specs for f in SOURCES[m.source].fields if f.name}
    return summarize_metrics(t.column("ts").to_numpy(), keys, t.column("value").to_numpy(), units,
                             summary.window_start, summary.window_end, summary.requests.total)


def health_summary(paths: RunPaths, window: tuple[float, float]) -> GeneratorHealth:
    t = read_health(paths)

    def col(name: str) -> np.ndarray:
        return numbers(t.column(name))

    return summarize_health(col("ts"), col("cpu"), col("lag_ms"), col("steal"), col("host_cpu"), window, col("wait"))


def open_plan(load: OpenLoad, seed: int, started: float) -> OpenPlan:
    """What the schedule intended per interval, binned as the issued starts will be."""
    duration = planned_duration(load)
    interval = check_interval(load.requests_total / duration if duration else load.peak_rate)
    counts = intended_counts(load, interval, duration, seed, started)
    return OpenPlan(started, interval, tuple(int(x) for x in counts), load.concurrency)


def write_rates(paths: RunPaths, summary: Summary) -> None:
    """Intended and issued starts per interval as ``rate.parquet`` (the report's rate chart)."""
    om = summary.open_model
    if om is None or not om.intended:
        return
    n = len(om.intended)
    start = summary.run.start if summary.run else summary.window_start
    write_table(paths.rate, pa.table({
        "ts": [start + i * om.interval for i in range(n)], "interval_s": [om.interval] * n,
        "intended": [c / om.interval for c in om.intended], "achieved": [c / om.interval for c in om.issued],
        # with workers, each one's share: one that was lost shows as its column falling to zero
        **({f"achieved {w}": [c / om.interval for c in counts] for w, counts in om.by_worker}
           if len(om.by_worker) > 1 else {})}))
