"""What a run records about itself: the manifest, the collectors' state, the metric summary, the open-model rates."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..analysis import Summary, summarize_metrics
from ..collectors import SOURCES, CollectorSet, MetricSpec
from ..collectors.base import series_key
from ..redact import strip_url
from ..runfolder import RunPaths, git_commit, iso, read_metrics, versions, write_table
from ..scenario.model import OpenLoad, Scenario
from ..status import RunStatus
from .openmodel import check_interval, intended_counts, shortfalls

__all__ = ["start_manifest", "record_collectors", "finish_manifest", "metrics_summary", "write_rates"]


def start_manifest(s: Scenario, paths: RunPaths, workers: int, environment: str, started: float) -> dict:
    """The manifest as written when the run starts (status ``running``)."""
    return {
        "schema": 1,
        "run_id": paths.root.name,
        "scenario": {"name": s.name, "file": os.path.relpath(s.file), "sha256": s.content_hash,
                     "overrides": list(s.overrides)},
        "status": RunStatus.RUNNING,
        "reason": "",
        "start": iso(started),
        "end": None,
        "duration_s": None,
        "planned_duration_s": s.load.duration,
        "target": strip_url(s.target.host),
        "workers": workers,
        "environment": environment,
        "checks": [{"check": c.text, "severity": c.severity, "nodata": c.nodata} for c in s.checks],
        "compare": [c.text for c in s.compare],
        "abort": [a.text for a in s.abort],
        "load": s.load.kind,
        "stages": [{"duration_s": st.duration, "users": st.users, "spawn_rate": st.spawn_rate} for st in s.load.stages],
        "open_model": None if s.load.open is None else {
            "source": s.load.open.source, "concurrency": s.load.open.concurrency,
            "arrivals": s.load.open.arrivals, "peak_rate": s.load.open.peak_rate,
            "mix": dict(s.load.open.mix), "unmapped": [{"endpoint": e, "share": sh} for e, sh in s.load.open.unmapped]},
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
    if scenario.load.open and scenario.load.open.unmapped:
        manifest.setdefault("warnings", []).append(
            "profile endpoints with no request in map: " + ", ".join(
                f"{e} ({sh:.1%})" for e, sh in scenario.load.open.unmapped[:10]))
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


def write_rates(paths: RunPaths, load: OpenLoad, started: float, ended: float) -> str:
    """Write intended vs achieved starts per interval (``rate.parquet``); why the run is invalid, if it is."""
    import pyarrow as pa

    from ..runfolder import read_samples

    interval = check_interval(load.peak_rate)
    span = min(load.duration, ended - started)
    n = int(span // interval)  # complete intervals only
    if n < 1:
        return ""
    intended = intended_counts(load, interval, n * interval)
    starts = np.empty(0)
    if paths.parts.is_dir() and any(paths.parts.glob("part-*.parquet")):
        table = read_samples(paths, ["ts", "intended_ts"])
        ts, planned = table.column("ts").to_numpy(), table.column("intended_ts").to_numpy(zero_copy_only=False)
        starts = ts[~np.isnan(planned.astype(float))]
    idx = ((starts - started) // interval).astype(int)
    achieved = np.bincount(idx[(idx >= 0) & (idx < n)], minlength=n)[:n]
    write_table(paths.rate, pa.table({"ts": [started + i * interval for i in range(n)], "interval_s": [interval] * n,
                                      "intended": intended / interval, "achieved": achieved / interval}))
    bad = shortfalls(intended, achieved, interval)
    if not bad:
        return ""
    offset, want, got = bad[0]
    return (f"the load generator fell behind: {got:.1f}/s achieved of {want:.1f}/s intended at "
            f"{offset:g}s ({len(bad)} interval(s) short by more than 5%), so the run did not apply the planned "
            f"load (all {load.concurrency} users busy, or the generator short of CPU): "
            f"raise load.concurrency (now {load.concurrency}) or add --workers")
