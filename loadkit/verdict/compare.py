"""Noise-aware comparison of a run with its baseline runs. Pure functions: no I/O, no clock.

Why per-run values: requests within one run are autocorrelated (a GC pause or a neighbour's
burst slows many at once), so a test over pooled requests, such as Mann-Whitney on every
latency, treats thousands of dependent samples as independent and raises false alarms in a
large share of unchanged runs. Each run contributes one value per key, measured over the
slices of its checked window in which the generator was not disturbed
(:mod:`loadkit.analysis.windows`), and that value is judged against the other runs' values.

The noise is heavy-tailed on a shared machine: most runs lie within a few per cent, a few are
2-3x slower. So the centre is the **median** of the baseline runs and their spread the
**MAD** (scaled by 1.4826 to estimate a normal sd; Hampel, "The influence curve and its role in
robust estimation", JASA 1974): a burst in one baseline run neither moves the centre nor
widens the spread. The spread is never taken below the runs' own within-run noise (the
standard error of each run's value, from the binomial order statistic of its quantile or the
spread between its slices; Kalibera & Jones, "Rigorous benchmarking in reasonable time", ISMM
2013) nor below a floor, so identical baselines do not make every change "significant".

The current run's value is tested one-sided, in the direction the check calls worse, against
``median ± z · sd_pred`` with ``sd_pred² = sd² (1 + π / 2k)`` (the variance of one new run plus
that of a median of ``k``) plus any within-run noise of the current run beyond the typical one.
``z`` is Bonferroni-corrected over every blocking comparison of the run (Dunn, "Multiple
comparisons among means", JASA 1961) at a family-wise α of 1 %: ten comparisons do not give
ten chances of a false FAIL.

A comparison FAILs only when the change is both beyond noise (significant) and beyond the
tolerance written in the check (``<= +10%``). Beyond tolerance but within noise is WARN
("inconclusive"), and every reason says the smallest change that comparison could have
detected at its noise, so a user sees when a check cannot see what it is asked to guard.
With fewer than :data:`MIN_RUNS` baseline runs the noise is unknown: the comparison is
reported but never blocks (WARN at most).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ..scenario.checks import SE_PREFIX, CompareCheck, metric_key, se_key
from ..status import Outcome
from ..units import format_value as _format
from ..units import kind_of_key

__all__ = ["Comparison", "compare_all", "combine", "Noise", "noise", "predicted_sd", "z_critical", "outliers", "ALPHA", "MIN_RUNS"]

#: The family-wise false-FAIL rate of one run's comparisons (one-sided, Bonferroni over them).
ALPHA = 0.01
MIN_RUNS = 3
#: The smallest run-to-run spread assumed: 1 % on the log scale, 0.05 percentage points for rates.
SD_FLOOR_LOG, SD_FLOOR_PP = 0.01, 0.0005
MAD_TO_SD = 1.4826
@dataclass(frozen=True)
class Comparison:
    check: str
    key: str
    status: Outcome  # PASS | WARN | FAIL | NODATA
    reason: str
    observed: float | None
    baseline: float | None  # median of the baseline runs
    delta: float | None  # relative (0.26 = +26%) or in percentage points, as the check's unit
    spread: float | None  # the noise one run has: a relative sd (log scale) or an sd in pp
    p_value: float | None  # one-sided, Bonferroni-adjusted over the run's blocking comparisons
    interval: tuple[float, float] | None  # where an unchanged run lies (99 % family-wise), in the value's unit
    runs: int
    blocking: bool = True  # False: reported only (no baseline yet, or too few runs to know the noise)
    improvement: bool = False
    detectable: float | None = None  # the smallest change (as delta) this comparison could FAIL on

    @property
    def name(self) -> str:
        """How the result is shown: the check, plus the endpoint's key when ``*`` expanded it."""
        return f"{self.check} [{self.key}]" if "*" in self.check else self.check

    def to_json(self) -> dict:
        return {
            "check": self.check, "key": self.key, "kind": "relative", "status": self.status, "reason": self.reason,
            "observed": self.observed, "baseline": self.baseline, "delta": self.delta, "spread": self.spread,
            "p_value": self.p_value, "interval": list(self.interval) if self.interval else None,
            "baseline_runs": self.runs, "blocking": self.blocking, "improvement": self.improvement,
            "detectable": self.detectable,
        }


@dataclass(frozen=True)
class Noise:
    """The baseline runs of one key, robustly: centre and spread on the comparison's scale."""

    center: float  # median (log scale for relative checks)
    sd: float  # the spread of one run: max(MAD-based sd, typical within-run se, floor)
    typical_se: float  # the median within-run standard error of the baseline runs (0 when unknown)
    runs: int


def noise(values: Sequence[float], ses: Sequence[float] = (), floor: float = SD_FLOOR_LOG) -> Noise:
    """Median, MAD-based spread and within-run noise of baseline values (already on the comparison's scale)."""
    v = np.asarray(values, dtype=np.float64)
    center = float(np.median(v))
    mad = MAD_TO_SD * float(np.median(np.abs(v - center))) if v.size >= MIN_RUNS else 0.0
    typical = float(np.median(ses)) if len(ses) else 0.0
    return Noise(center, max(mad, typical, floor), typical, int(v.size))


def predicted_sd(n: Noise, current_se: float | None, repeats: int = 1) -> float:
    """The sd of (current value - baseline median) for an unchanged current value that is the mean of
    ``repeats`` runs (``--confirm``): ``sd² (1/repeats + π/2k)`` plus any within-run noise beyond the usual."""
    extra = max(0.0, (current_se or 0.0) ** 2 - n.typical_se ** 2)  # a run noisier than usual
    return math.sqrt(n.sd ** 2 * (1.0 / repeats + math.pi / (2.0 * max(n.runs, 1))) + extra / repeats)


def combine(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The aggregates of several current runs as one (``--confirm``): the geometric mean of positive values
    (the mean on the log scale the comparison works on), else the mean; within-run se as the root mean square."""
    out: dict[str, float] = {}
    for key in runs[0]:
        vals = [float(r[key]) for r in runs if r.get(key) is not None and math.isfinite(r[key])]
        if len(vals) != len(runs):
            continue
        if key.startswith(SE_PREFIX):
            out[key] = math.sqrt(sum(v * v for v in vals) / len(vals))
        elif all(v > 0 for v in vals) and not key.startswith("error_rate"):
            out[key] = math.exp(sum(math.log(v) for v in vals) / len(vals))
        else:
            out[key] = sum(vals) / len(vals)
    return out


_NORMAL = NormalDist()  # the standard normal, from the standard library: scipy.stats takes 1 s to import


def z_critical(comparisons: int, alpha: float = ALPHA) -> float:
    """One-sided critical z for ``comparisons`` tests at family-wise ``alpha`` (Bonferroni)."""
    return -_NORMAL.inv_cdf(alpha / max(1, comparisons))


def _keys(check: CompareCheck, endpoints: Sequence[str]) -> list[tuple[str, str | None]]:
    if check.endpoint == "*":
        return [(metric_key(check.stat, check.metric, e), e) for e in endpoints]
    return [(metric_key(check.stat, check.metric, check.endpoint), check.endpoint)]


_METHOD = re.compile(r"^(?P<head>[^(]+\((?:[^,]+, )?)(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (?P<name>.+)\)$")


def _legacy_key(key: str) -> str | None:
    """``p95(latency, GET x)`` → ``p95(latency, x)``: the key an older baseline has for the same endpoint."""
    m = _METHOD.match(key)
    return f"{m.group('head')}{m.group('name')})" if m else None


@dataclass(frozen=True)
class _Case:
    """One key of one check, with its baseline values, before judging."""

    check: CompareCheck
    key: str
    endpoint: str | None
    observed: float | None
    values: tuple[float, ...]
    ses: tuple[float, ...]
    current_se: float | None

    @property
    def log(self) -> bool:
        return self.check.unit == "%" and self.observed is not None and self.observed > 0 and all(
            v > 0 for v in self.values)

    def scale(self, x: float) -> float:
        return math.log(x) if self.log else x

    def unscale(self, y: float) -> float:
        return math.exp(y) if self.log else y

    @property
    def noise(self) -> Noise | None:
        if not self.values:
            return None
        floor = SD_FLOOR_LOG if self.log else (SD_FLOOR_PP if self.check.unit == "pp" else 0.0)
        if not self.log and self.check.unit == "%":  # relative check on values with zeros: scale by the median
            floor = max(floor, SD_FLOOR_LOG * abs(float(np.median(self.values))))
        return noise([self.scale(v) for v in self.values], self.ses, floor)

    @property
    def judgeable(self) -> bool:
        return self.observed is not None and len(self.values) >= MIN_RUNS


def compare_all(checks: Sequence[CompareCheck], current: Mapping[str, float],
                baseline_runs: Sequence[Mapping[str, float]], endpoints: Sequence[str] = (),
                repeats: int = 1) -> list[Comparison]:
    """Judge every check against the baseline runs (oldest first). ``current``/runs map metric keys to values,
    and ``se:<key>`` to the within-run standard error of that value where the run measured it; ``current`` may
    be the :func:`combine` of ``repeats`` runs."""
    cases: list[_Case] = []
    for check in checks:
        for key, ep in _keys(check, endpoints):
            old = _legacy_key(key)  # baselines recorded before endpoints were keyed by method and name
            values, ses = [], []
            for r in baseline_runs:
                v = r.get(key, r.get(old) if old else None)
                if v is not None and math.isfinite(v):
                    values.append(float(v))
                    s = r.get(se_key(key))
                    if s is not None and math.isfinite(s):
                        ses.append(float(s))
            x = current.get(key)
            cases.append(_Case(check, key, ep, None if x is None else float(x), tuple(values), tuple(ses),
                               current.get(se_key(key))))
    z = z_critical(sum(c.judgeable for c in cases))
    return [_judge(c, z, len(baseline_runs), sum(c.judgeable for c in cases), repeats) for c in cases]


def _delta(c: _Case, center_value: float) -> float:
    assert c.observed is not None
    if c.check.unit == "pp":
        return (c.observed - center_value) * 100.0
    if center_value == 0:
        return 0.0 if c.observed == 0 else math.inf
    return c.observed / center_value - 1.0


def _judge(c: _Case, z: float, runs: int, family: int, repeats: int = 1) -> Comparison:
    chk = c.check
    n = c.noise
    center_value = None if n is None else float(np.median(c.values))
    base = dict(check=chk.text, key=c.key, observed=c.observed, baseline=center_value, runs=len(c.values))
    if runs == 0:
        return Comparison(status=Outcome.NODATA, delta=None, blocking=False, spread=None, p_value=None, interval=None,
                          reason=("no baseline runs for this scenario and environment yet: promote an accepted run "
                                  "(loadkit baseline promote RUN_DIR) to start comparing"), **base)
    if c.observed is None:
        return Comparison(status=Outcome.NODATA, delta=None, spread=None, p_value=None, interval=None,
                          reason=f"{c.key} has no value in this run", **base)
    if n is None or center_value is None:
        return Comparison(status=Outcome.NODATA, delta=None, blocking=False, spread=None, p_value=None, interval=None,
                          reason=f"{c.key} is in none of the {runs} baseline runs (new endpoint or metric?)", **base)
    delta = _delta(c, center_value)
    up = chk.worse == "up"
    bad = delta if up else -delta
    beyond = bad > chk.tolerance + 1e-12
    # the current run's own se widens only log-scale values: an error rate's binomial noise under "unchanged"
    # is the baseline's (its runs' rates), not that of the rate the current run happened to have
    sd = predicted_sd(n, c.current_se if c.log else None, repeats)
    spread = n.sd * (100.0 if chk.unit == "pp" else 1.0)
    head = _head(c, delta, center_value)
    change = f"{_fmt_delta(delta, chk.unit)}, tolerance {'+' if up else '-'}{_fmt_tol(chk)}"
    if len(c.values) < MIN_RUNS:
        have = f"{len(c.values)} baseline run{'s' if len(c.values) != 1 else ''}"
        note = (f"{have}, {MIN_RUNS} needed to know the noise, so this comparison does not block "
                "(record more with loadkit baseline record SCENARIO --runs 5)")
        return Comparison(status=Outcome.WARN if beyond else Outcome.PASS, delta=delta, blocking=False, spread=spread,
                          p_value=None, interval=None, reason=f"{head} ({change}; {note})", **base)
    dist = (c.scale(c.observed) - n.center) / sd if sd > 0 else (0.0 if c.scale(c.observed) == n.center else math.inf)
    worse_z = dist if up else -dist
    p = min(1.0, _NORMAL.cdf(-worse_z) * family)
    lo, hi = c.unscale(n.center - z * sd), c.unscale(n.center + z * sd)
    detectable = _detectable(c, n.center, z * sd, chk.tolerance)
    can = f"it could detect {_fmt_delta(detectable, chk.unit, signed=False)} {'or more' if up else 'or less'}"
    base.update(spread=spread, p_value=p, interval=(lo, hi), detectable=detectable)
    significant = worse_z > z
    improved = -worse_z > z
    if improved:
        return Comparison(status=Outcome.PASS, delta=delta, improvement=True, reason=(
            f"{head} ({change}): an improvement beyond noise (p={_p(-worse_z, family)}; {can})"), **base)
    if beyond and significant:
        return Comparison(status=Outcome.FAIL, delta=delta, reason=(
            f"{head} ({change}; beyond noise, p={_p(worse_z, family)}; {can})"), **base)
    if beyond:
        return Comparison(status=Outcome.WARN, delta=delta, reason=(
            f"{head} ({change}): inconclusive, within the runs' noise (p={_p(worse_z, family)}; {can})"), **base)
    if significant:
        return Comparison(status=Outcome.PASS, delta=delta, reason=(
            f"{head} ({change}): beyond noise (p={_p(worse_z, family)}) but within tolerance; {can}"), **base)
    return Comparison(status=Outcome.PASS, delta=delta, reason=f"{head} ({change}; within noise; {can})", **base)


def _detectable(c: _Case, center: float, margin: float, tolerance: float) -> float:
    """The smallest worsening that FAILs: beyond the tolerance and beyond ``margin`` (z · sd) of noise."""
    up = c.check.worse == "up"
    edge = c.unscale(center + margin if up else center - margin)
    ref = c.unscale(center)
    if c.check.unit == "pp":
        return max(tolerance, abs(edge - ref) * 100.0) * (1.0 if up else -1.0)
    noise_delta = abs(edge / ref - 1.0) if ref else math.inf
    return max(tolerance, noise_delta) * (1.0 if up else -1.0)


def _p(z: float, family: int) -> str:
    return f"{min(1.0, _NORMAL.cdf(-z) * family):.2g}"


def _head(c: _Case, delta: float, center_value: float) -> str:
    what = _describe(c)
    base = _fmt_base(c)
    if delta == 0:
        return f"{what} stayed at {format_value(c.key, c.observed)} ({base})"
    moved = "rose" if delta > 0 else "fell"
    return f"{what} {moved} from {format_value(c.key, center_value)} ({base}) to {format_value(c.key, c.observed)}"


def _describe(c: _Case) -> str:
    chk = c.check
    scope = "" if c.endpoint is None else f" of {c.endpoint}"
    if chk.stat is None:
        return f"{chk.metric}{scope}"
    if chk.metric == "latency":
        return f"{chk.stat}{scope}"
    return f"{chk.stat}({chk.metric}){scope}"


def _fmt_base(c: _Case) -> str:
    k = len(c.values)
    runs = f"median of {k} baseline runs" if k != 1 else "1 baseline run"
    n = c.noise
    if n is None or k < MIN_RUNS:
        return runs
    spread = f"±{n.sd * 100:.1f}%" if c.check.unit == "%" and c.log else (
        f"±{n.sd * 100:.2f}pp" if c.check.unit == "pp" else f"±{n.sd:.3g}")
    return f"{runs}, noise {spread}"


def format_value(key: str, v: float | None) -> str:
    return _format(kind_of_key(key), v)


def _fmt_delta(delta: float, unit: str, signed: bool = True) -> str:
    if unit == "pp":
        return f"{delta:+.2f}pp" if signed else f"{abs(delta):.2f}pp"
    if math.isinf(delta):
        return "+inf%" if signed else "inf%"
    pct = delta * 100
    digits = 0 if abs(pct) >= 10 else 1
    return f"{pct:+.{digits}f}%" if signed else f"{'+' if delta > 0 else '-'}{abs(pct):.{digits}f}%"


def _fmt_tol(c: CompareCheck) -> str:
    return f"{c.tolerance:g}pp" if c.unit == "pp" else f"{c.tolerance * 100:g}%"


#: A run this many noise widths from the baseline's median is an outlier: it does not join the baseline.
OUTLIER_Z = 3.5


def outliers(comparisons: Sequence[Comparison]) -> list[str]:
    """Why a run would be an outlier among the baseline runs it joins (robust z over :data:`OUTLIER_Z`), in
    the worse direction: an improvement may join, or a baseline could never follow a real speed-up."""
    out = []
    for c in comparisons:
        if c.improvement or c.delta is None or c.spread is None or not c.spread or c.runs < MIN_RUNS or math.isinf(c.delta):
            continue
        pp = c.key.startswith("error_rate")  # its delta and spread are in percentage points
        dist = abs(c.delta) / c.spread if pp else abs(math.log1p(c.delta)) / c.spread if c.delta > -1 else math.inf
        if dist > OUTLIER_Z:
            out.append(f"{c.key} {format_value(c.key, c.observed)} is {dist:.1f} noise widths from the baseline "
                       f"median {format_value(c.key, c.baseline)}")
    return out
