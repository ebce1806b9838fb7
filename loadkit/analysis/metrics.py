"""Summaries of collected metrics over the checked window: mean, p95, min, max and per-request totals.

Pure functions over arrays (no I/O, no clock).
"""

from __future__ import annotations

import numpy as np

__all__ = ["summarize_metrics", "per_request_factor"]


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
