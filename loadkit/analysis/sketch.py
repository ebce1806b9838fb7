"""Latency accumulators that merge: exact while they fit in memory, a log-binned histogram beyond.

Percentiles are exact over full-resolution samples as long as the values kept stay under a
memory budget (:data:`EXACT_LIMIT` values over all accumulators of a summary); past it every
accumulator switches to a log-binned histogram whose bins grow by 1 %, so any quantile read
back is within 0.5 % of the exact value whatever the range (the idea of HdrHistogram and of
DDSketch: Masson, Rim & Lee, "DDSketch: a fast and fully-mergeable quantile sketch with
relative-error guarantees", VLDB 2019). Min, max, mean and counts stay exact in both modes.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["LogBins", "Accumulator", "EXACT_LIMIT", "RELATIVE_ERROR", "quantiles"]

#: Values kept for exact percentiles, over all accumulators of one summary (float32: 40 MB).
EXACT_LIMIT = 10_000_000
GROWTH = 1.01
RELATIVE_ERROR = (GROWTH - 1) / 2  # a bin's geometric middle is within 0.5 % of any value in it
_LOG_G = math.log(GROWTH)
_FLOOR_MS = 1e-3  # 1 µs: the bins start here
_LO = math.floor(math.log(_FLOOR_MS) / _LOG_G)
_HI = math.ceil(math.log(1e8) / _LOG_G)  # 1e8 ms = 28 h: nothing waits longer
NBINS = _HI - _LO + 1


def quantiles(sorted_values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """numpy's default (linear) percentile of already sorted values."""
    n = sorted_values.size
    out = []
    for q in qs:
        pos = q * (n - 1)
        lo = int(math.floor(pos))
        hi = min(lo + 1, n - 1)
        out.append(float(sorted_values[lo] + (pos - lo) * (sorted_values[hi] - sorted_values[lo])))
    return out


class LogBins:
    """Counts per 1 % bin, as one dense array: merging is addition."""

    __slots__ = ("counts",)

    def __init__(self, counts: np.ndarray | None = None):
        self.counts = np.zeros(NBINS, dtype=np.int64) if counts is None else counts

    @staticmethod
    def index(values_ms: np.ndarray) -> np.ndarray:
        v = np.maximum(np.asarray(values_ms, dtype=np.float64), _FLOOR_MS)
        return np.clip(np.floor(np.log(v) / _LOG_G).astype(np.int64) - _LO, 0, NBINS - 1)

    def add(self, values_ms: np.ndarray) -> None:
        if values_ms.size:
            self.counts += np.bincount(self.index(values_ms), minlength=NBINS)

    def merge(self, other: LogBins) -> None:
        self.counts += other.counts

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def quantiles(self, qs: tuple[float, ...]) -> list[float]:
        """The geometric middle of the bin holding each rank (None-free: call only when total > 0)."""
        cum = np.cumsum(self.counts)
        total = cum[-1]
        out = []
        for q in qs:
            rank = max(1, math.ceil(q * total))
            i = int(np.searchsorted(cum, rank))
            out.append(float(GROWTH ** (i + _LO + 0.5)))
        return out

    def to_sparse(self) -> dict[str, list[int]]:
        nz = np.flatnonzero(self.counts)
        return {"growth": GROWTH, "offset": _LO, "index": nz.tolist(), "count": self.counts[nz].tolist()}


class Accumulator:
    """Latencies of one group of requests: count, sum, min, max exact; values kept or binned."""

    __slots__ = ("n", "sum", "min", "max", "chunks", "bins")

    def __init__(self) -> None:
        self.n, self.sum, self.min, self.max = 0, 0.0, math.inf, -math.inf
        self.chunks: list[np.ndarray] | None = []
        self.bins: LogBins | None = None

    @property
    def kept(self) -> int:
        return sum(c.size for c in self.chunks) if self.chunks is not None else 0

    def add(self, values_ms: np.ndarray) -> None:
        if not values_ms.size:
            return
        self.n += int(values_ms.size)
        self.sum += float(values_ms.sum())
        self.min = min(self.min, float(values_ms.min()))
        self.max = max(self.max, float(values_ms.max()))
        if self.chunks is not None:
            self.chunks.append(values_ms.astype(np.float32))
        else:
            assert self.bins is not None
            self.bins.add(values_ms)

    def to_bins(self) -> None:
        """Give up exactness for flat memory: the values kept so far go into the histogram."""
        if self.chunks is None:
            return
        self.bins = LogBins()
        for c in self.chunks:
            self.bins.add(c)
        self.chunks = None

    @property
    def exact(self) -> bool:
        return self.chunks is not None

    def stats(self, qs: tuple[float, ...]) -> tuple[float, float, float, list[float]] | None:
        """(min, mean, max, quantiles) or None when empty."""
        if self.n == 0:
            return None
        if self.chunks is not None:
            values = np.sort(np.concatenate(self.chunks).astype(np.float64))
            qv = quantiles(values, qs)
        else:
            assert self.bins is not None
            qv = [min(max(v, self.min), self.max) for v in self.bins.quantiles(qs)]
        return self.min, self.sum / self.n, self.max, qv
