"""A stretch of a profile to replay: which intervals, and the endpoint mix of each block inside it.

Pure functions over a loaded :class:`~.profile.Profile`; the scenario schema turns their
``ValueError`` into a located error and their parts into the replay's rate and request mix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..units import parse_duration
from .mix import OTHER
from .profile import Profile, format_duration, format_time, interval_blocks, peak_window

__all__ = ["Window", "WindowPart", "select_window", "window_parts", "WINDOW_HELP"]

WINDOW_HELP = "expected full, peak or peak-DURATION (peak-1h, peak-10m)"

Endpoint = tuple[str, str]


@dataclass(frozen=True)
class Window:
    """Intervals ``first`` to ``last`` (exclusive) of a profile; ``name`` as a replay's source records it."""

    name: str
    first: int
    last: int
    start: float
    end: float


@dataclass(frozen=True)
class WindowPart:
    """The part of one mix block inside a window: its intervals and the endpoint requests they held.

    ``requests`` comes from the rate series (requests with and without a method/path); ``counts``
    are the block's endpoint requests scaled to the part (a block cut by the window's edge is
    assumed to have kept its mix throughout).
    """

    offset: int  # first interval of the part, counted from the window's first
    intervals: int
    requests: float
    counts: tuple[tuple[Endpoint, float], ...]

    @property
    def classified(self) -> float:
        return math.fsum(n for _, n in self.counts)


def select_window(profile: Profile, value: object) -> Window:
    """``full``, ``peak`` (the profile's own peak window) or ``peak-DURATION``; ValueError saying what is wrong."""
    if not isinstance(value, str):
        raise ValueError(f"{WINDOW_HELP}, got {type(value).__name__} {value!r}")
    n = len(profile.requests)
    if value == "full":
        return Window("full", 0, n, profile.start, profile.end)
    if value == "peak":
        try:
            pw = peak_window(profile)
        except ValueError as exc:
            raise ValueError(f"peak: {exc}; re-import the profile") from None
        value = f"peak ({pw.name})"
    elif value.startswith("peak-"):
        try:
            length = parse_duration(value.removeprefix("peak-"))
        except ValueError:
            raise ValueError(f"{WINDOW_HELP}, got {value!r}") from None
        span = format_duration(profile.duration)
        if length <= 0:
            raise ValueError(f"{value}: expected a window longer than 0")
        if length > profile.duration + 1e-9:
            raise ValueError(f"{value} is longer than the profile ({span}, {format_time(profile.start)} to "
                             f"{format_time(profile.end)}); use full, or peak-DURATION of at most {span}")
        k = length / profile.interval
        if abs(k - round(k)) > 1e-6 or round(k) < 1:
            raise ValueError(f"{value} is not a whole number of the profile's {format_duration(profile.interval)} "
                             f"intervals; use {_nearby(length, profile.interval)}")
        block = profile.mix_interval if profile.blocks and profile.mix_interval else None
        if block and abs(length / block - round(length / block)) > 1e-6:
            raise ValueError(f"{value}: a replayed window is made of whole {format_duration(block)} mix blocks, "
                             f"so its endpoint mix is the recorded one; use {_nearby(length, block)}, or re-import the "
                             f"profile with a --mix-interval that divides {format_duration(length)}")
        try:
            pw = peak_window(profile, length)
        except ValueError as exc:
            raise ValueError(f"{value}: {exc}; use full or a shorter window") from None
    else:
        raise ValueError(f"{WINDOW_HELP}, got {value!r}")
    first = round((pw.start - profile.start) / profile.interval)
    last = round((pw.end - profile.start) / profile.interval)
    return Window(value, first, last, pw.start, pw.end)


def _nearby(length: float, unit: float) -> str:
    """The two usable window lengths around ``length``: ``peak-1m or peak-2m``."""
    below, above = max(1, math.floor(length / unit)), max(1, math.ceil(length / unit))
    names = dict.fromkeys(f"peak-{format_duration(n * unit)}" for n in (below, above))
    return " or ".join(names)


def window_parts(profile: Profile, window: Window) -> tuple[WindowPart, ...]:
    """One part per mix block the window covers; one part with the whole log's mix if the profile has no blocks."""
    import numpy as np

    requests = np.asarray(profile.requests, dtype=float)
    inside = float(requests[window.first:window.last].sum())
    if profile.mix_interval is None or not profile.blocks:
        whole = [((e.method, e.path), e.requests) for e in profile.endpoints]
        if profile.other_endpoints:
            whole.append((OTHER, profile.other_endpoints))
        scale = inside / profile.total_requests if profile.total_requests else 0.0
        return (WindowPart(0, window.last - window.first, inside, tuple((ep, n * scale) for ep, n in whole)),)
    idx = interval_blocks(profile)
    totals = np.bincount(idx - idx[0], weights=requests)
    counts = {b.index: b.counts for b in profile.blocks}
    cut = idx[window.first:window.last]
    edges = np.flatnonzero(np.diff(cut)) + 1  # where the block changes, inside the window
    starts = [0, *edges.tolist()]
    ends = [*edges.tolist(), len(cut)]
    parts = []
    for a, b in zip(starts, ends, strict=True):
        j = int(cut[a])
        part = float(requests[window.first + a:window.first + b].sum())
        total = float(totals[j - idx[0]])
        scale = part / total if total > 0 else 0.0
        parts.append(WindowPart(a, b - a, part, tuple((ep, n * scale) for ep, n in counts.get(j, ()))))
    return tuple(parts)
