"""Noise-aware comparison of a run with its baseline runs. Pure functions: no I/O, no clock.

Why per-run aggregates: requests within one run are autocorrelated (a GC pause or a cold
cache slows many neighbours at once), so a test over pooled per-request samples, such as
Mann-Whitney on every latency, treats thousands of dependent samples as independent and
raises false alarms in a large share of unchanged runs. Here each baseline run contributes
one value (its p95, its error rate...), and the current run's value is judged against the
run-to-run spread of those values with a prediction interval for one new observation
(Student t with k-1 degrees of freedom, on the log scale for relative checks; Hahn & Meeker,
*Statistical Intervals*, 1991, ch. 4). The p-values of all checks of a run are adjusted
with Holm's step-down procedure (Holm, 1979, "A simple sequentially rejective multiple test
procedure"), so ten checks do not give ten chances of a false alarm.

The tolerance written in the check (``<= +10%``) is the practical threshold on top: a
change must be both real (beyond noise) and large (beyond tolerance) to FAIL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ..scenario.checks import CompareCheck, metric_key
from ..status import Outcome
from ..units import format_value as _format
from ..units import kind_of_key

__all__ = ["Comparison", "compare_all", "ALPHA", "MIN_RUNS"]

ALPHA = 0.05
MIN_RUNS = 3
#: The smallest run-to-run spread assumed, so that identical baseline runs (error rate 0 in
#: every run, say) do not make any change at all "beyond noise": 1% on the log scale,
#: 0.05 percentage points for rates.
SD_FLOOR_LOG, SD_FLOOR_PP = 0.01, 0.0005


@dataclass(frozen=True)
class Comparison:
    check: str
    key: str
    status: Outcome  # PASS | WARN | FAIL | NODATA
    reason: str
    observed: float | None
    baseline: float | None  # median of the baseline runs
    delta: float | None  # relative (0.26 = +26%) or in percentage points, as the check's unit
    spread: float | None  # run-to-run spread: relative sd on the log scale, or sd in pp
    p_value: float | None  # Holm-adjusted
    interval: tuple[float, float] | None  # 95% prediction interval for one run, in the value's unit
    runs: int
    blocking: bool = True  # False: NODATA because there is no baseline yet
    improvement: bool = False

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
        }


def _keys(check: CompareCheck, endpoints: Sequence[str]) -> list[tuple[str, str | None]]:
    if check.endpoint == "*":
        return [(metric_key(check.stat, check.metric, e), e) for e in endpoints]
    return [(metric_key(check.stat, check.metric, check.endpoint), check.endpoint)]


@dataclass(frozen=True)
class _Raw:
    check: CompareCheck
    key: str
    endpoint: str | None
    observed: float | None
    values: tuple[float, ...]
    p: float | None
    center: float | None
    spread: float | None
    interval: tuple[float, float] | None


def _test(check: CompareCheck, x: float, values: np.ndarray) -> tuple[float | None, float | None, tuple[float, float] | None]:
    """Two-sided p-value that ``x`` comes from the baseline runs' distribution, the spread, the interval."""
    k = values.size
    if k < 2:
        return None, None, None
    log = check.unit == "%" and (values > 0).all() and x > 0
    v = np.log(values) if log else values
    obs = math.log(x) if log else x
    mean = float(v.mean())
    sd = max(float(v.std(ddof=1)), SD_FLOOR_LOG if log else (SD_FLOOR_PP if check.unit == "pp" else 0.0))
    half = float(sps.t.ppf(1 - ALPHA / 2, k - 1)) * sd * math.sqrt(1 + 1 / k)
    interval = (math.exp(mean - half), math.exp(mean + half)) if log else (mean - half, mean + half)
    spread = sd if log else sd * 100.0
    if k < MIN_RUNS:
        return None, spread, interval
    if sd == 0.0:  # relative check on values with zeros: no scale to measure noise on
        return (1.0 if obs == mean else 0.0), spread, interval
    t = (obs - mean) / (sd * math.sqrt(1 + 1 / k))
    return float(2 * sps.t.sf(abs(t), k - 1)), spread, interval


_METHOD = re.compile(r"^(?P<head>[^(]+\((?:[^,]+, )?)(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (?P<name>.+)\)$")


def _legacy_key(key: str) -> str | None:
    """``p95(latency, GET x)`` → ``p95(latency, x)``: the key an older baseline has for the same endpoint."""
    m = _METHOD.match(key)
    return f"{m.group('head')}{m.group('name')})" if m else None


def _holm(ps: list[float | None]) -> list[float | None]:
    """Holm-adjusted p-values (None stays None)."""
    idx = sorted((i for i, p in enumerate(ps) if p is not None), key=lambda i: ps[i])
    m, out, running = len(idx), list(ps), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


def compare_all(checks: Sequence[CompareCheck], current: Mapping[str, float],
                baseline_runs: Sequence[Mapping[str, float]], endpoints: Sequence[str] = ()) -> list[Comparison]:
    """Judge every check against the baseline runs (oldest first). ``current``/runs map metric keys to values."""
    raws: list[_Raw] = []
    for check in checks:
        for key, ep in _keys(check, endpoints):
            x = current.get(key)
            old = _legacy_key(key)  # baselines recorded before endpoints were keyed by method and name
            values = tuple(float(v) for r in baseline_runs for v in [r.get(key, r.get(old) if old else None)]
                           if v is not None and math.isfinite(v))
            p = spread = interval = None
            if x is not None and values:
                p, spread, interval = _test(check, float(x), np.asarray(values))
            center = float(np.median(values)) if values else None
            raws.append(_Raw(check, key, ep, None if x is None else float(x), values, p, center, spread, interval))
    adjusted = _holm([r.p for r in raws])
    return [_judge(r, p, len(baseline_runs)) for r, p in zip(raws, adjusted, strict=True)]


def _judge(r: _Raw, p: float | None, runs: int) -> Comparison:
    c = r.check
    base = dict(check=c.text, key=r.key, observed=r.observed, baseline=r.center, spread=r.spread, p_value=p,
                interval=r.interval, runs=len(r.values))
    if runs == 0:
        return Comparison(status=Outcome.NODATA, delta=None, blocking=False, reason=(
            "no baseline runs for this scenario and environment yet: promote an accepted run "
            "(loadkit baseline promote RUN_DIR) to start comparing"), **base)
    if r.observed is None:
        return Comparison(status=Outcome.NODATA, delta=None, reason=f"{r.key} has no value in this run", **base)
    if not r.values or r.center is None:
        return Comparison(status=Outcome.NODATA, delta=None, blocking=False,
                          reason=f"{r.key} is in none of the {runs} baseline runs (new endpoint or metric?)", **base)
    if c.unit == "pp":
        delta = (r.observed - r.center) * 100.0
    elif r.center == 0:
        delta = 0.0 if r.observed == 0 else math.inf
    else:
        delta = r.observed / r.center - 1.0
    bad = delta if c.worse == "up" else -delta
    beyond = bad > c.tolerance + 1e-12
    what = _describe(r)
    change = f"{_fmt_delta(delta, c.unit)}, tolerance {'+' if c.worse == 'up' else '-'}{_fmt_tol(c)}"
    if delta == 0:
        head = f"{what} stayed at {format_value(r.key, r.observed)} ({_fmt_base(r)})"
    else:
        moved = "rose" if delta > 0 else "fell"
        head = f"{what} {moved} from {format_value(r.key, r.center)} ({_fmt_base(r)}) to {format_value(r.key, r.observed)}"
    if len(r.values) < MIN_RUNS:
        note = f"tolerance only: {len(r.values)} baseline run{'s' if len(r.values) != 1 else ''}, {MIN_RUNS} needed to measure noise"
        status = Outcome.FAIL if beyond else Outcome.PASS
        return Comparison(status=status, delta=delta, reason=f"{head} ({change}; {note})", **base)
    significant = p is not None and p < ALPHA
    if significant and bad < 0:
        return Comparison(status=Outcome.PASS, delta=delta, improvement=True, reason=(
            f"{head} ({change}): an improvement beyond noise (p={p:.3g}); consider promoting this run"), **base)
    if beyond and significant:
        return Comparison(status=Outcome.FAIL, delta=delta, reason=f"{head} ({change}; beyond noise, p={p:.3g})", **base)
    if beyond:
        return Comparison(status=Outcome.WARN, delta=delta, reason=(
            f"{head} ({change}): inconclusive, within the baseline's run-to-run noise (p={p:.3g})"), **base)
    if significant:
        return Comparison(status=Outcome.WARN, delta=delta, reason=(
            f"{head} ({change}): changed beyond noise (p={p:.3g}) but within tolerance"), **base)
    return Comparison(status=Outcome.PASS, delta=delta, reason=f"{head} ({change}; within noise)", **base)


def _describe(r: _Raw) -> str:
    c = r.check
    scope = "" if r.endpoint is None else f" of {r.endpoint}"
    if c.stat is None:
        return f"{c.metric}{scope}"
    if c.metric == "latency":
        return f"{c.stat}{scope}"
    return f"{c.stat}({c.metric}){scope}"


def _fmt_base(r: _Raw) -> str:
    if r.spread is None:
        return f"baseline: {len(r.values)} run{'s' if len(r.values) != 1 else ''}"
    spread = f"±{r.spread * 100:.0f}%" if r.check.unit == "%" else f"±{r.spread:.2f}pp"
    return f"baseline: {len(r.values)} runs, {spread}"


def format_value(key: str, v: float | None) -> str:
    return _format(kind_of_key(key), v)


def _fmt_delta(delta: float, unit: str) -> str:
    if unit == "pp":
        return f"{delta:+.2f}pp"
    return "+inf%" if math.isinf(delta) else f"{delta * 100:+.0f}%"


def _fmt_tol(c: CompareCheck) -> str:
    return f"{c.tolerance:g}pp" if c.unit == "pp" else f"{c.tolerance * 100:g}%"
