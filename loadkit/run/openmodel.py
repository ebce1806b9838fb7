"""The open workload model: requests start at scheduled times, whether or not earlier ones returned.

Closed models (N users, each waiting for its answer) slow down with the target and so hide
its stalls: the "coordinated omission" that Gil Tene described and wrk2 corrects. Here the
schedule is fixed up front from a rate curve (an ``arrival`` load or a replayed traffic
profile), requests are issued at their intended times by a pool of at most ``concurrency``
users, and latency is measured from the intended start, so a stall in the target shows in
the percentiles.

One schedule, computed the same way wherever it is needed: by the users that issue it (each
process its share) and by the accounting after the run (:func:`intended_counts`), from the same
seed, so "intended" and "issued" never disagree by construction. Times are produced in numpy
chunks (fast enough for tens of thousands of starts a second); each start is assigned a request
from the mix in force at its time by a low-discrepancy sequence over the start's index, so the
issued mix equals the intended mix to within a request or two, in every worker's share alike.

Pure functions and a small iterator; the clock and the seed are passed in.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator, Sequence

import numpy as np

from ..scenario.model import MixBlock, OpenLoad, Segment

__all__ = ["Schedule", "schedule_times", "schedule_chunks", "intended_counts", "check_interval", "planned_duration",
           "new_seed", "Assigner"]

_CHUNK = 8192
_PHI = (math.sqrt(5.0) - 1.0) / 2.0  # the golden ratio's fractional part: the most even sequence k·φ mod 1


def new_seed() -> int:
    """A seed for a run whose scenario gives none (recorded in the manifest, shared with every worker)."""
    return random.SystemRandom().randrange(2**31)


def planned_duration(load: OpenLoad) -> float:
    """The schedule's length in seconds, without the float dust of summing many segments."""
    return round(math.fsum(s.duration for s in load.segments), 9)


def _segment_offsets(segments: Sequence[Segment]) -> list[float]:
    out, acc = [], []
    for s in segments:
        out.append(math.fsum(acc))
        acc.append(s.duration)
    return out


def schedule_chunks(segments: Sequence[Segment], arrivals: str = "uniform", seed: int | None = 0) -> Iterator[np.ndarray]:
    """Intended start offsets (seconds from the run start), ascending, in numpy chunks.

    Uniform arrivals invert the cumulative request count Λ(t) = ∫rate: the k-th request starts
    when Λ(t) = k + ½. Poisson arrivals invert unit-rate exponential gaps the same way (a
    non-homogeneous Poisson process by Çinlar's method), drawn from ``numpy.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    offsets = _segment_offsets(segments)
    done = 0.0  # requests before the current segment (the integral of the rate)
    nxt = 0.5 if arrivals == "uniform" else float(rng.exponential())
    pending: list[np.ndarray] = []
    size = 0
    for seg, offset in zip(segments, offsets, strict=True):
        a, b, d = seg.rate_start, seg.rate_end, seg.duration
        total = seg.requests
        while nxt <= done + total:
            if arrivals == "uniform":
                count = min(int(math.floor(done + total - nxt)) + 1, _CHUNK)
                targets = nxt + np.arange(count, dtype=np.float64)
                nxt = float(targets[-1]) + 1.0
            else:
                gaps = rng.exponential(size=_CHUNK)
                targets = nxt + np.concatenate(([0.0], np.cumsum(gaps[:-1])))
                keep = targets <= done + total
                if not keep.all():
                    first_out = int(np.argmin(keep))
                    nxt = float(targets[first_out])
                    targets = targets[:first_out]
                else:
                    nxt = float(targets[-1] + gaps[-1])
            need = targets - done
            slope = (b - a) / d if d else 0.0
            if abs(slope) < 1e-12:
                t = need / a if a > 0 else np.full(need.shape, d)
            else:  # solve a·t + slope·t²/2 = need
                t = (-a + np.sqrt(np.maximum(a * a + 2 * slope * need, 0.0))) / slope
            chunk = offset + np.minimum(t, d)
            pending.append(chunk)
            size += chunk.size
            if size >= _CHUNK:
                yield np.concatenate(pending)
                pending, size = [], 0
        done += total
    if pending:
        yield np.concatenate(pending)


def schedule_times(segments: Sequence[Segment], arrivals: str = "uniform",
                   rng: random.Random | int | None = 0) -> Iterator[float]:
    """The offsets of :func:`schedule_chunks` one by one (``rng``: a seed, or a Random whose first draw is one)."""
    seed = rng.randrange(2**31) if isinstance(rng, random.Random) else rng
    for chunk in schedule_chunks(segments, arrivals, seed):
        yield from chunk.tolist()


class Assigner:
    """Which request each start issues: the mix in force at its time, by k·φ mod 1 over its index k."""

    def __init__(self, blocks: Sequence[MixBlock], phase: float = 0.0):
        self.starts = [b.start for b in blocks]
        self.names = [[n for n, w in b.weights if w > 0] for b in blocks]
        self.cums = []
        for b in blocks:
            w = [float(x) for _, x in b.weights if x > 0]
            total = math.fsum(w) or 1.0
            self.cums.append(list(np.cumsum(np.asarray(w) / total)))
        self.phase = phase

    def __call__(self, offset: float, k: int) -> str:
        i = max(0, bisect.bisect_right(self.starts, offset) - 1)
        u = (self.phase + k * _PHI) % 1.0
        j = min(bisect.bisect_right(self.cums[i], u), len(self.names[i]) - 1)
        return self.names[i][j]


def mix_blocks(load: OpenLoad, default: Sequence[tuple[str, float]]) -> tuple[MixBlock, ...]:
    """The mix along the schedule: a replay's own blocks, else one block of ``load.mix`` (or ``default``)."""
    if load.mixes:
        return load.mixes
    return (MixBlock(0.0, tuple(load.mix) or tuple(default)),)


class Schedule:
    """The share of the schedule one process issues: every ``streams``-th start, from ``stream``.

    Users of one process pull from it in turn (gevent: no lock needed), so the cap on
    concurrency is the number of users, and a busy pool delays the next start visibly.
    """

    def __init__(self, load: OpenLoad, stream: int = 0, streams: int = 1, seed: int | None = 0,
                 default_mix: Sequence[tuple[str, float]] = ()):
        self.load, self._mix = load, default_mix
        self.place(stream, streams, seed)
        self.start: float | None = None
        self._iter: Iterator[tuple[float, int]] = iter(())

    def place(self, stream: int, streams: int, seed: int | None) -> None:
        """Take this process's share (a worker learns it from the master before the schedule begins)."""
        self.stream, self.streams, self.seed = stream, streams, seed
        self.assign = Assigner(mix_blocks(self.load, self._mix), phase=(seed or 0) % 1000 / 1000.0)

    @property
    def ready(self) -> bool:
        return self.start is not None

    def begin(self, start: float) -> None:
        self.start = start

        def pairs() -> Iterator[tuple[float, int]]:
            k = 0
            for chunk in schedule_chunks(self.load.segments, self.load.arrivals, self.seed):
                first = (self.stream - k) % self.streams
                for j in range(first, chunk.size, self.streams):
                    yield float(chunk[j]), k + j
                k += chunk.size

        self._iter = pairs()

    def next(self) -> tuple[float, str] | None:
        """The next intended start (epoch seconds) and the request it issues, or None when done."""
        if self.start is None:
            return None
        for t, k in self._iter:
            return self.start + t, self.assign(t, k)
        return None


def check_interval(rate: float) -> float:
    """Intervals long enough to hold about 100 requests at ``rate`` (1 s to 10 s), so 5% is a count, not noise."""
    return float(min(10.0, max(1.0, math.ceil(100.0 / max(rate, 1e-9)))))


def intended_counts(load: OpenLoad, interval: float, duration: float, seed: int | None = 0,
                    started: float = 0.0) -> np.ndarray:
    """Scheduled starts per interval over ``duration`` seconds (all streams together).

    Binned exactly as issued starts are binned: ``floor(((started + t) - started) / interval)``, so a
    start on an interval boundary falls in the same interval on both sides.
    """
    n = max(1, math.ceil(duration / interval - 1e-9))
    counts = np.zeros(n, dtype=np.int64)
    for chunk in schedule_chunks(load.segments, load.arrivals, seed):
        absolute = started + chunk
        idx = ((absolute - started) // interval).astype(np.int64)
        inside = (chunk < duration) & (idx >= 0)
        counts += np.bincount(np.minimum(idx[inside], n - 1), minlength=n)[:n]
    return counts
