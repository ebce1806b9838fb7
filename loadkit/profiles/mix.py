"""The endpoint mix per time block (``NAME.mix.csv``): what a stretch of the recording asked for.

A whole-log mix is wrong for any part of the log: in a real WordPress log ``HEAD /`` (a
monitor) is 21 % of the day but 5.6 % of the busiest hour. So the import also counts the
requests of every endpoint per block of ``mix_interval`` seconds, and a replay of a window
uses the blocks of that window.

Blocks lie on a grid from the epoch: block ``j`` holds the intervals that *start* in
``[j * mix_interval, (j + 1) * mix_interval)``, so re-imports of a growing log keep their
block boundaries (whole minutes for the default 60 s) and the file diffs row by row. A block's
``start`` in the file is the grid start, or the profile's start for the first block. The file
has one row per endpoint with requests in the block (idle endpoints and idle blocks have no
row), endpoints sorted within a block, and the endpoints beyond the profile's endpoint cap
summed in one row ``*,*``::

    start,method,path,requests
    2013-09-18T06:49:18Z,GET,/,3
    2013-09-18T06:49:18Z,HEAD,/,5
    2013-09-18T06:50:00Z,GET,/feed/,1
    2013-09-18T06:50:00Z,*,*,2
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, Problem
from .timestamps import format_duration, format_time, parse_timestamp, plain_number

__all__ = ["OTHER", "DEFAULT_MIX_INTERVAL", "BlockMix", "block_of", "resolve_mix_interval", "cap_blocks",
           "mix_rows", "read_mix"]

OTHER = ("*", "*")  # the endpoints beyond the cap, summed; "*" is never a templated path (they start with /)
DEFAULT_MIX_INTERVAL = 60.0
_HEADER = ["start", "method", "path", "requests"]

Endpoint = tuple[str, str]


@dataclass(frozen=True)
class BlockMix:
    """Requests per endpoint in block ``index`` of the grid (``OTHER`` for the endpoints beyond the cap)."""

    index: int
    counts: tuple[tuple[Endpoint, float], ...]

    @property
    def classified(self) -> float:
        """Requests with a method and path in the block (the rate also holds those without one)."""
        return math.fsum(n for _, n in self.counts)


def block_of(t: float, mix_interval: float) -> int:
    """The grid block holding an interval that starts at ``t`` (epoch seconds).

    Shifted by a microsecond: starts are whole milliseconds at most, and a start computed as
    ``start + i * interval`` may land a few hundred nanoseconds short of its boundary.
    """
    return math.floor((t + 1e-6) / mix_interval)


def resolve_mix_interval(interval: float, requested: float | None) -> float:
    """``--mix-interval``: a whole number of intervals; by default the shortest one of at least 60 s."""
    if requested is None:
        return interval * max(1, math.ceil(DEFAULT_MIX_INTERVAL / interval - 1e-9))
    ratio = requested / interval
    if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-6:
        raise ConfigError(f"--mix-interval {format_duration(requested)}: expected a whole number of intervals of "
                          f"{format_duration(interval)} (e.g. {format_duration(interval * max(1, round(ratio)))})")
    return interval * round(ratio)


def cap_blocks(
    blocks: Mapping[int, Mapping[Endpoint, float]], max_endpoints: int,
) -> tuple[list[tuple[Endpoint, float]], float, tuple[BlockMix, ...], int]:
    """Keep the ``max_endpoints`` busiest endpoints (over all blocks) by name and sum the rest per block.

    Returns the ranked kept endpoints with their totals, the requests of the rest, the blocks,
    and how many distinct endpoints were seen.
    """
    totals: dict[Endpoint, float] = {}
    for counts in blocks.values():
        for ep, n in counts.items():
            totals[ep] = totals.get(ep, 0.0) + n
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = ranked[:max_endpoints]
    named = {ep for ep, _ in kept}
    other = math.fsum(n for _, n in ranked[max_endpoints:])
    out = []
    for j in sorted(blocks):
        row = sorted((ep, n) for ep, n in blocks[j].items() if ep in named and n > 0)
        rest = math.fsum(n for ep, n in blocks[j].items() if ep not in named)
        if rest > 0:
            row.append((OTHER, rest))
        if row:
            out.append(BlockMix(j, tuple(row)))
    return kept, other, tuple(out), len(totals)


def mix_rows(blocks: Iterable[BlockMix], mix_interval: float, profile_start: float) -> Iterator[list]:
    """The rows of ``NAME.mix.csv`` (header first)."""
    yield _HEADER
    for b in blocks:
        start = format_time(max(b.index * mix_interval, profile_start))
        for (method, path), n in b.counts:
            yield [start, method, path, plain_number(n)]


def read_mix(path: Path, mix_interval: float, first: int, last: int) -> tuple[BlockMix, ...]:
    """Read ``NAME.mix.csv`` back; ``first``..``last`` are the blocks the rate series spans.

    Every problem is a ConfigError naming the file and line: a hand-edited or truncated mix
    must not replay as something it is not.
    """
    blocks: dict[int, dict[Endpoint, float]] = {}
    order: list[int] = []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = csv.reader(fh)
            header = next(rows, None)
            if header != _HEADER:
                raise ConfigError(problems=[Problem(str(path), 1, "", f"expected the header {','.join(_HEADER)}; "
                                                    "re-import the profile")])
            for n, row in enumerate(rows, start=2):
                j, ep, count = _row(path, n, row, mix_interval)
                if not first <= j <= last:
                    raise ConfigError(problems=[Problem(str(path), n, "start", f"{row[0]} is outside the rate "
                                                        "series of the profile; re-import the profile")])
                if order and j < order[-1]:
                    raise ConfigError(problems=[Problem(str(path), n, "start", "rows are not in time order; "
                                                        "re-import the profile")])
                if not order or order[-1] != j:
                    order.append(j)
                counts = blocks.setdefault(j, {})
                if ep in counts:
                    raise ConfigError(problems=[Problem(str(path), n, "", f"{ep[0]} {ep[1]} appears twice in "
                                                        f"the block starting {row[0]}")])
                counts[ep] = count
    except OSError as exc:
        raise ConfigError(problems=[Problem(str(path), None, "", f"cannot read the endpoint mix: "
                                            f"{exc.strerror or exc}; re-import the profile")]) from None
    return tuple(BlockMix(j, tuple(blocks[j].items())) for j in order)


def _row(path: Path, n: int, row: list[str], mix_interval: float) -> tuple[int, Endpoint, float]:
    if len(row) != 4:
        raise ConfigError(problems=[Problem(str(path), n, "", f"expected 4 columns ({','.join(_HEADER)}), "
                                            f"got {len(row)}")])
    start, method, p, requests = row
    try:
        t = parse_timestamp(start)
    except ValueError:
        raise ConfigError(problems=[Problem(str(path), n, "start", f"expected an ISO 8601 time, got {start!r}")]) from None
    try:
        count = float(requests)
        if not count >= 0 or math.isinf(count):
            raise ValueError
    except ValueError:
        raise ConfigError(problems=[Problem(str(path), n, "requests", f"expected a count >= 0, got {requests!r}")]) from None
    if not method or not (p.startswith("/") or (method, p) == OTHER):
        raise ConfigError(problems=[Problem(str(path), n, "path", f"expected a method and a templated path "
                                            f"starting with / (or *,* for the other endpoints), got {method},{p}")])
    return block_of(t, mix_interval), (method, p), count
