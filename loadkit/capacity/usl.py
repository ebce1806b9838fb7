"""The Universal Scalability Law: the model, its least-squares fit, and the fit's covariance.

Gunther, *Guerrilla Capacity Planning* (Springer, 2007), ch. 4-6, models the throughput of a
system at concurrency N as

    X(N) = λN / (1 + σ(N − 1) + κN(N − 1))

with σ the contention (serialisation, queueing on a shared resource), κ the coherency delay
(crosstalk: keeping shared state consistent) and λ the throughput of one user without either.
As in the R ``usl`` package (Möding, version 2, method ``nlxb``) and usl4j, all three are
estimated together by nonlinear least squares; standard errors come from the Jacobian at the
optimum, as R's ``nls`` and the ``usl`` package compute them; the covariance is kept so that
every derived figure can carry an interval (:mod:`.uncertainty`).

Pure functions over arrays returning frozen dataclasses: no I/O, no clock. A fit that cannot be
trusted is returned with ``ok=False`` and a one-line ``reason``; it never carries numbers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["UslFit", "usl_throughput", "usl_jacobian", "fit_usl", "smallest_positive_root", "MIN_POINTS",
           "MIN_R_SQUARED"]

MIN_POINTS = 4  # distinct concurrency levels: three parameters plus one degree of freedom
MIN_R_SQUARED = 0.8  # below this the law does not describe the data well enough to extrapolate
_KAPPA_NEGLIGIBLE = 1e-9  # κ·N_max² below this: coherency has no visible effect in the measured range


def usl_throughput(n: np.ndarray | float, sigma: float, kappa: float, lam: float) -> np.ndarray:
    """X(N) of the USL (Gunther 2007, ch. 4), with λ the throughput scale."""
    n = np.asarray(n, dtype=float)
    return lam * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))


def usl_jacobian(n: np.ndarray, sigma: float, kappa: float, lam: float) -> np.ndarray:
    """∂X/∂(σ, κ, λ) per point, analytic (as R usl's ``gradient.usl``): the covariance is built from it."""
    n = np.asarray(n, dtype=float)
    d = 1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0)
    x = lam * n / d
    return np.column_stack([-x * (n - 1.0) / d, -x * n * (n - 1.0) / d, n / d])


@dataclass(frozen=True)
class UslFit:
    """The outcome of :func:`fit_usl`: parameters and their uncertainty, or why there are none."""

    ok: bool
    reason: str  # "" when ok; otherwise one line saying why there is no curve
    n_points: int
    sigma: float | None = None
    kappa: float | None = None
    lam: float | None = None
    sigma_se: float | None = None
    kappa_se: float | None = None
    lam_se: float | None = None
    sigma_ci: tuple[float, float] | None = None  # 95 %, Student t on n − 3 dof, clipped to the bounds
    kappa_ci: tuple[float, float] | None = None
    lam_ci: tuple[float, float] | None = None
    r_squared: float | None = None
    residual_se: float | None = None
    dof: int = 0  # residual degrees of freedom, n − 3
    peak_concurrency: float | None = None  # N* = √((1 − σ)/κ); None when κ = 0 (no retrograde region)
    peak_throughput: float | None = None  # X(N*); with κ = 0 the ceiling λ/σ that is approached, never reached
    peak_note: str = ""
    cov: tuple[tuple[float, float, float], ...] | None = field(default=None, repr=False)  # of (σ, κ, λ)
    concurrency: tuple[float, ...] = field(default=(), repr=False)
    throughput: tuple[float, ...] = field(default=(), repr=False)

    def _need(self) -> tuple[float, float, float]:
        if not self.ok or self.sigma is None or self.kappa is None or self.lam is None:
            raise ValueError(f"no USL fit: {self.reason}")
        return self.sigma, self.kappa, self.lam

    @property
    def coherency_limited(self) -> bool:
        """True when κ is large enough to bend the curve back (a finite N*)."""
        return self.peak_concurrency is not None

    def throughput_at(self, n: np.ndarray | float) -> np.ndarray:
        """Predicted throughput X(N), in the unit of the input throughput."""
        return usl_throughput(n, *self._need())

    def latency_ms_at(self, n: np.ndarray | float, think_time_s: float = 0.0) -> np.ndarray:
        """Predicted mean response time R(N) = N / X(N) − Z, in ms, throughput in requests/s.

        Little's law for a closed system of N users, each waiting Z seconds between requests
        (N = X·(R + Z)). With Z = 0 every user always has a request in flight.
        """
        sigma, kappa, lam = self._need()
        n = np.asarray(n, dtype=float)
        return ((1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0)) / lam - think_time_s) * 1000.0

    def concurrency_at_throughput(self, x: float) -> float | None:
        """The smallest N with X(N) = x, or None when x is beyond what the system can deliver."""
        sigma, kappa, lam = self._need()
        # x(1 + σ(N−1) + κN(N−1)) = λN  ⇔  xκN² + (x(σ−κ) − λ)N + x(1−σ) = 0
        return smallest_positive_root(x * kappa, x * (sigma - kappa) - lam, x * (1.0 - sigma))

    def concurrency_at_latency_ms(self, limit_ms: float, think_time_s: float = 0.0) -> float:
        """The N at which R(N) reaches ``limit_ms`` (R grows monotonically with N); 0 when R is above
        the limit at any load, inf when it never gets there."""
        sigma, kappa, lam = self._need()
        # (1 + σ(N−1) + κN(N−1))/λ = L + Z  ⇔  κN² + (σ−κ)N + (1 − σ − λ(L + Z)) = 0
        c = 1.0 - sigma - lam * (limit_ms / 1000.0 + think_time_s)
        if c > 0:
            return 0.0
        root = smallest_positive_root(kappa, sigma - kappa, c)
        return math.inf if root is None else root

    def to_json(self) -> dict:
        ci = (lambda v: None if v is None else list(v))  # noqa: E731
        return {
            "ok": self.ok, "reason": self.reason, "n_points": self.n_points,
            "sigma": self.sigma, "kappa": self.kappa, "lambda": self.lam,
            "peak_concurrency": self.peak_concurrency, "peak_throughput": self.peak_throughput,
            "peak_note": self.peak_note, "r_squared": self.r_squared, "residual_se": self.residual_se,
            "dof": self.dof,
            "stderr": {"sigma": self.sigma_se, "kappa": self.kappa_se, "lambda": self.lam_se},
            "ci95": {"sigma": ci(self.sigma_ci), "kappa": ci(self.kappa_ci), "lambda": ci(self.lam_ci)},
        }


def smallest_positive_root(a: float, b: float, c: float) -> float | None:
    """The smallest positive root of aN² + bN + c, or None; stable for a → 0 (the κ = 0 case)."""
    if abs(a) < 1e-300:
        if b == 0:
            return None
        root = -c / b
        return root if root > 0 else None
    disc = b * b - 4 * a * c
    if disc < 0:
        return None
    sq = math.sqrt(disc)
    # numerically stable pair of roots
    q = -0.5 * (b + math.copysign(sq, b))
    roots = [r for r in (q / a, c / q if q != 0 else math.nan) if r > 0 and math.isfinite(r)]
    return min(roots) if roots else None


def _no_fit(reason: str, n: np.ndarray, x: np.ndarray) -> UslFit:
    return UslFit(False, reason, int(n.size), concurrency=tuple(map(float, n)), throughput=tuple(map(float, x)))


def fit_usl(concurrency: Sequence[float] | np.ndarray, throughput: Sequence[float] | np.ndarray, *,
            min_r_squared: float = MIN_R_SQUARED, max_nfev: int = 5000) -> UslFit:
    """Fit σ, κ and λ to measured (N, X) pairs by bounded nonlinear least squares.

    Bounds σ ∈ [0, 1], κ ≥ 0, λ > 0 (those of the R ``usl`` package). Starts from R's point
    (λ0 = max X/N, σ0 = 0.01, κ0 = 1e-4) and a few others scaled to the data, keeping the lowest
    residual sum of squares, so a poor start cannot pass for a poor system.
    """
    n = np.asarray(concurrency, dtype=float).ravel()
    x = np.asarray(throughput, dtype=float).ravel()
    if n.size != x.size:
        raise ValueError(f"{n.size} concurrency values but {x.size} throughput values")
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(x))):
        return _no_fit("the data contains missing or infinite values", n, x)
    if np.any(n <= 0):
        return _no_fit(f"concurrency must be positive (got {n[n <= 0][0]:g})", n, x)
    order = np.argsort(n, kind="stable")
    n, x = n[order], x[order]
    levels = np.unique(n).size
    if levels < MIN_POINTS:
        return _no_fit(f"need at least {MIN_POINTS} distinct concurrency levels to fit 3 parameters, got {levels}",
                       n, x)
    if np.any(x <= 0):
        return _no_fit(f"non-positive throughput at N={n[x <= 0][0]:g}: the USL needs X(N) > 0", n, x)
    first = x[n == n[0]].mean()
    if x[n > n[0]].max() <= first:
        return _no_fit(f"throughput never rises above its value at the lowest concurrency (N={n[0]:g}): "
                       "nothing scales, so there is no USL curve to fit", n, x)

    from scipy.optimize import OptimizeWarning, curve_fit
    from scipy.stats import t as student_t

    lam0 = float(np.max(x / n))
    n_max = float(n.max())
    starts = [(0.01, 1e-4, lam0), (0.01, 1.0 / n_max**2, lam0), (0.1, 1e-6 / n_max, lam0), (0.5, 0.0, lam0)]
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    failure = ""
    for p0 in starts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                popt, pcov = curve_fit(usl_throughput, n, x, p0=p0, bounds=([0.0, 0.0, 1e-300], [1.0, np.inf, np.inf]),
                                       method="trf", jac=usl_jacobian, x_scale="jac", max_nfev=max_nfev,
                                       ftol=1e-12, xtol=1e-12, gtol=1e-12)
        except (RuntimeError, ValueError) as exc:
            failure = str(exc).splitlines()[0]
            continue
        ssr = float(np.sum((x - usl_throughput(n, *popt)) ** 2))
        if np.isfinite(ssr) and (best is None or ssr < best[0]):
            best = (ssr, popt, pcov)
    if best is None:
        return _no_fit(f"the least-squares fit did not converge ({failure})", n, x)
    ssr, (sigma, kappa, lam), pcov = best
    sigma, kappa, lam = float(sigma), float(kappa), float(lam)

    sst = float(np.sum((x - x.mean()) ** 2))
    r2 = 1.0 - ssr / sst if sst > 0 else 0.0
    if r2 < min_r_squared:
        return _no_fit(f"the USL does not describe this data (r² = {r2:.3f} < {min_r_squared:g})", n, x)
    if sigma >= 0.99:
        return _no_fit(f"σ = {sigma:.3f} at its bound of 1: throughput does not grow with concurrency, "
                       "so the USL parameters mean nothing here", n, x)
    if lam <= 1e-12 * lam0:
        return _no_fit("λ collapsed to 0: the fit is degenerate", n, x)

    dof = n.size - 3
    se = np.sqrt(np.diag(pcov)) if dof > 0 and np.all(np.isfinite(pcov)) else np.full(3, np.nan)
    q = float(student_t.ppf(0.975, dof)) if dof > 0 else math.nan

    def unc(i: int) -> tuple[float | None, tuple[float, float] | None]:
        s = float(se[i])
        if not math.isfinite(s):
            return None, None
        v, lo, hi = (sigma, kappa, lam)[i], (0.0, 0.0, 0.0)[i], (1.0, math.inf, math.inf)[i]
        return s, (max(lo, v - q * s), min(hi, v + q * s))  # clipped to the parameter's bounds

    (s_se, s_ci), (k_se, k_ci), (l_se, l_ci) = unc(0), unc(1), unc(2)
    if kappa * n_max**2 <= _KAPPA_NEGLIGIBLE:
        kappa = 0.0  # at its bound: report the 0 the optimiser was heading for, not 1e-27
    if sigma * n_max <= _KAPPA_NEGLIGIBLE:
        sigma = 0.0  # likewise for σ
    if kappa > 0:
        peak_n = math.sqrt((1.0 - sigma) / kappa)
        peak_x = float(usl_throughput(peak_n, sigma, kappa, lam))
        note = "fitted curve peaks at N* = √((1 − σ)/κ) and falls beyond it"
    elif sigma > 0:
        peak_n, peak_x = None, lam / sigma
        note = "κ estimated 0: the fitted curve has no peak and approaches the ceiling λ/σ"
    else:
        peak_n, peak_x = None, None
        note = "σ = κ = 0 estimated: the fitted curve is linear"
    cov = tuple(tuple(map(float, row)) for row in pcov) if dof > 0 and np.all(np.isfinite(pcov)) else None
    return UslFit(True, "", int(n.size), sigma, kappa, lam, s_se, k_se, l_se, s_ci, k_ci, l_ci, r2,
                  math.sqrt(ssr / dof) if dof > 0 else None, dof, peak_n, peak_x, note, cov,
                  tuple(map(float, n)), tuple(map(float, x)))
