"""The traffic profile: rate per interval, endpoint mix (whole and per block), status mix; files, summary, chart.

On disk a profile is small, diff-friendly files side by side (docs/profiles.md):
``NAME.csv`` with ``start,requests,rate`` (one row per interval, contiguous, ISO 8601 UTC starts),
``NAME.mix.csv`` with the endpoint mix per block of ``mix_interval`` (see :mod:`.mix`; absent when
the source had no endpoints) and ``NAME.json`` with everything else (interval, sources, whole-log
endpoint and status mix, summary). A CSV keeps a day of 1-second rates readable by any tool.

Format 1 (``loadkit-profile/1``) had no per-block mix; it is still read, with ``blocks`` empty,
so a replay can say that it used the whole log's mix.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError, Problem
from ..files import atomic_path
from .exclude import NO_EXCLUSION, Exclusion
from .mix import BlockMix, cap_blocks, mix_rows, read_mix
from .timestamps import format_duration, format_time, parse_timestamp, plain_number

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
    "peak_window",
    "window_starts",
    "standard_windows",
    "interval_blocks",
    "summarize",
    "summary_json",
    "save_profile",
    "load_profile",
    "render_chart",
    "format_time",
    "format_duration",
]

FORMAT_VERSION = "loadkit-profile/2"
READABLE_FORMATS = ("loadkit-profile/1", FORMAT_VERSION)
_WINDOWS = (3600.0, 1800.0, 600.0, 300.0, 60.0, 30.0, 10.0)  # default peak-window candidates, largest first
#: Endpoints kept by name (the rest is summed as "other"). 200 left 13 % and 22 % of two real logs in
#: "other"; 1000 leaves 0.1 % and 3.9 % (docs/profiles.md).
DEFAULT_MAX_ENDPOINTS = 1000
_num = plain_number


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


def _block_edges(profile: Profile):
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


def window_starts(profile: Profile, k: int):
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


def interval_blocks(profile: Profile):
    """The mix block of every interval (numpy array of grid indexes; see :mod:`.mix`)."""
    import numpy as np

    assert profile.mix_interval is not None
    starts = profile.start + np.arange(len(profile.requests)) * profile.interval
    return np.floor((starts + 1e-6) / profile.mix_interval).astype(np.int64)  # as mix.block_of


def summarize(profile: Profile, window: float | None = None, top: int = 10) -> ProfileSummary:
    rates = profile.rates
    i = max(range(len(rates)), key=rates.__getitem__)
    return ProfileSummary(
        start=profile.start, end=profile.end, interval=profile.interval, total_requests=profile.total_requests,
        mean_rate=profile.total_requests / profile.duration, peak_rate=rates[i],
        peak_at=profile.start + i * profile.interval, peak_window=peak_window(profile, window),
        top_endpoints=profile.endpoints[:top], statuses=profile.statuses,
    )


def _window_json(w: PeakWindow) -> dict:
    return {"name": w.name, "start": format_time(w.start), "end": format_time(w.end),
            "length_s": _num(w.end - w.start), "requests": _num(w.requests), "rate": _num(w.rate)}


def summary_json(profile: Profile, window: float | None = None, intervals: bool = False, top: int = 10) -> dict:
    """What ``profile import --json`` prints: the summary, a few KB whatever the log's length.

    Every interval (``rates``) only with ``intervals=True`` (``--json-intervals``): a day of
    1-second intervals is 86,400 of them.
    """
    s = summarize(profile, window, top)
    doc: dict[str, Any] = {
        "format": profile.format,
        "start": format_time(profile.start), "end": format_time(profile.end),
        "duration_s": _num(profile.duration), "interval_s": _num(profile.interval),
        "intervals": len(profile.requests),
        "mix_interval_s": None if profile.mix_interval is None else _num(profile.mix_interval),
        "mix_blocks": len(profile.blocks),
        "requests": _num(profile.total_requests), "mean_rate": _num(s.mean_rate),
        "peak_rate": _num(s.peak_rate), "peak_at": format_time(s.peak_at),
        "peak_window": _window_json(s.peak_window),
        "windows": [_window_json(w) for w in standard_windows(profile)],
        "counts": {
            "lines": profile.lines, "malformed": profile.malformed_count,
            "unclassified": _num(profile.unclassified), "excluded": _num(profile.excluded),
            "other_endpoints": _num(profile.other_endpoints), "endpoints": len(profile.endpoints),
            "distinct_endpoints": profile.distinct_endpoints, "max_endpoints": profile.max_endpoints,
        },
        "exclude": list(profile.exclude),
        "top_endpoints": [{"method": e.method, "path": e.path, "requests": _num(e.requests),
                           "share": round(e.share, 6)} for e in s.top_endpoints],
        "statuses": [{"status": x.status, "requests": _num(x.requests), "share": round(x.share, 6)}
                     for x in s.statuses],
    }
    if intervals:
        doc["rates"] = [{"start": format_time(profile.start + i * profile.interval), "requests": _num(r),
                         "rate": _num(r / profile.interval)} for i, r in enumerate(profile.requests)]
    return doc


def _dump(doc: dict) -> str:
    """JSON with one top-level key per line and one list item per line: small diffs when a profile is re-imported."""
    out = ["{"]
    items = list(doc.items())
    for n, (key, value) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        if isinstance(value, list) and value:
            out.append(f"  {json.dumps(key)}: [")
            out += [f"    {json.dumps(v)}" + ("," if j < len(value) - 1 else "") for j, v in enumerate(value)]
            out.append(f"  ]{comma}")
        else:
            out.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    out.append("}")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class _Paths:
    csv: Path
    json: Path
    png: Path
    mix: Path


def _paths(path: str | Path) -> _Paths:
    """``NAME.csv``, ``NAME.json``, ``NAME.png``, ``NAME.mix.csv`` from any of them (or from ``NAME``)."""
    p = Path(path)
    if p.name.endswith(".mix.csv"):
        base = p.with_name(p.name[: -len(".mix.csv")])
    else:
        base = p.with_suffix("") if p.suffix in (".csv", ".json", ".png") else p
    name = base.name
    return _Paths(base.with_name(name + ".csv"), base.with_name(name + ".json"), base.with_name(name + ".png"),
                  base.with_name(name + ".mix.csv"))


def _write_csv(path: Path, rows: Iterable[list]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def _rate_rows(profile: Profile) -> Iterable[list]:
    yield ["start", "requests", "rate"]
    for i, r in enumerate(profile.requests):
        yield [format_time(profile.start + i * profile.interval), _num(r), _num(r / profile.interval)]


def save_profile(profile: Profile, path: str | Path, chart: bool = True, window: float | None = None) -> ProfileFiles:
    """Write ``NAME.csv`` + ``NAME.mix.csv`` + ``NAME.json`` (+ ``NAME.png``), each atomically.

    Existing files are replaced, since profiles live in git; the JSON, which names the others,
    is written last. A stale ``NAME.mix.csv`` is removed when the new profile has no mix.
    """
    paths = _paths(path)
    paths.csv.parent.mkdir(parents=True, exist_ok=True)
    summary = summarize(profile, window)
    _write_csv(paths.csv, _rate_rows(profile))
    has_mix = profile.mix_interval is not None and bool(profile.blocks)
    if has_mix:
        _write_csv(paths.mix, mix_rows(profile.blocks, profile.mix_interval, profile.start))  # type: ignore[arg-type]
    else:
        paths.mix.unlink(missing_ok=True)
    png = render_chart(profile, paths.png, window=window, title=paths.csv.stem) if chart else None
    pw = summary.peak_window
    doc = {
        "format": FORMAT_VERSION,
        "rates": paths.csv.name,
        "mix": paths.mix.name if has_mix else None,
        "chart": paths.png.name if chart else None,
        "interval_s": _num(profile.interval),
        "mix_interval_s": _num(profile.mix_interval) if has_mix else None,
        "start": format_time(profile.start),
        "end": format_time(profile.end),
        "intervals": len(profile.requests),
        "requests": _num(profile.total_requests),
        "unclassified_requests": _num(profile.unclassified),
        "excluded_requests": _num(profile.excluded),
        "exclude": list(profile.exclude),
        "max_endpoints": profile.max_endpoints,
        "distinct_endpoints": profile.distinct_endpoints,
        "other_endpoints_requests": _num(profile.other_endpoints),
        "summary": {
            "mean_rate": _num(summary.mean_rate), "peak_rate": _num(summary.peak_rate),
            "peak_at": format_time(summary.peak_at),
            "peak_window": {"name": pw.name, "start": format_time(pw.start), "end": format_time(pw.end),
                            "length_s": _num(pw.end - pw.start), "rate": _num(pw.rate)},
        },
        "sources": [{"path": s.path, "format": s.format, "lines": s.lines, "malformed": s.malformed}
                    for s in profile.sources],
        "statuses": [{"status": s.status, "requests": _num(s.requests), "share": round(s.share, 6)}
                     for s in profile.statuses],
        "endpoints": [{"method": e.method, "path": e.path, "requests": _num(e.requests), "share": round(e.share, 6)}
                      for e in profile.endpoints],
    }
    with atomic_path(paths.json) as tmp:
        tmp.write_text(_dump(doc), encoding="utf-8")
    return ProfileFiles(paths.csv, paths.json, png, paths.mix if has_mix else None)


def _bad(path: Path, key: str, message: str, line: int | None = None) -> ConfigError:
    return ConfigError(problems=[Problem(str(path), line, key, message)])


def _read_rates(csv_path: Path) -> tuple[float, ...]:
    requests: list[float] = []
    try:
        with csv_path.open(newline="", encoding="utf-8") as fh:
            for n, row in enumerate(csv.DictReader(fh), start=2):
                try:
                    value = float(row["requests"])
                    if not value >= 0 or math.isinf(value):
                        raise ValueError
                except (KeyError, TypeError, ValueError):
                    raise _bad(csv_path, "requests", "expected a number >= 0", n) from None
                requests.append(value)
    except OSError as exc:
        raise _bad(csv_path, "", f"cannot read the rate series: {exc.strerror or exc}") from None
    if not requests:
        raise _bad(csv_path, "", "no intervals; re-import the profile")
    return tuple(requests)


def load_profile(path: str | Path) -> Profile:
    """Read a profile back from any of its files (format 2, or format 1 without a mix); ConfigError if unreadable."""
    paths = _paths(path)
    try:
        doc = json.loads(paths.json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _bad(paths.json, "", f"cannot read the profile: {exc}") from None
    fmt = doc.get("format") if isinstance(doc, dict) else None
    if fmt not in READABLE_FORMATS:
        raise _bad(paths.json, "format", f"expected {' or '.join(map(repr, READABLE_FORMATS))}, got {fmt!r}; "
                                         "re-import the profile with this loadkit")
    requests = _read_rates(paths.csv)
    try:
        profile = _from_doc(doc, fmt, requests)
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(paths.json, "", f"malformed profile ({type(exc).__name__}: {exc}); re-import the profile") from None
    if fmt == FORMAT_VERSION and doc.get("mix"):
        profile = _with_mix(profile, paths.mix)
    return profile


def _from_doc(doc: dict, fmt: str, requests: tuple[float, ...]) -> Profile:
    pw = doc.get("summary", {}).get("peak_window", {})
    mix_interval = doc.get("mix_interval_s")
    return Profile(
        interval=float(doc["interval_s"]), start=parse_timestamp(doc["start"]), requests=requests,
        endpoints=tuple(Endpoint(e["method"], e["path"], float(e["requests"]), float(e["share"]))
                        for e in doc.get("endpoints", [])),
        statuses=tuple(StatusShare(s["status"], float(s["requests"]), float(s["share"]))
                       for s in doc.get("statuses", [])),
        sources=tuple(SourceInfo(s["path"], s["format"], int(s.get("lines", 0)), int(s.get("malformed", 0)))
                      for s in doc.get("sources", [])),
        unclassified=float(doc.get("unclassified_requests", 0)),
        other_endpoints=float(doc.get("other_endpoints_requests", 0)),
        peak_window_length=float(pw["length_s"]) if "length_s" in pw else None,
        mix_interval=float(mix_interval) if mix_interval and doc.get("mix") else None,
        excluded=float(doc.get("excluded_requests", 0)),
        exclude=tuple(str(x) for x in doc.get("exclude", [])),
        max_endpoints=int(doc.get("max_endpoints", 200 if fmt != FORMAT_VERSION else DEFAULT_MAX_ENDPOINTS)),
        distinct_endpoints=int(doc.get("distinct_endpoints", len(doc.get("endpoints", [])))),
        format=fmt,
    )


def _with_mix(profile: Profile, mix_path: Path) -> Profile:
    """The profile with its per-block mix, checked against the rate series (a block cannot hold more)."""
    import numpy as np

    if profile.mix_interval is None or profile.mix_interval <= 0:
        raise _bad(mix_path, "mix_interval_s", "expected a positive block length in the profile's JSON; re-import it")
    idx = interval_blocks(profile)
    blocks = read_mix(mix_path, profile.mix_interval, int(idx[0]), int(idx[-1]))
    totals = np.bincount(idx - idx[0], weights=np.asarray(profile.requests, dtype=float))
    for b in blocks:
        have = totals[b.index - idx[0]]
        if b.classified > have + 1e-6 * max(1.0, have):
            when = format_time(max(b.index * profile.mix_interval, profile.start))
            raise _bad(mix_path, "", f"the block starting {when} holds {b.classified:g} requests but the rate series "
                                     f"only {have:g}; the files do not belong together, re-import the profile")
    return replace(profile, blocks=blocks)


def render_chart(profile: Profile, path: str | Path, window: float | None = None, title: str = "") -> Path:
    """PNG of the rate over time with the peak window shaded; Agg via Figure, so no global backend is touched."""
    try:
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("the rate chart needs matplotlib: pip install matplotlib, or pass --no-chart") from None
    pw = peak_window(profile, window)
    n = len(profile.requests)
    ms = np.int64(round(profile.start * 1000)) + np.round(np.arange(n + 1) * profile.interval * 1000).astype(np.int64)
    times = ms.astype("datetime64[ms]")
    rates = np.asarray(profile.requests, dtype=float) / profile.interval
    fig = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.stairs(rates, times, baseline=None, color="tab:blue", linewidth=0.9, label=f"rate per {format_duration(profile.interval)}")
    ax.axvspan(np.datetime64(round(pw.start * 1000), "ms"), np.datetime64(round(pw.end * 1000), "ms"),
               color="tab:orange", alpha=0.25, label=f"{pw.name}: {pw.rate:.1f} req/s")
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("requests per second (req/s)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"Request rate{': ' + title if title else ''} (peak {max(rates):.1f} req/s, "
                 f"{format_time(profile.start)} to {format_time(profile.end)})")
    ax.legend(loc="upper left")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out


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
