"""One capacity analysis: which points to fit, the fit, its intervals, what they decide, headroom,
the latency view, what limited each step and whether repeated runs agree.

:func:`analyze` is pure (points and step loads in, a frozen :class:`CapacityReport` out); the
random generator of the interval draws is passed in, so a seed gives the same report every time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .bottleneck import StepLoad, bottleneck_notes
from .findings import Figures, Judgement, figures, judge
from .inputs import Point, RunInfo
from .planning import Headroom, LatencyView, band, headroom, latency_view
from .repeat import Agreement, compare_runs
from .uncertainty import Draws, Interval, draw_parameters, latency_ms, spread, throughput
from .usl import UslFit, fit_usl

__all__ = ["CapacityReport", "Prediction", "analyze", "PREDICTION_FACTORS"]

PREDICTION_FACTORS = (0.5, 1.0, 1.5, 2.0)  # predictions at these multiples of the largest measured N


@dataclass(frozen=True)
class Prediction:
    concurrency: float
    throughput: Interval
    latency_ms: Interval
    extrapolation: float  # N / largest measured N; above 1 it is a forecast


@dataclass(frozen=True)
class CapacityReport:
    """Everything the report shows; optional parts are None when not asked for or not possible."""

    title: str
    points: tuple[Point, ...]  # all measured points, excluded ones too
    excluded: tuple[int, ...]  # indices of points left out of the fit (generator-limited)
    fit: UslFit
    figures: Figures | None
    judgement: Judgement
    headroom: Headroom | None
    latency: LatencyView | None
    predictions: tuple[Prediction, ...]
    curve: tuple[tuple[float, ...], ...]  # (N, X, X lo, X hi, R, R lo, R hi) for the chart
    loads: tuple[StepLoad, ...]
    bottleneck: tuple[str, ...]
    agreement: Agreement | None
    think_time_s: float = 0.0

    @property
    def used(self) -> tuple[Point, ...]:
        return tuple(p for i, p in enumerate(self.points) if i not in self.excluded)

    def to_json(self) -> dict:
        """The six headline keys first: a peak or a maximum is given only where the data decides it."""
        f, g, j = self.fit, self.figures, self.judgement
        pair = (lambda iv: None if iv is None else [iv.to_json()["low"], iv.to_json()["high"]])  # noqa: E731
        return {
            "sigma": f.sigma, "kappa": f.kappa, "lambda": f.lam,
            "peak_concurrency": f.peak_concurrency if j.claims_peak else None,
            "peak_throughput": f.peak_throughput if j.claims_limit else None,
            "r_squared": f.r_squared,
            "ok": f.ok, "reason": f.reason, "n_points": f.n_points, "title": self.title,
            "limit": j.limit, "statements": list(j.statements), "recommendations": list(j.recommendations),
            "stderr": {"sigma": f.sigma_se, "kappa": f.kappa_se, "lambda": f.lam_se},
            "ci95": {"sigma": pair(g and g.sigma), "kappa": pair(g and g.kappa), "lambda": pair(g and g.lam),
                     "peak_concurrency": pair(g and g.peak_concurrency),
                     "max_throughput": pair(g and g.max_throughput)},
            "fitted": {"peak_concurrency": f.peak_concurrency, "peak_throughput": f.peak_throughput,
                       "peak_note": f.peak_note},
            "residual_se": f.residual_se, "dof": f.dof, "think_time_s": self.think_time_s,
            "predictions": [{"concurrency": p.concurrency, "throughput": p.throughput.to_json(),
                             "latency_ms": p.latency_ms.to_json(), "extrapolation": p.extrapolation}
                            for p in self.predictions],
            "headroom": None if self.headroom is None else self.headroom.to_json(),
            "latency_match": None if self.latency is None else self.latency.to_json(),
            "excluded": [self.points[i].label for i in self.excluded],
            "bottleneck": {"notes": list(self.bottleneck), "steps": [s.to_json() for s in self.loads]},
            "repeatability": None if self.agreement is None else self.agreement.to_json(),
            "points": [{"concurrency": p.concurrency, "throughput": p.throughput, "latency_ms": p.latency_ms,
                        "label": p.label, "run": p.run or None, "throughput_se": p.throughput_se,
                        "excluded": i in self.excluded} for i, p in enumerate(self.points)],
        }


def _check(peak_rps: float | None, growth: float, latency_limit_ms: float | None, think_time_s: float) -> None:
    for name, value in (("--peak", peak_rps), ("--latency-limit", latency_limit_ms)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name}: expected a positive number, got {value:g}")
    if not (math.isfinite(growth) and growth > 0):
        raise ConfigError(f"--growth: expected a positive factor (1.3 = 30 % more), got {growth:g}")
    if not (math.isfinite(think_time_s) and think_time_s >= 0):
        raise ConfigError(f"think time: expected 0 or more seconds, got {think_time_s:g}")


def analyze(points: Sequence[Point], *, peak_rps: float | None = None, growth: float = 1.0,
            latency_limit_ms: float | None = None, think_time_s: float = 0.0, title: str = "Capacity",
            min_r_squared: float | None = None, rng: np.random.Generator | None = None,
            loads: Sequence[StepLoad] | None = None, runs: Sequence[RunInfo] = (),
            include_generator_limited: bool = False) -> CapacityReport:
    """Fit, intervals, judgement, headroom, latency view, bottleneck and repeatability in one call.

    ``loads`` (one per point, from :func:`.bottleneck.read_step_loads`) say which steps the generator
    could not drive; those are left out of the fit unless ``include_generator_limited``. ``rng``
    draws the parameter vectors of the intervals (default: seed 0).
    """
    _check(peak_rps, growth, latency_limit_ms, think_time_s)
    pts = tuple(points)
    if loads is None:
        loads = tuple(StepLoad(p.label, None, None, None, None, (), False, "", "not given") for p in pts)
    loads = tuple(loads)
    if len(loads) != len(pts):
        raise ValueError(f"{len(loads)} step loads for {len(pts)} points")
    rng = np.random.default_rng(0) if rng is None else rng
    excluded = () if include_generator_limited else tuple(i for i, s in enumerate(loads) if s.generator_limited)
    used = [p for i, p in enumerate(pts) if i not in excluded]
    kw = {} if min_r_squared is None else {"min_r_squared": min_r_squared}
    fit = fit_usl([p.concurrency for p in used], [p.throughput for p in used], **kw)
    draws = draw_parameters(fit, rng)
    fig = figures(fit, draws)
    judgement = judge(fit, fig, used, runs)
    room = view = None
    preds: tuple[Prediction, ...] = ()
    curve: tuple[tuple[float, ...], ...] = ()
    if fit.ok and fig is not None:
        if peak_rps is not None:
            room = headroom(fit, fig, judgement, draws, used, peak_rps, growth, latency_limit_ms, think_time_s)
        view = latency_view(fit, used, draws, think_time_s)
        n_max = fig.n_max
        ns = sorted({round(n_max * k, 6) for k in PREDICTION_FACTORS}
                    | ({round(fit.peak_concurrency, 6)} if judgement.claims_peak and fit.peak_concurrency else set()))
        preds = tuple(_predict(fit, draws, n, think_time_s, n_max) for n in ns)
        top = max(n_max * 1.5, 2.0)
        if judgement.claims_peak and fit.peak_concurrency is not None:
            top = max(top, min(fit.peak_concurrency * 1.3, n_max * 4))
        if room is not None and room.concurrency_at_target is not None and room.concurrency_at_target.estimate:
            top = max(top, min(room.concurrency_at_target.estimate * 1.2, n_max * 4))
        curve = band(draws, fit, np.linspace(min(1.0, min(fit.concurrency)), top, 120), think_time_s)
    notes = bottleneck_notes(pts, loads, excluded)
    agreement = compare_runs(used, runs, rng) if len({p.run for p in used}) > 1 else None
    return CapacityReport(title, pts, excluded, fit, fig, judgement, room, view, preds, curve, loads, notes, agreement,
                          think_time_s)


def _predict(fit: UslFit, draws: Draws | None, n: float, think_s: float, n_max: float) -> Prediction:
    x = float(fit.throughput_at(n))
    r = float(fit.latency_ms_at(n, think_s))
    if draws is None:  # no covariance: the intervals are unknown, not zero
        return Prediction(n, Interval(x, -math.inf, math.inf), Interval(r, -math.inf, math.inf), n / n_max)
    return Prediction(n, spread(x, draws, lambda d: throughput(d, n)),
                      spread(r, draws, lambda d: latency_ms(d, n, think_s)), n / n_max)
