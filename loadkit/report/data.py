"""What the report shows, read from a run folder and reduced to small per-bin series.

The request charts come from the summary's ``timeline`` (requests, failures, completions,
p50/p95/p99 and error kinds per bin, binned over the whole run when the run was summarised),
so writing a report never reads ``samples.parquet`` again: a one-hour run at 500 RPS is 1.8 M
rows, the timeline a few hundred bins. Runs summarised before the timeline existed, and
unfinished runs without a summary, fall back to the samples (and the report says so). Every
optional input that is absent or unreadable becomes a line in ``missing`` instead of an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..analysis.summary import INFLIGHT, MAX_BINS, bin_width
from ..baseline import WINDOW_S, BaselineRun, BaselineStore
from ..errors import LoadkitError
from ..runfolder import RunPaths, failed_mask, read_health, read_json, read_metrics, read_samples, read_table
from .facts import RunTruth, truth_of

__all__ = ["Timeline", "Band", "MetricPanel", "RateSeries", "ReportData", "Ref", "load_report_data", "bin_width",
           "check_ref", "MAX_BINS", "TOP_ERRORS", "MAX_METRIC_PANELS"]

TOP_ERRORS = 5
#: Panels drawn for metrics no check looks at (those a check or comparison uses are always drawn, first).
MAX_METRIC_PANELS = 12
MAX_SERIES_PER_PANEL = 5
#: Health columns charted beside the collector metrics, as ``generator.<column>``.
GENERATOR_SERIES = ("cpu", "lag_ms", "steal")
#: Statistics of a metric check whose limit can be drawn on the metric's own scale.
_DRAWN_STATS = ("mean", "min", "max", "p95")


@dataclass(frozen=True, eq=False)
class Timeline:
    """Per-bin series of the run; ``x`` is the bin centre in seconds since the load started."""

    bin_s: float
    x: np.ndarray
    requests: np.ndarray  # started in the bin
    rps: np.ndarray  # started per second; NaN for a last bin too short to give a rate
    completed: np.ndarray  # completed per second (a request still in flight at the end never completed)
    p50: np.ndarray  # ms over successful requests, NaN where none succeeded
    p95: np.ndarray
    p99: np.ndarray
    errors: tuple[tuple[str, np.ndarray], ...]  # (error text or "other …", failures per bin), most frequent first
    total: int
    failures: int
    source: str = "summary.json"  # or "samples.parquet" (older or unfinished runs)


@dataclass(frozen=True, eq=False)
class Band:
    """The baseline runs' p95 per 10 s window, aligned on the checked window's start."""

    x: np.ndarray
    low: np.ndarray
    high: np.ndarray
    median: np.ndarray
    runs: int


@dataclass(frozen=True)
class Limit:
    """An absolute check on a metric, drawn on its panel when its statistic is on the metric's scale."""

    check: str
    status: str
    value: float | None  # None: not drawable (per_request, or no limit)


@dataclass(frozen=True, eq=False)
class MetricPanel:
    name: str
    group: str  # the prefix (``db``, ``target``, ``generator``), or "checked" for the metrics checks use
    series: tuple[tuple[str, np.ndarray, np.ndarray], ...]  # (labels, x, value)
    checks: tuple[Limit, ...] = ()  # the checks and comparisons that use this metric


@dataclass(frozen=True, eq=False)
class Distribution:
    """One endpoint's latency distribution (the checked window's undisturbed slices) and the baseline runs'
    at the same probabilities: min, median and max over the runs."""

    name: str
    p: np.ndarray
    current: np.ndarray
    low: np.ndarray | None = None
    median: np.ndarray | None = None
    high: np.ndarray | None = None
    runs: int = 0


def distributions(summary: Mapping[str, Any] | None, runs: Sequence[BaselineRun], top: int = 3) -> tuple[Distribution, ...]:
    """All requests and the ``top`` busiest endpoints, each over its baseline band where the runs have it."""
    from ..analysis.windows import GRID

    robust = (summary or {}).get("robust") or {}
    p = np.asarray(GRID)
    chosen = [("all requests", "", robust.get("requests") or {})]
    eps = sorted((robust.get("endpoints") or {}).items(), key=lambda kv: -int(kv[1].get("total") or 0))
    chosen += [(key, key.split(" ", 1)[-1], stats) for key, stats in eps[:top]]
    out = []
    for label, hist_key, stats in chosen:
        grid = stats.get("grid")
        if not grid or len(grid) != p.size:
            continue
        hists = [r.histograms[hist_key] for r in runs if hist_key in r.histograms and r.histograms[hist_key].total]
        if hists:
            band = np.array([[h.quantile(float(q)) for q in GRID] for h in hists], dtype=float)
            out.append(Distribution(label, p, np.asarray(grid, float), band.min(axis=0), np.median(band, axis=0),
                                    band.max(axis=0), len(hists)))
        else:
            out.append(Distribution(label, p, np.asarray(grid, float)))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class RateSeries:
    x: np.ndarray
    intended: np.ndarray | None
    achieved: np.ndarray | None
    source: str  # "rate.parquet" or "manifest stages"


@dataclass(frozen=True, eq=False)
class ReportData:
    run_dir: Path
    manifest: dict
    summary: dict | None
    verdict: dict | None
    environment: dict | None
    t0: float  # load start, Unix seconds: x = 0 in every chart
    window: tuple[float, float] | None  # checked window, seconds since t0
    timeline: Timeline | None
    band: Band | None
    baseline_runs: tuple[BaselineRun, ...]
    baseline_label: str  # "scenario/environment"
    rate: RateSeries | None
    planned_users: tuple[np.ndarray, np.ndarray] | None  # step (x, users) from the manifest stages
    metrics: tuple[MetricPanel, ...]
    missing: tuple[str, ...]
    span: float = 0.0  # seconds from the load's start to its end: every chart's x axis, so a hang shows
    truth: RunTruth = field(default_factory=RunTruth)
    not_charted: tuple[str, ...] = ()  # metrics left out of the chart, and why
    distributions: tuple[Distribution, ...] = ()  # the latency distribution over the baseline runs' band


# -- what a check looks at ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """What a check or comparison is about: the whole run, an endpoint, a group or a collected metric."""

    kind: str  # "run", "endpoint", "group", "metric"
    name: str | None = None


_COUNTER = re.compile(r"^\s*(?:error_rate|rps|requests|failures)\s*(?:\(\s*(?P<ep>[^()]+?)\s*\))?\s*(?:[<>]|$)")
_STAT = re.compile(r"^\s*[a-z][a-z0-9._]*\s*\(\s*(?P<metric>[A-Za-z_][\w.]*(?:\{[^}]*\})?)\s*"
                   r"(?:,\s*(?P<ep>[^()]+?)\s*)?\)")


def check_ref(check: Mapping[str, Any]) -> Ref:
    """The subject of a verdict.json check (the compared ``key`` for a comparison, else the check text).

    Built-in checks (stall, schedule, exceptions, hosts) are about the whole run.
    """
    if check.get("kind") == "built-in":
        return Ref("run")
    text = str(check.get("key") or check.get("check") or "") if check.get("kind") == "relative" \
        else str(check.get("check") or "")
    m = _COUNTER.match(text)
    ep = None
    if m:
        ep = m.group("ep")
    else:
        m = _STAT.match(text)
        if m is None:
            return Ref("run")
        if m.group("metric") != "latency":
            return Ref("metric", m.group("metric"))
        ep = m.group("ep")
    if ep is None:
        return Ref("run")
    if ep.startswith("group="):
        return Ref("group", ep.split("=", 1)[1])
    return Ref("endpoint", ep)


def resolve_endpoint(ref: str, endpoints: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The ``METHOD name`` key a check's endpoint means, as the verdict looked it up: the key itself,
    or a name used by exactly one method (schema-1 summaries are keyed by name alone)."""
    if ref in endpoints:
        return ref
    hits = [k for k, v in endpoints.items() if isinstance(v, Mapping) and v.get("name") == ref]
    return hits[0] if len(hits) == 1 else None


# -- reading -----------------------------------------------------------------------------------------
def _optional_json(path: Path, missing: list[str], why: str) -> dict | None:
    if not path.exists():
        missing.append(f"no {path.name}: {why}")
        return None
    try:
        data = read_json(path)
    except LoadkitError as exc:
        missing.append(str(exc))
        return None
    return data if isinstance(data, dict) else None


def _read_samples(run_dir: Path, missing: list[str]) -> pa.Table | None:
    paths = RunPaths(run_dir)
    if not paths.samples.exists():
        if not any(paths.parts.glob("part-*.parquet")) if paths.parts.is_dir() else True:
            missing.append("no samples.parquet: no request timeline")
            return None
        missing.append("no samples.parquet: the run was not finished; charts use the parts in samples.parts/")
    try:
        return read_samples(paths, ["ts", "latency_ms", "error"])
    except LoadkitError as exc:
        missing.append(str(exc))
        return None


def _percentiles(bins: np.ndarray, lat: np.ndarray, nbins: int, qs: tuple[float, ...]) -> list[np.ndarray]:
    """Exact per-bin percentiles (numpy's linear interpolation), no Python loop per bin.

    Sorted by latency, then stably by bin: a radix sort on small integers, about three times
    faster than ``np.lexsort`` on 1.8 M rows. Only for runs without a summary timeline.
    """
    by_lat = np.argsort(lat)
    small = bins[by_lat].astype(np.uint16 if nbins < 2**16 else np.int64)
    s = lat[by_lat][np.argsort(small, kind="stable")]
    counts = np.bincount(bins, minlength=nbins)
    starts = np.cumsum(counts) - counts
    has = counts > 0
    out = []
    for q in qs:
        res = np.full(nbins, np.nan)
        pos = starts[has] + q * (counts[has] - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, starts[has] + counts[has] - 1)
        res[has] = s[lo] + (pos - lo) * (s[hi] - s[lo])
        out.append(res)
    return out


def _rates(counts: np.ndarray, starts: np.ndarray, width: float, span: float) -> np.ndarray:
    """Per-second rates of per-bin counts; NaN for a last bin covering less than a fifth of a bin."""
    covered = np.clip(np.minimum(width, span - starts), 0.0, width)
    return np.where(covered >= 0.2 * width, counts / np.maximum(covered, 1e-9), np.nan)


def _centres(starts: np.ndarray, width: float, span: float) -> np.ndarray:
    covered = np.clip(np.minimum(width, span - starts), 0.0, width)
    return starts + np.where(covered > 0, covered, width) / 2


def _series(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def timeline_from_summary(tl: Mapping[str, Any], t0: float, span: float) -> Timeline:
    """The summary's ``timeline`` as chart series; ``span`` is the run's length (its last bin may be partial)."""
    width = float(tl["bin_s"])
    requests = np.asarray(tl["requests"], dtype=np.int64)
    n = requests.size
    starts = float(tl["start"]) - t0 + np.arange(n) * width
    completed = np.asarray(tl.get("completed") or np.zeros(n), dtype=np.int64)
    failures = np.asarray(tl.get("failures") or np.zeros(n), dtype=np.int64)
    errors = tuple((str(e["error"]), np.asarray(e["counts"], dtype=np.int64)) for e in tl.get("errors") or ()
                   if len(e.get("counts") or ()) == n)
    return Timeline(width, _centres(starts, width, span), requests, _rates(requests, starts, width, span),
                    _rates(completed, starts, width, span), _series(tl["p50"]), _series(tl["p95"]),
                    _series(tl["p99"]), errors, int(requests.sum()), int(failures.sum()))


def timeline_from_samples(table: pa.Table, t0: float, span: float) -> Timeline | None:
    """The same series computed from the samples: runs without a summary timeline, unfinished runs."""
    if table.num_rows == 0:
        return None
    ts = table.column("ts").to_numpy()
    lat = table.column("latency_ms").to_numpy()
    err = table.column("error").combine_chunks().dictionary_encode()
    codes = pc.fill_null(err.indices, -1).to_numpy(zero_copy_only=False)
    failed = failed_mask(err)
    width = bin_width(span)
    nbins = max(1, math.ceil(span / width - 1e-9))
    bins = np.clip(np.floor((ts - t0) / width), 0, nbins - 1).astype(np.int64)
    requests = np.bincount(bins, minlength=nbins)
    starts = np.arange(nbins) * width
    texts = err.dictionary.to_pylist()
    inflight = np.isin(codes, [i for i, t in enumerate(texts) if t == INFLIGHT]) if failed.any() else failed
    done = np.clip(np.floor((ts + lat / 1000.0 - t0) / width), 0, nbins - 1).astype(np.int64)[~inflight]
    ok = ~failed
    p50, p95, p99 = _percentiles(bins[ok], lat[ok], nbins, (0.50, 0.95, 0.99))
    errors: list[tuple[str, np.ndarray]] = []
    if failed.any():
        per_code = np.bincount(codes[failed], minlength=len(texts))
        top = [int(c) for c in np.argsort(-per_code, kind="stable")[:TOP_ERRORS] if per_code[c] > 0]
        for c in top:
            errors.append((str(texts[c]), np.bincount(bins[codes == c], minlength=nbins)))
        rest = failed & ~np.isin(codes, top)
        if rest.any():
            errors.append((f"other ({len(texts) - len(top)} more kinds)", np.bincount(bins[rest], minlength=nbins)))
    return Timeline(width, _centres(starts, width, span), requests, _rates(requests, starts, width, span),
                    _rates(np.bincount(done, minlength=nbins), starts, width, span), p50, p95, p99, tuple(errors),
                    int(ts.size), int(failed.sum()), "samples.parquet")


def _band(runs: list[BaselineRun], window_x: float) -> Band | None:
    by_offset: dict[float, list[float]] = {}
    used = 0
    for r in runs:
        vals = [(float(w["offset_s"]), float(w["p95"])) for w in r.windows
                if w.get("p95") is not None and w.get("offset_s") is not None]
        used += bool(vals)
        for off, v in vals:
            by_offset.setdefault(off, []).append(v)
    if not by_offset:
        return None
    offs = np.array(sorted(by_offset))
    vals = [np.array(by_offset[o]) for o in offs]
    return Band(window_x + offs + WINDOW_S / 2, np.array([v.min() for v in vals]), np.array([v.max() for v in vals]),
                np.array([float(np.median(v)) for v in vals]), used)


# -- metrics -----------------------------------------------------------------------------------------
def _used_metrics(verdict: Mapping[str, Any] | None) -> dict[str, list[Limit]]:
    """Metric name (labels stripped) → the checks and comparisons that use it, in verdict order."""
    used: dict[str, list[Limit]] = {}
    for c in (verdict or {}).get("checks") or []:
        ref = check_ref(c)
        if ref.kind != "metric" or not ref.name:
            continue
        value = None
        stat = str(c.get("key") or c.get("check") or "").split("(", 1)[0].strip()
        if c.get("kind") != "relative" and stat in _DRAWN_STATS and isinstance(c.get("limit"), (int, float)):
            value = float(c["limit"])
        used.setdefault(ref.name.split("{", 1)[0], []).append(Limit(str(c.get("check", "")), str(c.get("status")),
                                                                     value))
    return used


def _is_flat(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return v.size == 0 or float(v.max() - v.min()) <= 1e-9 * max(1.0, abs(float(v.max())))


def _panel(name: str, group: str, rows: Any, t0: float, width: float, limits: Sequence[Limit] = ()) -> MetricPanel:
    """One panel: the mean per time bin of each label set (the most frequent ones)."""
    labels = rows["labels"].fillna("").astype(str)
    series = []
    for lab in labels.value_counts().index[:MAX_SERIES_PER_PANEL]:
        s = rows[labels == lab]
        g = s.groupby(np.floor((s["ts"].to_numpy() - t0) / width), sort=True).agg(ts=("ts", "mean"),
                                                                                  value=("value", "mean"))
        series.append((str(lab), g["ts"].to_numpy() - t0, g["value"].to_numpy(dtype=float)))
    return MetricPanel(name, group, tuple(series), tuple(limits))


def _metrics(run_dir: Path, t0: float, width: float, verdict: Mapping[str, Any] | None,
             missing: list[str]) -> tuple[tuple[MetricPanel, ...], tuple[str, ...]]:
    """The panels, checked metrics first, then by prefix; flat ones and those past the cap are named instead."""
    paths = RunPaths(run_dir)
    used = _used_metrics(verdict)
    df = None
    if not paths.metrics.exists():
        missing.append("no collector metrics recorded (no metrics.parquet)")
    else:
        try:
            df = read_metrics(paths).to_pandas()
        except LoadkitError as exc:
            missing.append(str(exc))
        if df is not None and df.empty:
            missing.append("no collector metrics recorded (metrics.parquet has no rows)")
            df = None
    panels: list[MetricPanel] = []
    notes: list[str] = []
    names: list[str] = []
    if df is not None:
        df["metric"] = df["metric"].astype(str)
        names = sorted(df["metric"].unique(), key=lambda n: (n.split(".", 1)[0], n))
    by_name = {n: g for n, g in df.groupby("metric", sort=False)} if df is not None else {}
    for name, limits in used.items():
        if name in by_name:
            panels.append(_panel(name, "checked", by_name[name], t0, width, limits))
        else:
            missing.append(f"metric {name} (used by {len(limits)} check(s)) has no samples in metrics.parquet")
    flat, over = [], []
    for name in names:
        if name in used:
            continue
        values = by_name[name]["value"].to_numpy(dtype=float)
        if _is_flat(values):
            v = values[np.isfinite(values)]
            flat.append(f"{name} ({'no value' if not v.size else f'{float(v[0]):.4g}'})")
        elif sum(p.group != "checked" for p in panels) < MAX_METRIC_PANELS:
            panels.append(_panel(name, name.split(".", 1)[0], by_name[name], t0, width))
        else:
            over.append(name)
    if flat:
        notes.append("constant over the run, not charted: " + ", ".join(flat))
    if over:
        notes.append(f"{len(over)} more metrics not charted (at most {MAX_METRIC_PANELS} panels besides the checked "
                     "ones): " + ", ".join(over))
    panels += _generator_panels(paths, t0, width)
    return tuple(panels), tuple(notes)


def _generator_panels(paths: RunPaths, t0: float, width: float) -> list[MetricPanel]:
    """The load generator's CPU, event-loop lag and CPU steal per bin (``health.parquet``), when not flat."""
    try:
        t = read_health(paths)
    except LoadkitError:
        return []
    if t.num_rows == 0:
        return []
    df = t.to_pandas()
    out = []
    for col in GENERATOR_SERIES:
        rows = df[["ts", col]].rename(columns={col: "value"})
        rows["labels"] = df["worker"].astype(str) if df["worker"].nunique() > 1 else ""
        if not _is_flat(rows["value"].to_numpy(dtype=float)):
            out.append(_panel(f"generator.{col}", "generator", rows, t0, width))
    return out


def _rate(run_dir: Path, manifest: dict, t0: float, width: float,
          missing: list[str]) -> tuple[RateSeries | None, tuple[np.ndarray, np.ndarray] | None]:
    """The intended rate (``rate.parquet`` when a rate-driven run wrote one) and the planned users."""
    rate = None
    path = RunPaths(run_dir).rate
    if path.exists():
        try:
            df = read_table(path).to_pandas()
            df["bin"] = np.floor((df["ts"].to_numpy() - t0) / width)
            if "interval_s" in df:  # rows are intervals starting at ts: plot them at their centre
                df["ts"] = df["ts"] + df["interval_s"].fillna(0.0) / 2
            g = df.groupby("bin", sort=True).mean(numeric_only=True)
            rate = RateSeries(g["ts"].to_numpy() - t0,
                              g["intended"].to_numpy(dtype=float) if "intended" in g else None,
                              g["achieved"].to_numpy(dtype=float) if "achieved" in g else None, "rate.parquet")
        except (LoadkitError, KeyError) as exc:
            missing.append(f"rate.parquet: unreadable ({exc})")
    stages = [s for s in manifest.get("stages") or [] if isinstance(s, dict)]
    users = None
    if stages:
        ends = np.cumsum([float(s.get("duration_s") or 0.0) for s in stages])
        x = np.concatenate([[0.0], ends])
        u = np.array([float(s.get("users") or 0) for s in stages] + [float(stages[-1].get("users") or 0)])
        users = (x, u)
        planned = [s.get("rps", s.get("rate")) for s in stages]
        if rate is None and all(isinstance(p, (int, float)) for p in planned):
            rate = RateSeries(x, np.array([float(p) for p in planned] + [float(planned[-1])]), None, "manifest stages")
    return rate, users


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def load_report_data(run_dir: Path, baselines: BaselineStore | None, environment: str) -> ReportData:
    """Everything the report needs; only a missing or unreadable ``manifest.json`` is an error."""
    run_dir = Path(run_dir)
    missing: list[str] = []
    manifest = read_json(run_dir / "manifest.json")
    summary = _optional_json(run_dir / "summary.json", missing, "the run did not finish; no statistics")
    verdict = _optional_json(run_dir / "verdict.json", missing, "the run was not judged; no checks")
    env = _optional_json(run_dir / "environment.json", missing, "the environment's configuration was not recorded")
    win = (summary or {}).get("window") or {}
    run = (summary or {}).get("run") or {}
    tl = (summary or {}).get("timeline")
    timeline: Timeline | None = None
    if isinstance(tl, Mapping) and tl.get("requests") is not None:
        t0 = _num(run.get("start")) or float(tl["start"])
        end = _num(run.get("end")) or _num(win.get("end")) or t0 + len(tl["requests"]) * float(tl["bin_s"])
        span = max(end - t0, 1e-3)
        try:
            timeline = timeline_from_summary(tl, t0, span)
        except (KeyError, TypeError, ValueError) as exc:
            missing.append(f"summary.json: unreadable timeline ({type(exc).__name__}: {exc}); no request charts")
        if timeline is not None and timeline.total == 0:
            timeline = None
            missing.append("no request was recorded")
    else:
        if summary is not None:
            missing.append("summary.json has no per-bin timeline (written by an older loadkit): the request "
                           "charts were computed from samples.parquet")
        table = _read_samples(run_dir, missing)
        ts_min = float(pc.min(table.column("ts")).as_py()) if table is not None and table.num_rows else None
        ts_max = float(pc.max(table.column("ts")).as_py()) if table is not None and table.num_rows else None
        if "start" in win:
            t0 = _num(run.get("start")) or float(win["start"]) - float(win.get("warmup_s") or 0.0)
            if ts_min is not None:
                t0 = min(t0, ts_min)
        else:
            t0 = ts_min if ts_min is not None else 0.0
        end = _num(run.get("end")) or _num(win.get("end")) or (ts_max if ts_max is not None else t0)
        span = max(end - t0, (ts_max - t0) if ts_max is not None else 0.0, 1e-3)
        timeline = timeline_from_samples(table, t0, span) if table is not None else None
        if table is not None and timeline is None:
            missing.append("samples.parquet has no rows: no request was recorded")
    window = (float(win["start"]) - t0, float(win["end"]) - t0) if "start" in win and "end" in win else None
    width = timeline.bin_s if timeline else bin_width(max(span, 1.0))

    scenario = str((manifest.get("scenario") or {}).get("name", ""))
    label = f"{scenario}/{environment}"
    runs: list[BaselineRun] = []
    if baselines is None:
        missing.append("no baseline folder given: no baseline band or deltas")
    else:
        try:
            runs = [r for r in baselines.runs(scenario, environment) if r.run_id != manifest.get("run_id")]
        except LoadkitError as exc:
            missing.append(f"baseline {label}: {exc}")
        if not runs:
            missing.append(f"no baseline runs for {label}: no baseline band or deltas")
    band = _band(runs, window[0] if window else 0.0) if runs else None
    if runs and band is None:
        missing.append(f"baseline {label}: its runs have no 10 s windows; no latency band")
    rate, users = _rate(run_dir, manifest, t0, width, missing)
    metrics, not_charted = _metrics(run_dir, t0, width, verdict, missing)
    return ReportData(run_dir, manifest, summary, verdict, env, t0, window, timeline, band, tuple(runs), label,
                      rate, users, metrics, tuple(missing), span, truth_of(summary, manifest), not_charted,
                      distributions(summary, runs))
