"""The traffic profile: rate per interval, endpoint mix, status mix; its files, its summary and its chart.

On disk a profile is two small, diff-friendly files side by side (docs/profiles.md):
``NAME.csv`` with ``start,requests,rate`` (one row per interval, contiguous, ISO 8601 UTC starts)
and ``NAME.json`` with everything else (interval, sources, endpoint and status mix, summary).
A CSV keeps a day of 1-second rates readable by any tool; the JSON stays a few KB.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ConfigError, Problem
from .timestamps import parse_timestamp

__all__ = [
    "FORMAT_VERSION",
    "Endpoint",
    "StatusShare",
    "Malformed",
    "SourceInfo",
    "Profile",
    "PeakWindow",
    "ProfileSummary",
    "ProfileFiles",
    "peak_window",
    "summarize",
    "summary_json",
    "save_profile",
    "load_profile",
    "render_chart",
    "format_time",
    "format_duration",
]

FORMAT_VERSION = "loadkit-profile/1"
_WINDOWS = (3600.0, 1800.0, 600.0, 300.0, 60.0, 30.0, 10.0)  # default peak-window candidates, largest first
MAX_STORED_ENDPOINTS = 200


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
    other_endpoints: float = 0  # requests of endpoints beyond MAX_STORED_ENDPOINTS
    peak_window_length: float | None = None  # chosen --peak-window, None: the default rule

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


@dataclass(frozen=True)
class _Counts:
    """Internal: turns raw counters into the sorted, share-annotated tuples a Profile holds."""

    endpoints: dict[tuple[str, str], float] = field(default_factory=dict)
    statuses: dict[str, float] = field(default_factory=dict)

    def endpoint_mix(self) -> tuple[tuple[Endpoint, ...], float]:
        total = math.fsum(self.endpoints.values())
        ranked = sorted(self.endpoints.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = tuple(Endpoint(m, p, n, n / total) for (m, p), n in ranked[:MAX_STORED_ENDPOINTS])
        return kept, math.fsum(n for _, n in ranked[MAX_STORED_ENDPOINTS:])

    def status_mix(self) -> tuple[StatusShare, ...]:
        total = math.fsum(self.statuses.values())
        return tuple(StatusShare(s, n, n / total) for s, n in sorted(self.statuses.items()))


def format_time(t: float) -> str:
    """ISO 8601 UTC with a ``Z``; milliseconds only when not on a whole second, so most rows stay short."""
    ms = round(t * 1000)
    secs, frac = divmod(ms, 1000)
    text = datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{frac:03d}Z" if frac else "Z")


def format_duration(seconds: float) -> str:
    """``3600`` -> ``1h``, ``600`` -> ``10m``, ``45`` -> ``45s``: the suffix of a peak window's name."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def _default_window(duration: float) -> float:
    """The busiest hour; for a shorter profile the largest standard window that fits twice, else all of it."""
    if duration >= 3600:
        return 3600.0
    for w in _WINDOWS[1:]:
        if w <= duration / 2:
            return w
    return duration


def peak_window(profile: Profile, length: float | None = None) -> PeakWindow:
    """The busiest window of ``length`` seconds (default: see ``_default_window``), earliest on a tie."""
    import numpy as np

    length = length or profile.peak_window_length or _default_window(profile.duration)
    n = len(profile.requests)
    k = min(n, max(1, round(length / profile.interval)))
    counts = np.asarray(profile.requests, dtype=float)
    sums = np.convolve(counts, np.ones(k), mode="valid") if k > 1 else counts
    i = int(np.argmax(sums))
    total = float(math.fsum(profile.requests[i:i + k]))
    span = k * profile.interval
    start = profile.start + i * profile.interval
    return PeakWindow(f"peak-{format_duration(span)}", start, start + span, total, total / span)


def summarize(profile: Profile, window: float | None = None, top: int = 10) -> ProfileSummary:
    rates = profile.rates
    i = max(range(len(rates)), key=rates.__getitem__)
    return ProfileSummary(
        start=profile.start, end=profile.end, interval=profile.interval, total_requests=profile.total_requests,
        mean_rate=profile.total_requests / profile.duration, peak_rate=rates[i],
        peak_at=profile.start + i * profile.interval, peak_window=peak_window(profile, window),
        top_endpoints=profile.endpoints[:top], statuses=profile.statuses,
    )


def summary_json(profile: Profile, window: float | None = None) -> dict:
    """What ``profile import --json`` prints: exactly intervals, peak_rate, peak_window, endpoints."""
    pw = peak_window(profile, window)
    return {
        "intervals": [
            {"start": format_time(profile.start + i * profile.interval), "requests": _num(r),
             "rate": _num(r / profile.interval)}
            for i, r in enumerate(profile.requests)
        ],
        "peak_rate": _num(max(profile.rates)),
        "peak_window": {"start": format_time(pw.start), "end": format_time(pw.end)},
        "endpoints": [{"method": e.method, "path": e.path, "share": e.share} for e in profile.endpoints],
    }


def _num(x: float) -> int | float:
    """Integers stay integers in the files (diff-friendly); other values keep 6 decimals."""
    x = float(x)
    return int(x) if x.is_integer() else round(x, 6)


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


def _paths(path: str | Path) -> tuple[Path, Path, Path]:
    p = Path(path)
    base = p.with_suffix("") if p.suffix in (".csv", ".json", ".png") else p
    return base.with_suffix(".csv"), base.with_suffix(".json"), base.with_suffix(".png")


def save_profile(profile: Profile, path: str | Path, chart: bool = True, window: float | None = None) -> ProfileFiles:
    """Write ``NAME.csv`` + ``NAME.json`` (+ ``NAME.png``); existing files are replaced, since profiles live in git."""
    csv_path, json_path, png_path = _paths(path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    summary = summarize(profile, window)
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["start", "requests", "rate"])
        for i, r in enumerate(profile.requests):
            w.writerow([format_time(profile.start + i * profile.interval), _num(r), _num(r / profile.interval)])
    pw = summary.peak_window
    doc = {
        "format": FORMAT_VERSION,
        "rates": csv_path.name,
        "chart": png_path.name if chart else None,
        "interval_s": _num(profile.interval),
        "start": format_time(profile.start),
        "end": format_time(profile.end),
        "intervals": len(profile.requests),
        "requests": _num(profile.total_requests),
        "unclassified_requests": _num(profile.unclassified),
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
    json_path.write_text(_dump(doc), encoding="utf-8")
    png = None
    if chart:
        png = render_chart(profile, png_path, window=window, title=csv_path.stem)
    return ProfileFiles(csv_path, json_path, png)


def load_profile(path: str | Path) -> Profile:
    """Read a profile back from ``NAME.csv`` / ``NAME.json`` (either name works); ConfigError if unreadable."""
    csv_path, json_path, _ = _paths(path)
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(problems=[Problem(str(json_path), None, "", f"cannot read the profile: {exc}")]) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION:
        raise ConfigError(problems=[Problem(str(json_path), None, "format",
                                            f"expected {FORMAT_VERSION!r}; re-import the profile with loadkit")])
    requests: list[float] = []
    try:
        with csv_path.open(newline="", encoding="utf-8") as fh:
            for n, row in enumerate(csv.DictReader(fh), start=2):
                try:
                    requests.append(float(row["requests"]))
                except (KeyError, TypeError, ValueError):
                    raise ConfigError(problems=[Problem(str(csv_path), n, "requests", "expected a number")]) from None
    except OSError as exc:
        raise ConfigError(problems=[Problem(str(csv_path), None, "", f"cannot read the rate series: {exc}")]) from None
    if not requests:
        raise ConfigError(problems=[Problem(str(csv_path), None, "", "no intervals; re-import the profile")])
    pw = doc.get("summary", {}).get("peak_window", {})
    return Profile(
        interval=float(doc["interval_s"]), start=parse_timestamp(doc["start"]), requests=tuple(requests),
        endpoints=tuple(Endpoint(e["method"], e["path"], float(e["requests"]), float(e["share"]))
                        for e in doc.get("endpoints", [])),
        statuses=tuple(StatusShare(s["status"], float(s["requests"]), float(s["share"]))
                       for s in doc.get("statuses", [])),
        sources=tuple(SourceInfo(s["path"], s["format"], int(s.get("lines", 0)), int(s.get("malformed", 0)))
                      for s in doc.get("sources", [])),
        unclassified=float(doc.get("unclassified_requests", 0)),
        other_endpoints=float(doc.get("other_endpoints_requests", 0)),
        peak_window_length=float(pw["length_s"]) if "length_s" in pw else None,
    )


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
    fig.savefig(out, format="png")
    return out


def build_profile(
    interval: float,
    buckets: dict[int, float],
    endpoints: dict[tuple[str, str], float],
    statuses: dict[str, float],
    sources: Iterable[SourceInfo],
    malformed: Iterable[Malformed] = (),
    unclassified: float = 0,
    what: str = "the sources",
    origin: float = 0.0,
) -> Profile:
    """Contiguous series from per-interval-index counters (gaps become zero intervals, which a replay needs)."""
    if not buckets:
        raise ConfigError(f"{what}: no requests found; nothing to import")
    lo, hi = min(buckets), max(buckets)
    if hi - lo + 1 > 50_000_000:
        raise ConfigError(f"{what}: {hi - lo + 1} intervals of {format_duration(interval)} is too many; "
                          f"pass a larger --interval (e.g. 1m)")
    counts = _Counts(dict(endpoints), dict(statuses))
    mix, other = counts.endpoint_mix() if endpoints else ((), 0.0)
    return Profile(
        interval=interval, start=origin + lo * interval, requests=tuple(buckets.get(i, 0) for i in range(lo, hi + 1)),
        endpoints=mix, statuses=counts.status_mix() if statuses else (), sources=tuple(sources),
        malformed=tuple(malformed), unclassified=unclassified, other_endpoints=other,
    )
