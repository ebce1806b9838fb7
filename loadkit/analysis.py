"""Summaries of a run: exact percentiles over full-resolution samples, per endpoint.

Pure functions over arrays returning frozen dataclasses (no I/O, no clock). Latency
statistics use successful requests only, as Gatling reports OK and KO apart: a refused
connection answering in 0.1 ms must not make latency look better; failures are counted
by the error rate.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

__all__ = ["LatencyStats", "Stats", "Summary", "summarize", "summarize_coded", "summarize_metrics", "PERCENTILES"]

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9}


@dataclass(frozen=True)
class LatencyStats:
    min: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    p99_9: float

    def to_json(self) -> dict[str, float]:
        d = asdict(self)
        d["p99.9"] = d.pop("p99_9")
        return {k: round(v, 3) for k, v in d.items()}


@dataclass(frozen=True)
class Stats:
    total: int
    failures: int
    error_rate: float
    rps: float
    latency_ms: LatencyStats | None  # None when no request succeeded

    def to_json(self) -> dict:
        return {
            "total": self.total,
            "failures": self.failures,
            "error_rate": round(self.error_rate, 6),
            "rps": round(self.rps, 3),
            "latency_ms": None if self.latency_ms is None else self.latency_ms.to_json(),
        }


@dataclass(frozen=True)
class Summary:
    window_start: float
    window_end: float
    requests: Stats
    endpoints: dict[str, Stats]
    errors: tuple[tuple[str, str, int], ...]  # (endpoint, error, count), most frequent first
    run_total: int
    run_failures: int

    def to_json(self) -> dict:
        return {
            "window": {"start": self.window_start, "end": self.window_end,
                       "seconds": round(self.window_end - self.window_start, 3)},
            "requests": self.requests.to_json(),
            "endpoints": {k: v.to_json() for k, v in sorted(self.endpoints.items())},
            "errors": [{"endpoint": e, "error": m, "count": n} for e, m, n in self.errors],
            "run": {"total": self.run_total, "failures": self.run_failures},
        }


def latency_stats(latency_ms: np.ndarray) -> LatencyStats | None:
    if latency_ms.size == 0:
        return None
    q = np.percentile(latency_ms, [50, 90, 95, 99, 99.9])
    return LatencyStats(float(latency_ms.min()), float(latency_ms.mean()), *map(float, q[:4]),
                        float(latency_ms.max()), float(q[4]))


def _stats(latency: np.ndarray, failed: np.ndarray, seconds: float) -> Stats:
    total = int(latency.size)
    failures = int(failed.sum())
    return Stats(total, failures, failures / total if total else 0.0, total / seconds if seconds > 0 else 0.0,
                 latency_stats(latency[~failed]))


def summarize(ts: np.ndarray, endpoint: np.ndarray, latency_ms: np.ndarray, error: np.ndarray,
              window_start: float, window_end: float, top_errors: int = 20) -> Summary:
    """Statistics over requests that started inside ``[window_start, window_end)``.

    ``error`` holds None (or empty) for successes and the error text for failures.
    """
    failed = ~pd.isna(error)
    if failed.any():
        failed &= error != ""
    names, codes = np.unique(endpoint.astype(str), return_inverse=True) if endpoint.size else (np.array([]), endpoint)
    errs = Counter(zip(endpoint[failed].tolist(), error[failed].tolist(), strict=True))
    return summarize_coded(ts, codes.astype(np.int64), [str(n) for n in names], latency_ms, failed,
                           tuple((e, m, n) for (e, m), n in errs.most_common(top_errors)), window_start, window_end)


def summarize_coded(ts: np.ndarray, codes: np.ndarray, names: list[str], latency_ms: np.ndarray, failed: np.ndarray,
                    errors: tuple[tuple[str, str, int], ...], window_start: float, window_end: float) -> Summary:
    """:func:`summarize` on endpoint codes (``names[codes[i]]``) and a failure mask: no Python
    object per request, so an hour at thousands of requests a second fits in memory."""
    inside = (ts >= window_start) & (ts < window_end)
    seconds = max(window_end - window_start, 1e-9)
    lat, ep, bad = latency_ms[inside], codes[inside], failed[inside]
    endpoints = {names[k]: _stats(lat[ep == k], bad[ep == k], seconds) for k in np.unique(ep)}
    return Summary(window_start, window_end, _stats(lat, bad, seconds), endpoints, errors,
                   int(ts.size), int(failed.sum()))


#: Units whose per-request value is the metric's integral over the window divided by requests:
#: rates (transactions per second → transactions per request) and CPU (percent of one core →
#: CPU-seconds per request). Gauges (connections, bytes, ratios) have no per-request value.
_RATE_UNITS = {"1/s", "rows/s", "bytes/s"}
_PERCENT_UNITS = {"percent of one core"}


def per_request_factor(unit: str | None, name: str) -> float | None:
    """What to multiply a metric's mean × seconds by to get a total: 1 for rates, 1/100 for CPU percent."""
    if unit in _RATE_UNITS or (unit is None and name.split("{", 1)[0].endswith(("_total", "_count"))):
        return 1.0
    if unit in _PERCENT_UNITS:
        return 0.01
    return None


def summarize_metrics(ts: np.ndarray, key: np.ndarray, value: np.ndarray, units: dict[str, str],
                      window_start: float, window_end: float, requests: int) -> dict[str, dict]:
    """``{series: {mean, p95, max, min, per_request, samples}}`` over the checked window.

    ``per_request`` divides the metric's total over the window by the requests in it
    (CPU-seconds per request, transactions per request): efficiency is far steadier than raw
    values between runs whose load differs, so regressions show there first. A rate sample
    covers the time since the previous sample, so totals weight each sample by that span
    (the last sample of a database may cover a short span with a late-published burst).
    """
    out: dict[str, dict] = {}
    for name in np.unique(key):
        mask = key == name
        t_all, v_all = ts[mask], value[mask]
        order = np.argsort(t_all, kind="stable")
        t_all, v_all = t_all[order], v_all[order]
        inside = (t_all >= window_start) & (t_all <= window_end) & np.isfinite(v_all)
        v = v_all[inside]
        if v.size == 0:
            continue
        base = str(name).split("{", 1)[0]
        unit = units.get(base)
        factor = per_request_factor(unit, str(name))
        per_request = None
        mean = float(v.mean())
        if factor is not None:
            prev = np.concatenate(([window_start], t_all[:-1]))  # each sample spans back to the one before
            span = np.clip(t_all - np.maximum(prev, window_start), 0.0, None)[inside]
            total = float((v * span).sum())
            mean = total / span.sum() if span.sum() > 0 else mean
            per_request = total * factor / requests if requests else None
        elif unit == "s" and requests and v.size > 1:  # cumulative seconds (cpu_seconds): the increase
            per_request = float(v[-1] - v[0]) / requests
        out[str(name)] = {"mean": mean, "p95": float(np.percentile(v, 95)), "max": float(v.max()),
                          "min": float(v.min()), "per_request": per_request, "samples": int(v.size), "unit": unit}
    return out
