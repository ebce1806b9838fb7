"""The checked window cut into equal slices: what the baseline comparison measures a run by.

One aggregate over the whole window lets a neighbour's burst of a few seconds move a run's p95 by
half; the same burst moves a few slices out of twenty. Each slice keeps, per endpoint, its request
and failure counts and the log-binned latencies of its successes (:mod:`.sketch`, sparse while
adding, so memory does not grow with the run). At the end the slices in which the load generator
itself was disturbed (its event loop late, CPU stolen, the machine saturated: ``health.parquet``)
are set aside, and the statistics are computed over the slices that remain, with the spread
between slices as the run's own noise: the within-run level of Kalibera & Jones, "Rigorous
benchmarking in reasonable time" (ISMM 2013), measured instead of assumed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .sketch import NBINS, LogBins

__all__ = ["SliceBins", "RobustStats", "order_statistic_se", "GRID", "slice_width", "MIN_SLICE_S", "MAX_SLICES", "DISTURBED_LAG_MS",
           "DISTURBED_STEAL", "DISTURBED_HOST", "DISTURBED_OTHERS",
           "DISTURBED_BUSY", "DISTURBED_WAIT", "DISTURBED_WAIT_OTHERS"]

MIN_SLICE_S = 1.0
MAX_SLICES = 30
#: A second is disturbed when the generator's 10 ms timer ran this late, this share of CPU was stolen by
#: the hypervisor, or the machine was short of CPU because of others: processes that are neither loadkit's
#: nor the target's used DISTURBED_OTHERS of all cores while the machine was DISTURBED_BUSY busy (with
#: headroom left, a neighbour takes nobody's CPU). Steal is set high: on a shared VM it is often 5-30 % all
#: day, and a condition that never ends is one the baseline shares, not a disturbance. DISTURBED_HOST (the
#: whole machine this busy) stands in where others were not recorded (runs from before loadkit did).
DISTURBED_LAG_MS = 25.0
DISTURBED_STEAL = 25.0
DISTURBED_OTHERS = 30.0
DISTURBED_BUSY = 85.0
DISTURBED_HOST = 95.0
#: ... or its event loop's thread waited this share of the second for a CPU while others (not loadkit, not
#: the target) used DISTURBED_WAIT_OTHERS of all cores: a neighbour had its core. A target on the same host
#: that takes the generator's core is the run's own condition, shared by its baseline, not a disturbance.
DISTURBED_WAIT = 25.0
DISTURBED_WAIT_OTHERS = 10.0

def slice_width(seconds: float) -> float:
    """1 s slices for a short window, wider ones so a long window has at most MAX_SLICES."""
    return max(MIN_SLICE_S, math.ceil(seconds / MAX_SLICES))


@dataclass(frozen=True)
class RobustStats:
    """One endpoint's (or all requests') statistics over the slices kept."""

    total: int
    failures: int
    rps: float
    quantiles: dict[str, float] = field(default_factory=dict)  # p50, p90, p95, p99 (within 0.5 %)
    mean: float | None = None
    se_log: dict[str, float] = field(default_factory=dict)  # the run's own noise on each log quantile
    grid: tuple[float, ...] = ()  # the latency at each of GRID's probabilities: the distribution, for reports

    def to_json(self) -> dict:
        return {"total": self.total, "failures": self.failures,
                "error_rate": round(self.failures / self.total, 6) if self.total else 0.0, "rps": round(self.rps, 3),
                "latency_ms": {k: round(v, 3) for k, v in self.quantiles.items()} or None,
                "se_log": {k: round(v, 5) for k, v in self.se_log.items()} or None,
                "grid": [round(v, 3) for v in self.grid] or None}


#: The probabilities at which each endpoint's distribution is kept (the report draws it over the baseline's).
GRID = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999)


def order_statistic_se(bins: LogBins, p: float) -> float | None:
    """Standard error of log Q_p from the distribution-free interval between the order statistics of ranks
    n(p ± 1.96 sqrt(p(1-p)/n)) (Conover, *Practical Nonparametric Statistics*, 1999, 3.2), divided by 2 · 1.96."""
    n = bins.total
    if n < 2:
        return None
    d = 1.96 * math.sqrt(p * (1 - p) / n)
    lo, hi = bins.quantiles((max(0.0, p - d), min(1.0, p + d)))
    return (math.log(hi) - math.log(lo)) / (2 * 1.96)


class SliceBins:
    """Per slice of ``[start, end)`` and per key: counts, failures and sparse log bins of successful latencies."""

    def __init__(self, start: float, end: float):
        self.start, self.end = start, end
        self.width = slice_width(end - start)
        self.n = max(1, math.ceil((end - start) / self.width - 1e-9))
        self.counts: dict[int, np.ndarray] = {}
        self.failures: dict[int, np.ndarray] = {}
        self.sums: dict[int, np.ndarray] = {}
        self.parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}

    def _slice(self, ts: np.ndarray) -> np.ndarray:
        return np.clip(((ts - self.start) // self.width).astype(np.int64), 0, self.n - 1)

    def add(self, key: int, ts: np.ndarray, lat: np.ndarray, failed: np.ndarray) -> None:
        """Rows of one key inside the checked window."""
        if not ts.size:
            return
        s = self._slice(ts)
        self.counts.setdefault(key, np.zeros(self.n, np.int64))
        self.failures.setdefault(key, np.zeros(self.n, np.int64))
        self.sums.setdefault(key, np.zeros(self.n, np.float64))
        self.counts[key] += np.bincount(s, minlength=self.n)
        self.failures[key] += np.bincount(s[failed], minlength=self.n)
        ok = ~failed
        if ok.any():
            self.sums[key] += np.bincount(s[ok], weights=lat[ok], minlength=self.n)
            combined = s[ok] * NBINS + LogBins.index(lat[ok])
            idx, cnt = np.unique(combined, return_counts=True)
            self.parts.setdefault(key, []).append((idx, cnt))

    def lengths(self) -> np.ndarray:
        """Each slice's length in seconds: ``width``, except the last, which ends with the window."""
        starts = self.start + np.arange(self.n) * self.width
        return np.clip(np.minimum(starts + self.width, self.end) - starts, 0.0, None)

    def dense(self, key: int) -> np.ndarray:
        """(slices, NBINS) counts of one key."""
        out = np.zeros(self.n * NBINS, np.int64)
        for idx, cnt in self.parts.get(key, []):
            np.add.at(out, idx, cnt)
        return out.reshape(self.n, NBINS)

    def disturbed(self, seconds: Sequence[float]) -> np.ndarray:
        """Slices of which half or more was a disturbed second (``seconds``: the end times of those seconds)."""
        hit = np.zeros(self.n, np.float64)
        for t in seconds:
            i = int((t - 0.5 - self.start) // self.width)  # the slice holding the second's middle
            if 0 <= i < self.n:
                hit[i] += 1.0
        return hit >= 0.5 * self.width

    def robust(self, key: int, keep: np.ndarray, qs: dict[str, float]) -> RobustStats:
        counts, failures = self.counts.get(key), self.failures.get(key)
        if counts is None:
            return RobustStats(0, 0, 0.0)
        dense = self.dense(key)
        kept = dense[keep].sum(axis=0)
        total, fails = int(counts[keep].sum()), int(failures[keep].sum())
        seconds = float(self.lengths()[keep].sum())  # the last slice may be shorter than the others
        quantiles: dict[str, float] = {}
        b = LogBins(kept)
        if b.total:
            quantiles = dict(zip(qs, b.quantiles(tuple(qs.values())), strict=True))
        ok_counts = counts - failures
        mean = float(self.sums[key][keep].sum() / ok_counts[keep].sum()) if ok_counts[keep].sum() else None
        se: dict[str, float] = {}
        for name, p in qs.items():  # the larger of the order-statistic se and the spread between slices
            one = order_statistic_se(b, p)
            enough = [LogBins(dense[i]).quantiles((p,))[0] for i in np.flatnonzero(keep)
                      if dense[i].sum() >= 5 / (1 - p)]
            between = float(np.std(np.log(enough), ddof=1) / math.sqrt(len(enough))) if len(enough) >= 3 else None
            known = [v for v in (one, between) if v is not None]
            if known:
                se[name] = max(known)
        grid = tuple(b.quantiles(GRID)) if b.total else ()
        return RobustStats(total, fails, total / seconds if seconds else 0.0, quantiles, mean, se, grid)

    def rows(self, key: int) -> list[dict]:
        """Per slice: offset, requests, failures, p50/p95/p99 (for reports and baselines)."""
        counts = self.counts.get(key, np.zeros(self.n, np.int64))
        failures = self.failures.get(key, np.zeros(self.n, np.int64))
        dense = self.dense(key)
        out = []
        for i in range(self.n):
            b = LogBins(dense[i])
            q = b.quantiles((0.5, 0.95, 0.99)) if b.total else [None, None, None]
            out.append({"offset_s": round(i * self.width, 3), "requests": int(counts[i]), "failures": int(failures[i]),
                        "p50": None if q[0] is None else round(q[0], 3), "p95": None if q[1] is None else round(q[1], 3),
                        "p99": None if q[2] is None else round(q[2], 3)})
        return out
