"""What the data can tell, what it cannot, and which measurement would decide it.

A confident wrong number is the worst outcome of a capacity report, so a figure is claimed only
when its interval decides it (the rules are in docs/capacity.md, "What the data cannot tell"):

* λ's interval reaching 0: the fit determines nothing; no capacity figure is given;
* the data consistent with linear scaling X = λN (an F test of σ = κ = 0 at the 5 % level, and σ's
  and κ's intervals both reaching 0): "no limit within the measured range", no peak, no ceiling;
* κ indistinguishable from 0: whether throughput ever falls cannot be told; a maximum (the
  ceiling λ/σ or a peak, whichever the draws give) is given with its interval, no N*;
* otherwise N* is claimed with its interval, and how far it lies beyond the largest measured N.

Recommendations name the measurement that would narrow what is undecided: more steps (too few
levels for three parameters), higher steps (the limit lies beyond the measured range), longer
steps (counting noise), or repeated runs (scatter beyond each step's own noise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .inputs import Point, RunInfo
from .uncertainty import (
    Draws,
    Interval,
    linear_scaling_p,
    max_throughput,
    peak_concurrency,
    spread,
    wald_interval,
)
from .usl import UslFit

__all__ = ["Figures", "Judgement", "figures", "judge", "fmt", "WIDE_RATIO", "FAR_RATIO", "NOISE_SHARE", "GOOD_LEVELS",
           "LINEAR_ALPHA"]

WIDE_RATIO = 2.0  # an interval whose high is over twice its low does not decide the figure
FAR_RATIO = 2.0  # beyond twice the largest measured N an extrapolated peak is a hint, not a figure
NOISE_SHARE = 0.03  # points scattering by more than 3 % of throughput around the curve are noisy
GOOD_LEVELS = 8  # distinct load levels for a well-determined three-parameter fit
LINEAR_ALPHA = 0.05  # level of the test "the curve is linear"


def fmt(v: float | None, digits: int = 4) -> str:
    """A number for a sentence: 4 significant digits, ∞ for an open bound."""
    if v is None:
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return f"{v:.{digits}g}"


def span(iv: Interval | None, digits: int = 4) -> str:
    """"96.5 [80.1, 121]" or "[80.1, ∞)"."""
    if iv is None:
        return "n/a"
    close = "]" if math.isfinite(iv.high) else ")"
    head = "" if iv.estimate is None else fmt(iv.estimate, digits) + " "
    return f"{head}[{fmt(iv.low, digits)}, {fmt(iv.high, digits)}{close}"


@dataclass(frozen=True)
class Figures:
    """The fit's headline figures with their 95 % intervals (None: the fit gave none)."""

    sigma: Interval | None
    kappa: Interval | None
    lam: Interval | None
    peak_concurrency: Interval | None  # N*; estimate None when κ is estimated 0
    max_throughput: Interval | None  # X(N*) or λ/σ; high inf when some draws show no limit
    linear_p: float | None  # p-value of "the curve is linear" (:func:`.uncertainty.linear_scaling_p`)
    sigma_raw: Interval | None  # Wald intervals before clipping to the bounds: do they reach 0?
    kappa_raw: Interval | None
    lam_raw: Interval | None
    n_max: float  # the largest measured N in the fit
    x_measured: float  # the highest throughput measured in the fit


def figures(fit: UslFit, draws: Draws | None) -> Figures | None:
    """Intervals of σ, κ, λ (Wald) and of N* and the maximum (from the draws); None without a fit."""
    if not fit.ok or fit.sigma is None or fit.kappa is None or fit.lam is None:
        return None
    n_max, x_measured = max(fit.concurrency), max(fit.throughput)
    se = (fit.sigma_se, fit.kappa_se, fit.lam_se)
    sig = wald_interval(fit.sigma, se[0], fit.dof, 0.0, 1.0)
    kap = wald_interval(fit.kappa, se[1], fit.dof, 0.0)
    lam = wald_interval(fit.lam, se[2], fit.dof, 0.0)
    n_star = x_max = None
    if draws is not None:
        n_star = spread(fit.peak_concurrency, draws, peak_concurrency)
        x_max = spread(fit.peak_throughput, draws, max_throughput)
    return Figures(sig, kap, lam, n_star, x_max, linear_scaling_p(fit), wald_interval(fit.sigma, se[0], fit.dof),
                   wald_interval(fit.kappa, se[1], fit.dof), wald_interval(fit.lam, se[2], fit.dof), n_max, x_measured)


@dataclass(frozen=True)
class Judgement:
    """``limit``: ``undetermined``, ``none`` (linear in the measured range), ``ceiling`` (κ undecided) or ``peak``."""

    limit: str
    statements: tuple[str, ...]
    recommendations: tuple[str, ...]

    @property
    def claims_peak(self) -> bool:
        return self.limit == "peak"

    @property
    def claims_limit(self) -> bool:
        return self.limit in ("peak", "ceiling")

    def to_json(self) -> dict:
        return {"limit": self.limit, "statements": list(self.statements), "recommendations": list(self.recommendations)}


def _reaches_zero(iv: Interval | None) -> bool:
    return iv is None or iv.low <= 0


def _steps_hint(runs: Sequence[RunInfo], n_goal: float) -> str:
    """"(start 2, step 2: steps: 20)" when the runs were regular step loads; "" otherwise."""
    users = runs[0].step_users if runs else ()
    if len(users) < 2:
        return ""
    gaps = np.diff(users)
    if not np.allclose(gaps, gaps[0]) or gaps[0] <= 0:
        return ""
    steps = math.ceil((n_goal - users[0]) / gaps[0]) + 1
    return f" (start {users[0]:g}, step {gaps[0]:g}: steps: {steps} instead of {len(users)})"


def _noise_advice(fit: UslFit, points: Sequence[Point], runs: Sequence[RunInfo]) -> str | None:
    if fit.residual_se is None:
        return None
    share = fit.residual_se / float(np.mean(fit.throughput))
    if share <= NOISE_SHARE:
        return None
    own = [p.throughput_se for p in points if p.throughput_se is not None]
    if not own:
        return (f"longer steps or repeated runs: the points scatter by {share:.1%} of throughput around the curve, "
                "which widens every interval")
    own_se = float(np.median(own))
    if fit.residual_se > 3 * own_se:
        return (f"repeat the run and pool the runs (loadkit capacity RUN1 RUN2): the points scatter by {share:.1%} of "
                f"throughput, {fit.residual_se / own_se:.0f}× more than each step's own counting noise explains, "
                "so the steps differ for another reason (warm-up, a shared machine, background work) and longer "
                "steps alone will not help")
    seconds = [s for r in runs for s in r.step_seconds]
    now = f" (now {min(seconds):.0f} s measured per step)" if seconds else ""
    return (f"longer steps{now}: the points scatter by {share:.1%} of throughput, about what each step's own "
            "counting noise gives; 4× longer steps halve it")


def judge(fit: UslFit, fig: Figures | None, points: Sequence[Point], runs: Sequence[RunInfo] = ()) -> Judgement:
    """Decide what may be claimed; ``points`` are those fitted."""
    levels = len({p.concurrency for p in points})
    more = (f"more steps: {levels} load levels leave {max(levels - 3, 0)} degree(s) of freedom for 3 parameters; "
            f"{GOOD_LEVELS}-12 levels over the same range narrow every interval")
    if not fit.ok or fig is None:
        return _no_fit(fit, points, more)
    if fig.lam_raw is None or fig.max_throughput is None:
        return Judgement("undetermined", ("the fit's covariance is singular, so no interval can be computed and no "
                                          "capacity figure is claimed",), (more,))
    n_max, x_meas = fig.n_max, fig.x_measured
    scatter = [a for a in (_noise_advice(fit, points, runs),) if a]
    if _reaches_zero(fig.lam_raw):
        return Judgement("undetermined", (f"λ's interval {span(fig.lam_raw)} includes 0: this data does not "
                                          "determine even the single-user throughput, so no capacity figure from "
                                          "it can be trusted",), tuple([more] + scatter))
    both_zero = _reaches_zero(fig.sigma_raw) and _reaches_zero(fig.kappa_raw)
    if both_zero and (fig.linear_p is None or fig.linear_p >= LINEAR_ALPHA):
        goal = 2 * n_max
        return Judgement("none", (f"no limit within the measured range: throughput is consistent with linear scaling "
                                  f"up to N = {n_max:g} ({fmt(x_meas)}/s); the data places no peak and no ceiling",),
                         tuple([f"higher steps: the limit lies beyond N = {n_max:g}; step up to N ≈ "
                                f"{math.ceil(goal):g} or more{_steps_hint(runs, goal)}"] + scatter))
    say: list[str] = []
    if both_zero:
        say.append(f"σ and κ are each indistinguishable from 0, but not both: throughput stays clearly below linear "
                   f"scaling (F test of σ = κ = 0: p = {fig.linear_p:.2g})")
    limit = "ceiling" if _reaches_zero(fig.kappa_raw) else "peak"
    said, recs = (_ceiling if limit == "ceiling" else _peak)(fit, fig, runs)
    say += said
    xm = fig.max_throughput
    if xm.estimate is not None:
        what = ("at N*" if limit == "peak" else "the ceiling λ/σ, approached but never reached"
                if fit.peak_concurrency is None else "a ceiling or a peak: κ is undecided")
        ratio = xm.estimate / x_meas
        far = f", {ratio:.1f}× the highest throughput measured ({fmt(x_meas)}/s)" if ratio > 1.2 else ""
        say.append(f"maximum throughput {span(xm)} ({what}){far}")
    if not math.isfinite(xm.high):
        say.append("the maximum has no upper bound from this data: some curves consistent with it never level off")
    wide = [name for name, iv in (("N*", fig.peak_concurrency if limit == "peak" else None), ("the maximum", xm))
            if iv is not None and iv.ratio > WIDE_RATIO]
    if wide:
        say.append(f"the interval of {' and of '.join(wide)} spans more than a factor of {WIDE_RATIO:g}: too wide to "
                   "decide on; use the bounds, not the estimate")
        if levels < GOOD_LEVELS:
            recs.append(more)
    return Judgement(limit, tuple(say), tuple(dict.fromkeys(recs + scatter)))


def _no_fit(fit: UslFit, points: Sequence[Point], more: str) -> Judgement:
    recs = []
    flat = _flat(points)
    if "distinct concurrency levels" in fit.reason:
        recs.append(more)
    elif "never rises" in fit.reason or "bound of 1" in fit.reason:
        recs.append("lower steps: throughput does not grow over the measured range, so the system was already "
                    "saturated at the lowest step; start at 1 user")
    elif "does not describe" in fit.reason and flat is not None:
        recs.append(f"lower steps: throughput stays within {flat:.0%} of its mean over N = "
                    f"{min(p.concurrency for p in points):g}..{max(p.concurrency for p in points):g}, so the "
                    "system was saturated from the lowest step; begin at 1 user with smaller steps")
    elif "does not describe" in fit.reason:
        recs.append("longer steps or repeated runs: the points scatter too much for any curve; check that "
                    "each step reached a steady state")
    return Judgement("undetermined", (f"no USL fit: {fit.reason}",), tuple(recs))


def _ceiling(fit: UslFit, fig: Figures, runs: Sequence[RunInfo]) -> tuple[list[str], list[str]]:
    """κ undecided: no N*, and where a fall could start at the earliest."""
    ns, n_max = fig.peak_concurrency, fig.n_max
    say = [f"κ is indistinguishable from 0 ({span(fig.kappa, 3)}): whether throughput eventually falls cannot be "
           "told from this data, so no peak N* is claimed"]
    goal = 2 * n_max
    if ns is not None and math.isfinite(ns.low) and ns.low > n_max:
        say.append(f"if throughput does fall, not before N ≈ {fmt(ns.low, 3)} ({ns.low / n_max:.1f}× the largest "
                   f"measured N = {n_max:g})")
        goal = max(goal, ns.low)
    return say, [f"higher steps: the retrograde region, if any, lies beyond N = {n_max:g}; step up to "
                 f"N ≈ {math.ceil(goal):g}{_steps_hint(runs, goal)}"]


def _peak(fit: UslFit, fig: Figures, runs: Sequence[RunInfo]) -> tuple[list[str], list[str]]:
    """κ decided: N* with its interval, where it lies against the measured range, whether the data shows the fall."""
    ns, n_max, x_meas = fig.peak_concurrency, fig.n_max, fig.x_measured
    if ns is None or ns.estimate is None:
        return [], []
    say = [f"throughput peaks at N* = {span(ns, 3)} and falls beyond it{_where(ns, min(fit.concurrency), n_max)}"]
    recs = []
    last = float(np.mean([x for n, x in zip(fit.concurrency, fit.throughput, strict=True) if n == n_max]))
    noise = 2 * (fit.residual_se or 0.0)
    fall = float(fit.peak_throughput - fit.throughput_at(n_max)) if fit.peak_throughput else 0.0
    if ns.estimate < n_max and last >= x_meas - noise and fall < noise:
        say.append(f"the measured throughput does not fall within the measured range ({fmt(last)}/s at N = {n_max:g}, "
                   f"highest {fmt(x_meas)}/s): the fall past N* is the model's forecast; measure beyond "
                   f"N = {n_max:g} to see it")
    if ns.estimate > n_max and ns.high > FAR_RATIO * n_max:
        goal = 1.5 * (ns.high if math.isfinite(ns.high) else ns.estimate)
        recs.append(f"higher steps: measure around the peak, up to N ≈ {math.ceil(goal):g}{_steps_hint(runs, goal)}, "
                    "before relying on it")
    return say, recs


def _flat(points: Sequence[Point]) -> float | None:
    """The spread (max − min)/mean of throughput when it is under 25 % over at least a doubling of N."""
    if len(points) < 2:
        return None
    x = np.array([p.throughput for p in points])
    n = np.array([p.concurrency for p in points])
    width = float((x.max() - x.min()) / x.mean())
    return width if width < 0.25 and n.max() >= 2 * n.min() else None


def _where(ns: Interval, n_min: float, n_max: float) -> str:
    """Where N* lies against the measured range, and how far."""
    if ns.estimate is None:
        return ""
    if ns.high < n_min:
        return f", below the lowest measured N = {n_min:g}: the system was past its peak from the first step"
    if ns.high <= n_max:
        return ", inside the measured range"
    if ns.low > n_max:
        far = " (a long extrapolation: a hint, not a measurement)" if ns.estimate > FAR_RATIO * n_max else ""
        return f": beyond the measured range, {ns.estimate / n_max:.1f}× the largest measured N = {n_max:g}{far}"
    return f": around the top of the measured range (largest measured N = {n_max:g})"
