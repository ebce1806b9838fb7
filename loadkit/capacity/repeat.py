"""Repeatability: do several step runs of one scenario describe the same system?

Each run is fitted on its own and its figures get their intervals; the runs *agree* when
(1) one curve describes all of them as well as one curve per run does, by the extra-sum-of-squares
F test for nonlinear models (Bates & Watts 1988, sec. 3.10; Seber & Wild, *Nonlinear Regression*,
1989, sec. 5.9.1), at the 5 % level, and (2) the 95 % intervals of σ, κ, λ and of the maximum
throughput overlap pairwise. Otherwise the report says they disagree and names what differs: the
pooled figures then average systems that were not the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .findings import WIDE_RATIO, Figures, figures, span
from .inputs import Point, RunInfo
from .uncertainty import Interval, draw_parameters
from .usl import UslFit, fit_usl, usl_throughput

__all__ = ["RunFigures", "Agreement", "compare_runs", "ALPHA"]

ALPHA = 0.05


@dataclass(frozen=True)
class RunFigures:
    """One run's own fit and intervals."""

    run: str
    n_points: int
    fit: UslFit
    figures: Figures | None

    def to_json(self) -> dict:
        f = self.figures
        iv = (lambda v: None if v is None else v.to_json())  # noqa: E731
        return {"run": self.run, "n_points": self.n_points, "ok": self.fit.ok, "reason": self.fit.reason,
                "r_squared": self.fit.r_squared,
                "sigma": iv(f and f.sigma), "kappa": iv(f and f.kappa), "lambda": iv(f and f.lam),
                "peak_concurrency": iv(f and f.peak_concurrency), "max_throughput": iv(f and f.max_throughput)}


@dataclass(frozen=True)
class Agreement:
    """``agree`` is None when it cannot be judged (a run without a fit); ``verdict`` says so in words."""

    runs: tuple[RunFigures, ...]
    agree: bool | None
    f_statistic: float | None
    p_value: float | None
    disagreements: tuple[str, ...]  # "κ: run-a [..] and run-b [..] do not overlap"
    notes: tuple[str, ...]  # scenario files that differ, overrides
    verdict: str

    def to_json(self) -> dict:
        return {"agree": self.agree, "verdict": self.verdict, "f_statistic": self.f_statistic, "p_value": self.p_value,
                "disagreements": list(self.disagreements), "notes": list(self.notes),
                "runs": [r.to_json() for r in self.runs]}


def _ssr(fit: UslFit) -> float:
    n, x = np.array(fit.concurrency), np.array(fit.throughput)
    return float(np.sum((x - usl_throughput(n, fit.sigma, fit.kappa, fit.lam)) ** 2))


def compare_runs(points: Sequence[Point], runs: Sequence[RunInfo], rng: np.random.Generator) -> Agreement | None:
    """Fit each run's points alone and test them against one fit of all; None with fewer than 2 runs.

    The fits here keep a low r² (``min_r_squared=0``): a run the USL describes poorly still has
    least-squares estimates, and their wide intervals are what is compared.
    """
    ids = list(dict.fromkeys(p.run for p in points))
    if len(ids) < 2:
        return None
    per_run = []
    for run in ids:
        pts = [p for p in points if p.run == run]
        f = fit_usl([p.concurrency for p in pts], [p.throughput for p in pts], min_r_squared=0.0)
        per_run.append(RunFigures(run, len(pts), f, figures(f, draw_parameters(f, rng))))
    pooled = fit_usl([p.concurrency for p in points], [p.throughput for p in points], min_r_squared=0.0)
    notes = []
    if len({r.scenario_sha256 for r in runs}) > 1:
        notes.append("the scenario file differs between the runs (sha256)")
    if len({r.overrides for r in runs}) > 1:
        notes.append("the runs were started with different --set overrides")
    failed = [r for r in per_run if not r.fit.ok or r.figures is None]
    if failed or not pooled.ok:
        why = "; ".join(f"{r.run}: no USL fit ({r.fit.reason})" for r in failed) or f"pooled: {pooled.reason}"
        return Agreement(tuple(per_run), None, None, None, (), tuple(notes), f"cannot compare the runs: {why}")
    from scipy.stats import f as f_dist

    k, n = len(per_run), len(pooled.concurrency)
    separate = sum(_ssr(r.fit) for r in per_run)
    df1, df2 = 3 * (k - 1), n - 3 * k
    f_stat = p = None
    if df2 > 0 and separate > 0:
        f_stat = max(0.0, (_ssr(pooled) - separate) / df1) / (separate / df2)
        p = float(f_dist.sf(f_stat, df1, df2))
    differ = []
    for name, get in (("σ", lambda g: g.sigma), ("κ", lambda g: g.kappa), ("λ", lambda g: g.lam),
                      ("maximum throughput", lambda g: g.max_throughput)):
        for i in range(k):
            for j in range(i + 1, k):
                a: Interval | None = get(per_run[i].figures)
                b: Interval | None = get(per_run[j].figures)
                if a is not None and b is not None and not a.overlaps(b):
                    differ.append(f"{name}: {per_run[i].run} {span(a, 3)} and {per_run[j].run} {span(b, 3)} "
                                  "do not overlap")
    curve_differs = p is not None and p < ALPHA
    agree = not differ and not curve_differs
    if agree:
        test = "" if p is None else f" (one curve fits all runs: F test p = {p:.2f})"
        verdict = f"the {k} runs agree: their intervals of σ, κ, λ and the maximum overlap{test}"
        wide = [r.run for r in per_run if r.figures is not None and any(
            iv is None or iv.ratio > WIDE_RATIO for iv in (r.figures.lam, r.figures.max_throughput))]
        if wide:
            verdict += (f"; but the intervals of {', '.join(wide)} are wide (λ or the maximum known to worse than a "
                        "factor of 2), so agreeing says little: longer or more steps would make it a real test")
    else:
        why = []
        if curve_differs:
            why.append(f"one curve does not fit all runs as well as one per run (F = {f_stat:.1f}, p = {p:.2g})")
        why += differ
        verdict = (f"the {k} runs disagree: {'; '.join(why)}. The pooled figures mix systems that behaved "
                   "differently: find out why (warm-up, a shared or noisy machine, a changed target) before using them")
    return Agreement(tuple(per_run), agree, f_stat, p, tuple(differ), tuple(notes), verdict)
