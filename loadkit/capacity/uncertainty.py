"""Intervals for the USL parameters and for every figure derived from them.

σ, κ and λ get the classical Wald interval of nonlinear least squares, estimate ± t(0.975, n − 3)·SE
with the standard errors of R's ``nls`` and the R ``usl`` package (Bates & Watts, *Nonlinear
Regression Analysis and Its Applications*, 1988, ch. 2), clipped to the parameters' bounds.

A derived figure (N*, the maximum throughput, the load at a target or at a latency limit) is a
nonlinear function of all three, and near κ = 0 it is not even finite. Its interval comes from
the same covariance by simulation (Krinsky & Robb, *Rev. Econ. Stat.* 68, 1986; King, Tomz &
Wittenberg, *AJPS* 44, 2000): parameter vectors are drawn from the multivariate Student t
centred on the estimate with the fit's covariance and n − 3 degrees of freedom, clipped to the
bounds (a draw with κ < 0 is a curve without a peak), and the figure's 2.5 % and 97.5 % quantiles
over the draws are its interval. For a linear function this is the delta method; where a figure
is unbounded in more than 2.5 % of the draws its interval is open (``high = inf``). Where κ's
interval reaches 0, the figure's interval under the κ = 0 fit is joined to it (:func:`spread`).

Why not a bootstrap over the points: with the 6-12 levels of a step run, residual and wild
bootstraps covered the true σ, κ, N* and maximum in only 78-91 % of 200 trials, the covariance in
93-95 % (docs/capacity.md). The random generator is passed in: a seed gives the same figures.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .usl import UslFit

__all__ = ["Interval", "Draws", "draw_parameters", "spread", "wald_interval", "interval_of", "peak_concurrency",
           "max_throughput", "throughput", "latency_ms", "concurrency_at_throughput", "concurrency_at_latency",
           "linear_scaling_p", "LEVEL", "N_DRAWS"]

LEVEL = 0.95
N_DRAWS = 20_000  # Monte Carlo error of a 2.5 % quantile: 1-2 % of the interval's width


@dataclass(frozen=True)
class Interval:
    """A figure and its 95 % interval. ``high = inf``: the data sets no upper bound.

    ``estimate`` is None when the fit gives no point value (N* with κ estimated 0) although the
    interval still says where the figure can lie.
    """

    estimate: float | None
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high

    @property
    def ratio(self) -> float:
        """high / low: 2 means the figure is known to within a factor of 2; inf when open."""
        return self.high / self.low if self.low > 0 else math.inf

    def to_json(self) -> dict:
        """``null`` for a bound the data does not set (±inf) and for a missing estimate."""
        fin = (lambda v: float(v) if v is not None and math.isfinite(v) else None)  # noqa: E731
        return {"estimate": fin(self.estimate), "low": fin(self.low), "high": fin(self.high)}


@dataclass(frozen=True)
class Draws:
    """Parameter vectors drawn around the fit (σ, κ, λ, clipped to the bounds).

    ``without_coherency``: draws of the fit with κ fixed at 0, present when κ's interval reaches 0.
    """

    sigma: np.ndarray
    kappa: np.ndarray
    lam: np.ndarray
    without_coherency: Draws | None = None


def _draw(centre: np.ndarray, cov: np.ndarray, dof: int, rng: np.random.Generator, n: int) -> np.ndarray:
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)  # a near-singular covariance is fine this way
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    z = rng.standard_normal((n, centre.size)) @ root.T
    w = np.sqrt(rng.chisquare(dof, n) / dof)
    return centre + z / w[:, None]


def draw_parameters(fit: UslFit, rng: np.random.Generator, n: int = N_DRAWS) -> Draws | None:
    """Multivariate-t draws around (σ, κ, λ) with the fit's covariance; None without a covariance.

    A figure's interval from draws cannot reach a truth on the boundary κ = 0 (a curve that never
    falls) when κ's estimate is above 0, although κ = 0 is inside κ's interval: the maximum then
    comes out too low. So when κ's interval reaches 0 the κ = 0 fit (Amdahl's law, 2 parameters) is
    drawn as well, and :func:`spread` gives the union of the figure's intervals under both.
    """
    if not fit.ok or fit.cov is None or fit.dof < 1 or fit.kappa_se is None:
        return None
    cov = np.array(fit.cov, dtype=float)
    if not np.all(np.isfinite(cov)):
        return None
    theta = _draw(np.array([fit.sigma, fit.kappa, fit.lam]), cov, fit.dof, rng, n)
    alt = None
    q = _t(fit.dof)
    if fit.kappa - q * fit.kappa_se <= 0:
        alt = _draw_without_coherency(fit, rng, n)
    return Draws(np.clip(theta[:, 0], 0.0, 1.0), np.clip(theta[:, 1], 0.0, None), np.clip(theta[:, 2], 0.0, None), alt)


def _draw_without_coherency(fit: UslFit, rng: np.random.Generator, n: int) -> Draws | None:
    """Draws of σ and λ from the least-squares fit of X = λN / (1 + σ(N − 1)), κ = 0."""
    from scipy.optimize import OptimizeWarning, curve_fit

    ns, x = np.array(fit.concurrency), np.array(fit.throughput)
    if ns.size < 3:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            popt, pcov = curve_fit(lambda v, s, lam: lam * v / (1 + s * (v - 1)), ns, x, p0=(fit.sigma, fit.lam),
                                   bounds=([0.0, 1e-300], [1.0, np.inf]), method="trf", x_scale="jac")
    except (RuntimeError, ValueError):
        return None
    if not np.all(np.isfinite(pcov)):
        return None
    theta = _draw(np.asarray(popt, dtype=float), np.asarray(pcov, dtype=float), ns.size - 2, rng, n)
    return Draws(np.clip(theta[:, 0], 0.0, 1.0), np.zeros(n), np.clip(theta[:, 1], 0.0, None))


def spread(estimate: float | None, draws: Draws, figure: Callable[[Draws], np.ndarray]) -> Interval:
    """The 95 % interval of ``figure`` over the draws; with κ undecided, united with its interval at κ = 0."""
    iv = interval_of(estimate, figure(draws))
    if draws.without_coherency is not None:
        alt = interval_of(estimate, figure(draws.without_coherency))
        iv = Interval(estimate, min(iv.low, alt.low), max(iv.high, alt.high))
    return iv


def _t(dof: int) -> float:
    from scipy.stats import t as student_t

    return float(student_t.ppf(0.5 + LEVEL / 2, dof))


def wald_interval(estimate: float, se: float | None, dof: int, low: float = -math.inf,
                  high: float = math.inf) -> Interval | None:
    """estimate ± t(0.975, dof)·SE, clipped to [low, high] (the parameter's bounds)."""
    if se is None or not math.isfinite(se) or dof < 1:
        return None
    q = _t(dof)
    return Interval(estimate, max(low, estimate - q * se), min(high, estimate + q * se))


def interval_of(estimate: float | None, samples: np.ndarray) -> Interval:
    """The central 95 % of ``samples`` (which may hold ±inf); no interpolation across an infinite value."""
    a = np.asarray(samples, dtype=float)
    a = a[~np.isnan(a)]
    if a.size == 0:
        return Interval(estimate, -math.inf, math.inf)
    lo, hi = np.quantile(a, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], method="inverted_cdf")
    return Interval(estimate, float(lo), float(hi))


def peak_concurrency(d: Draws) -> np.ndarray:
    """N* = √((1 − σ)/κ) per draw; inf for a draw without coherency (no peak)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d.kappa > 0, np.sqrt((1 - d.sigma) / d.kappa), np.inf)


def max_throughput(d: Draws) -> np.ndarray:
    """X(N*), or the ceiling λ/σ for a draw with κ = 0, or inf for a linear draw (Gunther 2007, ch. 4)."""
    s, k, lam = d.sigma, d.kappa, d.lam
    with np.errstate(divide="ignore", invalid="ignore"):
        ns = np.where(k > 0, np.sqrt((1 - s) / k), 1.0)
        peak = lam * ns / (1 + s * (ns - 1) + k * ns * (ns - 1))
        return np.where(k > 0, peak, np.where(s > 0, lam / s, np.inf))


def throughput(d: Draws, n: float) -> np.ndarray:
    """X(n) per draw."""
    return d.lam * n / (1 + d.sigma * (n - 1) + d.kappa * n * (n - 1))


def latency_ms(d: Draws, n: float, think_s: float) -> np.ndarray:
    """R(n) = n / X(n) − Z per draw, in ms (Little's law for a closed system); inf where λ = 0."""
    with np.errstate(divide="ignore"):
        return ((1 + d.sigma * (n - 1) + d.kappa * n * (n - 1)) / d.lam - think_s) * 1000.0


def _smallest_positive_roots(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Smallest positive root of aN² + bN + c per element; inf where there is none."""
    a, b, c = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float), np.asarray(c, float))
    out = np.full(a.shape, np.inf)
    lin = np.abs(a) < 1e-300
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = -c / b
        out = np.where(lin & (b != 0) & (r > 0), r, out)
        disc = b * b - 4 * a * c
        sq = np.sqrt(np.where(disc >= 0, disc, np.nan))
        q = -0.5 * (b + np.copysign(sq, b))
        r1, r2 = q / a, c / q
        best = np.fmin(np.where(r1 > 0, r1, np.inf), np.where(r2 > 0, r2, np.inf))
    return np.where(~lin & (disc >= 0), np.where(np.isnan(best), np.inf, best), out)


def concurrency_at_throughput(d: Draws, x: float) -> np.ndarray:
    """Smallest N with X(N) = x per draw; inf where the draw's curve never reaches x."""
    return _smallest_positive_roots(x * d.kappa, x * (d.sigma - d.kappa) - d.lam, x * (1 - d.sigma))


def concurrency_at_latency(d: Draws, limit_ms: float, think_s: float) -> np.ndarray:
    """N where R(N) reaches the limit per draw (R grows with N): 0 where R is above it at any load,
    inf where it never gets there."""
    c = 1 - d.sigma - d.lam * (limit_ms / 1000 + think_s)
    return np.where(c > 0, 0.0, _smallest_positive_roots(d.kappa, d.sigma - d.kappa, c))


def linear_scaling_p(fit: UslFit) -> float | None:
    """p-value of "the curve is linear, X = λN" against the USL fit: the extra-sum-of-squares F test
    of the nested model σ = κ = 0 (Bates & Watts 1988, sec. 3.10). A small p: the data shows a limit.

    Tested on the data rather than on σ and κ one at a time, which are strongly correlated when the
    measured range starts far from N = 1.
    """
    if not fit.ok or fit.dof < 1:
        return None
    from scipy.stats import f as f_dist

    n, x = np.array(fit.concurrency), np.array(fit.throughput)
    lam = float(n @ x / (n @ n))
    ssr_linear = float(np.sum((x - lam * n) ** 2))
    ssr = float(np.sum((x - fit.throughput_at(n)) ** 2))
    if ssr <= 0:
        return 0.0 if ssr_linear > 0 else 1.0
    stat = max(0.0, ssr_linear - ssr) / 2 / (ssr / fit.dof)
    return float(f_dist.sf(stat, 2, fit.dof))
