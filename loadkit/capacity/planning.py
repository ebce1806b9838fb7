"""Headroom at a planned peak and the latency view, each figure with its interval.

Headroom (Gunther 2007, ch. 5-6): the target peak × growth against the maximum throughput, the
load N at which the curve reaches the target, and where Little's-law latency
R(N) = N/X(N) − Z (Z the think time) crosses a limit. Intervals come from the parameter draws of
:mod:`.uncertainty`; a verdict says "cannot carry it" only when even the upper bound of the
maximum is below the target, and "cannot tell" when the target lies inside that interval.

The latency view puts R(N) and its band beside the latency measured at each step, so the
planner sees where the limit breaks and how sure that is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .findings import Figures, Judgement, fmt, span
from .inputs import Point
from .uncertainty import (
    LEVEL,
    Draws,
    Interval,
    concurrency_at_latency,
    concurrency_at_throughput,
    latency_ms,
    max_throughput,
    spread,
)
from .usl import UslFit

__all__ = ["Headroom", "LatencyPoint", "LatencyView", "headroom", "latency_view", "band"]


def _json(v: object) -> object:
    if isinstance(v, Interval):
        return v.to_json()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


@dataclass(frozen=True)
class Headroom:
    """How close a planned load runs to the fitted limit, each figure with its 95 % interval."""

    peak_rps: float
    growth: float
    target_rps: float  # peak_rps × growth
    max_throughput: Interval | None  # X(N*) or λ/σ; None when the data shows no limit
    utilisation: Interval | None  # target / maximum: 0.8 means 80 % of the limit
    concurrency_at_target: Interval | None  # smallest N with X(N) = target; high inf: may be beyond capacity
    latency_at_target_ms: Interval | None  # R at that N
    latency_limit_ms: float | None
    latency_break_concurrency: int | None  # smallest whole N with R(N) > limit (point estimate)
    latency_break: Interval | None  # the N at which R(N) reaches the limit
    latency_break_throughput: Interval | None  # X there
    share_beyond: float | None  # share of the plausible curves whose maximum is below the target
    think_time_s: float
    verdict: str  # one line
    measured: str  # a measured step that already delivered the target, if any

    def to_json(self) -> dict:
        return {k: _json(getattr(self, k)) for k in self.__dataclass_fields__}


def headroom(fit: UslFit, fig: Figures, judgement: Judgement, draws: Draws | None, points: Sequence[Point],
             peak_rps: float, growth: float = 1.0, latency_limit_ms: float | None = None,
             think_time_s: float = 0.0) -> Headroom:
    """Target = peak × growth against the maximum, with intervals; ``points`` are those fitted."""
    if not fit.ok:
        raise ValueError(f"no USL fit: {fit.reason}")
    target = peak_rps * growth
    n_t = fit.concurrency_at_throughput(target)
    xm = fig.max_throughput if judgement.limit != "none" else None
    n_target = util = share = lat_target = None
    if draws is not None:
        n_target = spread(n_t, draws, lambda d: concurrency_at_throughput(d, target))
        if xm is not None:
            util = spread(target / fit.peak_throughput if fit.peak_throughput else None, draws,
                          lambda d: _ratio(target, max_throughput(d)))
            share = float(np.mean(max_throughput(draws) < target))
        if n_t is not None:
            lat_target = spread(float(fit.latency_ms_at(n_t, think_time_s)), draws,
                                lambda d: _latency_at(d, concurrency_at_throughput(d, target), think_time_s))
    n_break = brk = x_break = None
    if latency_limit_ms is not None:
        edge = fit.concurrency_at_latency_ms(latency_limit_ms, think_time_s)
        if math.isfinite(edge):
            n_break = max(1, math.floor(edge) + 1)
        if draws is not None:
            brk = spread(edge if math.isfinite(edge) else None, draws,
                         lambda d: concurrency_at_latency(d, latency_limit_ms, think_time_s))
            x_break = spread(float(fit.throughput_at(edge)) if math.isfinite(edge) else None, draws,
                             lambda d: _throughput_at(d, concurrency_at_latency(d, latency_limit_ms, think_time_s)))
    measured = ""
    carried = [p for p in points if p.throughput >= target]
    if carried:
        best = min(carried, key=lambda p: p.concurrency)
        name = best.label or f"N = {best.concurrency:g}"
        measured = f"measured: {name} already delivered {fmt(best.throughput)}/s ≥ the target"
    verdict = _verdict(target, judgement, xm, n_target, share, brk, latency_limit_ms, fig.n_max, measured)
    return Headroom(peak_rps, growth, target, xm, util, n_target, lat_target, latency_limit_ms, n_break, brk, x_break,
                    share, think_time_s, verdict, measured)


def _ratio(a: float, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return a / b


def _throughput_at(d: Draws, n: np.ndarray) -> np.ndarray:
    """X at a per-draw N; inf where that N is."""
    with np.errstate(invalid="ignore", over="ignore"):
        x = d.lam * n / (1 + d.sigma * (n - 1) + d.kappa * n * (n - 1))
    return np.where(np.isfinite(n), x, np.inf)


def _latency_at(d: Draws, n: np.ndarray, think_s: float) -> np.ndarray:
    """R at a per-draw N, ms; inf where that N is."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r = ((1 + d.sigma * (n - 1) + d.kappa * n * (n - 1)) / d.lam - think_s) * 1000.0
    return np.where(np.isfinite(n), r, np.inf)


def _verdict(target: float, judgement: Judgement, xm: Interval | None, n_target: Interval | None,
             share: float | None, brk: Interval | None, limit_ms: float | None, n_max: float, measured: str) -> str:
    t = f"target {fmt(target)}/s"
    if judgement.limit == "undetermined":
        return f"cannot tell whether the {t} can be carried: the fit determines no capacity figure"
    if xm is not None and xm.high < target and not measured:
        return (f"the {t} exceeds the maximum {span(xm)}/s even at its upper bound: as measured, the system cannot "
                "carry it at any concurrency")
    if xm is not None and xm.low < target and not measured:
        beyond = "" if share is None else f"; {share:.0%} of the curves consistent with the data stay below it"
        return (f"cannot tell whether the {t} can be carried: it lies inside the interval of the maximum "
                f"{span(xm)}/s{beyond}; measure higher steps, around where the curve levels off")
    if judgement.limit == "none" and not measured:
        at = "" if n_target is None or n_target.estimate is None else \
            f": the fitted trend reaches it at N ≈ {span(n_target, 3)} ({n_target.estimate / n_max:.1f}× the largest " \
            "measured N), a forecast"
        return (f"the {t} is above the highest throughput measured and the data shows no limit within the measured "
                f"range{at}; measure up to it")
    where = "" if n_target is None else f" at N ≈ {span(n_target, 3)}"
    text = f"the {t} is reached{where}"
    if n_target is not None and n_target.estimate is not None and n_target.estimate > n_max:
        text += f", {n_target.estimate / n_max:.1f}× the largest measured N: a forecast"
    if measured:
        text += f" ({measured})"
    if brk is not None and limit_ms is not None and n_target is not None and brk.estimate is not None:
        if brk.high < n_target.low:
            text += f"; but R(N) exceeds {limit_ms:g} ms from N ≈ {span(brk, 3)}, before the target is reached"
        elif brk.low < n_target.high:
            text += f"; R(N) may exceed {limit_ms:g} ms before it (from N ≈ {span(brk, 3)}: the intervals overlap)"
    return text


@dataclass(frozen=True)
class LatencyPoint:
    label: str
    concurrency: float
    measured_ms: float
    predicted_ms: Interval  # R(N) and its 95 % band

    @property
    def inside(self) -> bool:
        b = self.predicted_ms  # a relative 1e-9 for rounding when the band has collapsed onto the curve
        return b.low - 1e-9 * abs(b.low) <= self.measured_ms <= b.high + 1e-9 * abs(b.high)


@dataclass(frozen=True)
class LatencyView:
    """Little's-law R(N) = N/X(N) − Z against the mean latency measured at each step."""

    points: tuple[LatencyPoint, ...]
    mean_abs_pct_error: float  # mean |R_pred − R_meas| / R_meas
    max_abs_pct_error: float
    implied_think_time_s: float  # mean of N/X − R over the points: the Z that makes Little's law hold
    think_time_s: float
    note: str

    @property
    def n_points(self) -> int:
        return len(self.points)

    def to_json(self) -> dict:
        return {"n_points": self.n_points, "mean_abs_pct_error": self.mean_abs_pct_error,
                "max_abs_pct_error": self.max_abs_pct_error, "implied_think_time_s": self.implied_think_time_s,
                "think_time_s": self.think_time_s, "note": self.note,
                "points": [{"label": p.label, "concurrency": p.concurrency, "measured_ms": p.measured_ms,
                            "predicted_ms": p.predicted_ms.to_json(), "inside": p.inside} for p in self.points]}


def latency_view(fit: UslFit, points: Sequence[Point], draws: Draws | None,
                 think_time_s: float = 0.0) -> LatencyView | None:
    """Predicted and measured mean latency per point; None when no point has a latency."""
    if not fit.ok:
        return None
    rows = [p for p in points if p.latency_ms is not None and math.isfinite(p.latency_ms) and p.latency_ms > 0
            and p.throughput > 0]
    if not rows:
        return None
    out = []
    for p in rows:
        est = float(fit.latency_ms_at(p.concurrency, think_time_s))
        band = spread(est, draws, lambda d, n=p.concurrency: latency_ms(d, n, think_time_s)) if draws is not None \
            else Interval(est, -math.inf, math.inf)  # no covariance: no band, so nothing is outside it
        out.append(LatencyPoint(p.label, p.concurrency, float(p.latency_ms), band))
    n = np.array([p.concurrency for p in rows])
    x = np.array([p.throughput for p in rows])
    r = np.array([p.latency_ms for p in rows])
    err = np.abs(fit.latency_ms_at(n, think_time_s) - r) / r
    implied = float(np.mean(n / x - r / 1000.0))
    inside = sum(p.inside for p in out)
    note = f"measured mean latency inside the 95 % band of R(N) at {inside} of {len(out)} points"
    if abs(implied - think_time_s) > max(0.2 * float(np.mean(r)) / 1000.0, 0.001):
        note += (f"; Little's law holds with a think time of {implied * 1000:.0f} ms, not the "
                 f"{think_time_s * 1000:g} ms assumed (pass --think-time {max(implied, 0.0):.3g})")
    return LatencyView(tuple(out), float(err.mean()), float(err.max()), implied, think_time_s, note)


def band(draws: Draws | None, fit: UslFit, grid: np.ndarray, think_time_s: float) -> tuple[tuple[float, ...], ...]:
    """(N, X, X low, X high, R, R low, R high) on a grid: the pointwise 95 % band, for the chart."""
    n = np.asarray(grid, dtype=float)
    x, r = fit.throughput_at(n), fit.latency_ms_at(n, think_time_s)
    if draws is None:
        nan = np.full(n.shape, math.nan)
        return tuple(zip(n, x, nan, nan, r, nan, nan, strict=True))
    qs = [_quantiles(d, n, think_time_s) for d in (draws, draws.without_coherency) if d is not None]
    lo = np.minimum.reduce([q[0] for q in qs])
    hi = np.maximum.reduce([q[1] for q in qs])
    return tuple(tuple(map(float, row)) for row in zip(n, x, lo[0], hi[0], r, lo[1], hi[1], strict=True))


def _quantiles(d: Draws, n: np.ndarray, think_s: float) -> tuple[np.ndarray, np.ndarray]:
    """((X low, R low), (X high, R high)) per grid point over the draws."""
    s, k, lam = (v[None, :] for v in (d.sigma, d.kappa, d.lam))
    col = n[:, None]
    den = 1 + s * (col - 1) + k * col * (col - 1)
    q = [(1 - LEVEL) / 2, (1 + LEVEL) / 2]
    with np.errstate(divide="ignore"):
        xq = np.quantile(lam * col / den, q, axis=1, method="inverted_cdf")
        rq = np.quantile((den / lam - think_s) * 1000.0, q, axis=1, method="inverted_cdf")
    return np.array([xq[0], rq[0]]), np.array([xq[1], rq[1]])
