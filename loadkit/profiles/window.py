"""Windows of a profile: the peak windows, and a stretch to replay with the endpoint mix of each block in it.

Pure functions over a :class:`~.profile.Profile`. With a per-block mix, windows start and end on
block edges, so the mix of a window is exactly the recorded one. The scenario schema turns the
``ValueError`` of :func:`select_window` into a located error and :func:`window_parts` into the
replay's rate and request mix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..units import parse_duration
from .mix import OTHER
from .profile import PeakWindow, Profile
from .timestamps import format_duration, format_time

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Window", "WindowPart", "select_window", "window_parts", "WINDOW_HELP", "peak_window", "window_starts",
           "standard_windows", "interval_blocks"]

WINDOW_HELP = "expected full, peak or peak-DURATION (peak-1h, peak-10m)"

Endpoint = tuple[str, str]
_WINDOWS = (3600.0, 1800.0, 600.0, 300.0, 60.0, 30.0, 10.0)  # default peak-window candidates, largest first


def interval_blocks(profile: Profile) -> np.ndarray:
    """The mix block of every interval (numpy array of grid indexes; see :mod:`.mix`)."""
    import numpy as np

    assert profile.mix_interval is not None
    starts = profile.start + np.arange(len(profile.requests)) * profile.interval
    return np.floor((starts + 1e-6) / profile.mix_interval).astype(np.int64)  # as mix.block_of


def _block_edges(profile: Profile) -> np.ndarray:
    """``edges[i]``: interval ``i`` starts on a mix-block boundary (``edges[n]``: the end). All True without blocks.

    A window whose first and last interval sit on edges holds whole blocks, so its endpoint mix is
    exactly the recorded one; the profile's start and end are edges (no data lies beyond them).
    """
    import numpy as np

    n = len(profile.requests)
    edges = np.ones(n + 1, dtype=bool)
    if profile.mix_interval is not None and profile.blocks and profile.mix_interval > profile.interval:
        idx = interval_blocks(profile)
        edges[1:n] = idx[1:] != idx[:-1]
    return edges


def window_starts(profile: Profile, k: int) -> np.ndarray:
    """Start indexes of the windows of ``k`` intervals a replay may use: both ends on block edges."""
    import numpy as np

    n = len(profile.requests)
    if not 1 <= k <= n:
        return np.zeros(0, dtype=np.int64)
    edges = _block_edges(profile)
    return np.flatnonzero(edges[: n - k + 1] & edges[k:])


def _default_window(profile: Profile) -> float:
    """The busiest hour; for a shorter profile the largest standard window that fits twice, else all of it.

    Only lengths a replay can use count: whole intervals, and whole blocks with a per-block mix.
    """
    duration = profile.duration
    for w in _WINDOWS:
        k = w / profile.interval
        if abs(k - round(k)) > 1e-9 or round(k) < 1 or not (w <= duration / 2 or (w == 3600.0 and duration >= w)):
            continue
        if len(window_starts(profile, round(k))):
            return w
    return duration


def peak_window(profile: Profile, length: float | None = None) -> PeakWindow:
    """The busiest window of ``length`` seconds (default: see ``_default_window``), earliest on a tie.

    The length is rounded to whole intervals (the name says the length used). With a per-block
    mix the window starts and ends on block edges (whole minutes by default), so a replay of it
    knows its mix exactly. ValueError when no such window fits, never quietly another length.
    """
    import numpy as np

    length = length or profile.peak_window_length or _default_window(profile)
    k = max(1, round(length / profile.interval))
    starts = window_starts(profile, k)
    if not len(starts):
        if k > len(profile.requests):
            raise ValueError(f"a {format_duration(length)} window is longer than the profile "
                             f"({format_duration(profile.duration)}, {format_time(profile.start)} to "
                             f"{format_time(profile.end)})")
        raise ValueError(f"no {format_duration(length)} window starts and ends on the profile's "
                         f"{format_duration(profile.mix_interval or profile.interval)} mix blocks")
    cum = np.concatenate(([0.0], np.cumsum(np.asarray(profile.requests, dtype=float))))
    sums = np.round(cum[starts + k] - cum[starts], 6)  # O(n); rounding keeps "earliest on a tie" exact
    i = int(starts[int(np.argmax(sums))])
    total = float(math.fsum(profile.requests[i:i + k]))
    span = k * profile.interval
    start = profile.start + i * profile.interval
    return PeakWindow(f"peak-{format_duration(span)}", start, start + span, total, total / span)


def standard_windows(profile: Profile) -> list[PeakWindow]:
    """The busiest 10 s, 30 s, 1 m, 5 m, 10 m, 30 m and 1 h a replay can use: what ``window:`` can say."""
    out = []
    for w in sorted(_WINDOWS):
        k = w / profile.interval
        if k >= 1 and abs(k - round(k)) < 1e-9 and len(window_starts(profile, round(k))):
            out.append(peak_window(profile, w))
    return out


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
