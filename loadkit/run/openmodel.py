"""The open workload model: requests start at scheduled times, whether or not earlier ones returned.

Closed models (N users, each waiting for its answer) slow down with the target and so hide
its stalls: the "coordinated omission" that Gil Tene described and wrk2 corrects. Here the
schedule is fixed up front from a rate curve (an ``arrival`` load or a replayed traffic
profile), requests are issued at their intended times by a pool of at most ``concurrency``
users, and latency is measured from the intended start, so a stall in the target shows in
the percentiles. The achieved rate is compared with the intended rate per interval: when
the generator could not keep up, the run is invalid rather than quietly easier.

Pure functions and a small iterator; the clock and the randomness are passed in.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

import numpy as np

from ..scenario.model import OpenLoad, Segment

__all__ = ["Schedule", "schedule_times", "intended_counts", "shortfalls", "check_interval",
           "SHORTFALL"]

#: An interval whose achieved rate is more than 5% below the intended one invalidates the run.
SHORTFALL = 0.05


def schedule_times(segments: Sequence[Segment], arrivals: str = "uniform",
                   rng: random.Random | None = None) -> Iterator[float]:
    """Intended start offsets (seconds from the run start), in order.

    Uniform arrivals invert the cumulative request count Λ(t) = ∫rate: the k-th request starts
    when Λ(t) = k + ½. Poisson arrivals are a non-homogeneous Poisson process drawn by the same
    inversion of unit-rate exponential gaps (Çinlar's method).
    """
    rng = rng or random.Random(0)
    offset, target = 0.0, 0.5 if arrivals == "uniform" else rng.expovariate(1.0)
    done = 0.0
    for seg in segments:
        a, b, d = seg.rate_start, seg.rate_end, seg.duration
        total = seg.requests
        while target <= done + total:
            need = target - done  # requests into this segment
            slope = (b - a) / d if d else 0.0
            if abs(slope) < 1e-12:
                t = need / a if a > 0 else d
            else:  # solve a·t + slope·t²/2 = need
                t = (-a + math.sqrt(max(a * a + 2 * slope * need, 0.0))) / slope
            yield offset + min(t, d)
            target += 1.0 if arrivals == "uniform" else rng.expovariate(1.0)
        done += total
        offset += d


class Schedule:
    """The share of the schedule one process issues: every ``streams``-th time, from ``stream``.

    Users of one process pull from it in turn (gevent: no lock needed), so the cap on
    concurrency is the number of users, and a busy pool delays the next start visibly.
    """

    def __init__(self, load: OpenLoad, stream: int = 0, streams: int = 1, seed: int | None = None):
        self.load, self.stream, self.streams, self.seed = load, stream, streams, seed
        self.start: float | None = None
        self._times: Iterator[float] = iter(())

    def begin(self, start: float) -> None:
        self.start = start
        times = schedule_times(self.load.segments, self.load.arrivals, random.Random(self.seed))
        self._times = (t for i, t in enumerate(times) if i % self.streams == self.stream)

    def next(self) -> float | None:
        """The next intended start (epoch seconds), or None when the schedule is done."""
        if self.start is None:
            return None
        for t in self._times:
            return self.start + t
        return None


def check_interval(peak_rate: float) -> float:
    """Intervals long enough to hold about 100 requests at the peak (1 s to 10 s), so 5% is a count, not noise."""
    return float(min(10.0, max(1.0, math.ceil(100.0 / max(peak_rate, 1e-9)))))


def intended_counts(load: OpenLoad, interval: float, duration: float) -> np.ndarray:
    """Scheduled starts per interval over ``duration`` seconds (all streams together)."""
    n = max(1, math.ceil(duration / interval - 1e-9))
    times = np.fromiter((t for t in schedule_times(load.segments, load.arrivals, random.Random(0)) if t < duration),
                        dtype=float)
    return np.bincount(np.minimum((times // interval).astype(int), n - 1), minlength=n)[:n]


def shortfalls(intended: np.ndarray, achieved: np.ndarray, interval: float) -> list[tuple[float, float, float]]:
    """(offset, intended rate, achieved rate) of every interval after the first short by more than 5%.

    The last interval is judged only when it is complete, as the run may stop inside it.
    """
    out = []
    for i in range(1, len(intended)):
        if intended[i] > 0 and achieved[i] < (1 - SHORTFALL) * intended[i]:
            out.append((i * interval, intended[i] / interval, achieved[i] / interval))
    return out
