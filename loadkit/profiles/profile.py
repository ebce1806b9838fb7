"""The traffic profile: rate per interval, endpoint mix (whole and per block), status mix, as frozen data.

What a profile holds and how an import pass becomes one (:func:`build_profile`). Its windows are
in :mod:`.window`, its summary and chart in :mod:`.summary`, its files in :mod:`.store`.

Format 1 (``loadkit-profile/1``) had no per-block mix; it is still read, with ``blocks`` empty,
so a replay can say that it used the whole log's mix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .exclude import NO_EXCLUSION, Exclusion
from .mix import BlockMix, cap_blocks
from .timestamps import format_duration, format_time

__all__ = [
    "FORMAT_VERSION",
    "READABLE_FORMATS",
    "DEFAULT_MAX_ENDPOINTS",
    "Endpoint",
    "StatusShare",
    "Malformed",
    "SourceInfo",
    "Profile",
    "PeakWindow",
    "ProfileSummary",
    "ProfileFiles",
    "build_profile",
    "format_time",
    "format_duration",
]

FORMAT_VERSION = "loadkit-profile/2"
READABLE_FORMATS = ("loadkit-profile/1", FORMAT_VERSION)
#: Endpoints kept by name (the rest is summed as "other"). 200 left 13 % and 22 % of two real logs in
#: "other"; 1000 leaves 0.1 % and 3.9 % (docs/profiles.md).
DEFAULT_MAX_ENDPOINTS = 1000


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of the mix: method, templated path, requests seen and their share of all classified requests."""

    method: str
    path: str
    requests: float
    share: float


@dataclass(frozen=True)
class StatusShare:
    status: str
    requests: float
    share: float


@dataclass(frozen=True)
class Malformed:
    """A line that could not be read, kept to show the user where (file, 1-based line) and what."""

    file: str
    line: int
    text: str


@dataclass(frozen=True)
class SourceInfo:
    """What was read from one source, so a profile says where it came from."""

    path: str
    format: str
    lines: int = 0
    malformed: int = 0


@dataclass(frozen=True)
class Profile:
    """A production traffic profile; ``requests[i]`` were seen in ``[start + i*interval, start + (i+1)*interval)``."""

    interval: float
    start: float
    requests: tuple[float, ...]
    endpoints: tuple[Endpoint, ...] = ()
    statuses: tuple[StatusShare, ...] = ()
    sources: tuple[SourceInfo, ...] = ()
    malformed: tuple[Malformed, ...] = ()  # the first few, for the report
    unclassified: float = 0  # requests counted in the rate but with no method/path (e.g. "-", TLS probes)
    other_endpoints: float = 0  # requests of endpoints beyond max_endpoints
    peak_window_length: float | None = None  # chosen --peak-window, None: the default rule
    mix_interval: float | None = None  # block length of ``blocks``; None: no per-block mix
    blocks: tuple[BlockMix, ...] = ()  # the endpoint mix per block (blocks without requests left out)
    excluded: float = 0  # requests left out by --exclude / --exclude-static (in neither rate nor mix)
    exclude: tuple[str, ...] = ()  # the exclusion rules, as Exclusion.describe() gives them
    max_endpoints: int = DEFAULT_MAX_ENDPOINTS
    distinct_endpoints: int = 0  # endpoints seen, before the cap
    format: str = FORMAT_VERSION  # the file format it was read from

    @property
    def end(self) -> float:
        return self.start + len(self.requests) * self.interval

    @property
    def duration(self) -> float:
        return len(self.requests) * self.interval

    @property
    def rates(self) -> tuple[float, ...]:
        return tuple(r / self.interval for r in self.requests)

    @property
    def total_requests(self) -> float:
        return math.fsum(self.requests)

    @property
    def lines(self) -> int:
        return sum(s.lines for s in self.sources)

    @property
    def malformed_count(self) -> int:
        return sum(s.malformed for s in self.sources)

    @property
    def classified(self) -> float:
        """Requests with a method and path: the denominator of every endpoint share."""
        return math.fsum(e.requests for e in self.endpoints) + self.other_endpoints


@dataclass(frozen=True)
class PeakWindow:
    """The busiest stretch of a given length; ``name`` (``peak-1h``, ``peak-10m``) is what a replay refers to."""

    name: str
    start: float
    end: float
    requests: float
    rate: float


@dataclass(frozen=True)
class ProfileSummary:
    start: float
    end: float
    interval: float
    total_requests: float
    mean_rate: float
    peak_rate: float
    peak_at: float
    peak_window: PeakWindow
    top_endpoints: tuple[Endpoint, ...]
    statuses: tuple[StatusShare, ...]


@dataclass(frozen=True)
class ProfileFiles:
    csv: Path
    json: Path
    chart: Path | None = None
    mix: Path | None = None


def build_profile(
    interval: float,
    buckets: Mapping[int, float],
    blocks: Mapping[int, Mapping[tuple[str, str], float]],
    mix_interval: float,
    statuses: Mapping[str, float],
    sources: Iterable[SourceInfo],
    malformed: Iterable[Malformed] = (),
    unclassified: float = 0,
    what: str = "the sources",
    origin: float = 0.0,
    excluded: float = 0,
    exclusion: Exclusion = NO_EXCLUSION,
    max_endpoints: int = DEFAULT_MAX_ENDPOINTS,
) -> Profile:
    """A profile from what an import pass counted: requests per interval index, endpoint requests per mix
    block (see :mod:`.mix`), statuses. The series is made contiguous (gaps become zero intervals, which a
    replay needs) and the endpoints beyond ``max_endpoints`` are summed as "other"."""
    if not buckets:
        if excluded:
            raise ConfigError(f"{what}: all {excluded:g} requests were excluded by --exclude/--exclude-static "
                              f"({', '.join(exclusion.describe())}); nothing to import")
        raise ConfigError(f"{what}: no requests found; nothing to import")
    lo, hi = min(buckets), max(buckets)
    if hi - lo + 1 > 50_000_000:
        raise ConfigError(f"{what}: {hi - lo + 1} intervals of {format_duration(interval)} is too many; "
                          f"pass a larger --interval (e.g. 1m)")
    kept, other, mix, distinct = cap_blocks(blocks, max_endpoints)
    classified = math.fsum(n for _, n in kept) + other
    status_total = math.fsum(statuses.values())
    return Profile(
        interval=interval, start=origin + lo * interval, requests=tuple(buckets.get(i, 0) for i in range(lo, hi + 1)),
        endpoints=tuple(Endpoint(m, p, n, n / classified) for (m, p), n in kept),
        statuses=tuple(StatusShare(k, n, n / status_total) for k, n in sorted(statuses.items())),
        sources=tuple(sources), malformed=tuple(malformed), unclassified=unclassified, other_endpoints=other,
        mix_interval=mix_interval if mix else None, blocks=mix, excluded=excluded,
        exclude=tuple(exclusion.describe()), max_endpoints=max_endpoints, distinct_endpoints=distinct,
    )
