"""What an import says about a profile: the summary, its JSON (``--json``) and the rate chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..files import atomic_path
from .profile import PeakWindow, Profile, ProfileSummary
from .timestamps import format_duration, format_time, plain_number
from .window import peak_window, standard_windows

__all__ = ["summarize", "summary_json", "render_chart"]

_num = plain_number


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
