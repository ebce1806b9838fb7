"""The report's charts as PNG bytes: latency, rate, errors, collector metrics.

``matplotlib.figure.Figure`` with the Agg canvas, never pyplot, so nothing global is touched
(safe in a library called at the end of every run). Text that came from outside (endpoint
names, error messages, metric labels) is drawn with ``parse_math=False``: a ``$`` in an
endpoint name must not turn into mathtext, or fail to render.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from .data import MetricPanel, ReportData

__all__ = ["latency_png", "rate_png", "errors_png", "metrics_png", "DPI"]

DPI = 100
_SIZE = (10.0, 3.8)
_COLORS = ("tab:red", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:gray")


def _short(text: str, n: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _figure(size: tuple[float, float] = _SIZE) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    for text in fig.findobj(lambda o: hasattr(o, "set_parse_math")):
        text.set_parse_math(False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _legend(ax: Any, **kw: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8, **kw)


def _decorate(ax: Any, d: ReportData, ylabel: str) -> None:
    if d.window is not None and d.window[0] > 0:
        ax.axvspan(0, d.window[0], color="0.9", zorder=0, label="warmup (not checked)")
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.set_xlim(left=0)


def latency_png(d: ReportData) -> bytes | None:
    """p50/p95/p99 of successful requests per bin, over the baseline runs' p95 band."""
    t = d.timeline
    if t is None or not np.isfinite(t.p50).any():
        return None
    fig = _figure()
    ax = fig.add_subplot()
    if d.band is not None:
        b = d.band
        ax.fill_between(b.x, b.low, b.high, color="tab:blue", alpha=0.15, step="mid",
                        label=f"baseline p95, min–max of {b.runs} run{'s' if b.runs != 1 else ''} (10 s windows)")
        ax.plot(b.x, b.median, color="tab:blue", alpha=0.5, linestyle=":", drawstyle="steps-mid",
                label="baseline p95, median")
    for name, values, color in (("p99", t.p99, "tab:red"), ("p95", t.p95, "tab:orange"), ("p50", t.p50, "tab:green")):
        ax.plot(t.x, values, color=color, linewidth=1.2, label=name, marker="." if t.x.size < 40 else None)
    _decorate(ax, d, "latency (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Latency of successful requests per {t.bin_s:g} s")
    _legend(ax, loc="upper left", ncols=3)
    return _png(fig)


def rate_png(d: ReportData) -> bytes | None:
    """Achieved requests/s per bin; the intended rate and planned users when they are known."""
    t, r = d.timeline, d.rate
    if t is None and r is None:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    if t is not None:
        ax.plot(t.x, t.rps, color="tab:blue", linewidth=1.2, label="achieved (samples)",
                marker="." if t.x.size < 40 else None)
    if r is not None:
        if r.intended is not None:
            style = {"drawstyle": "steps-post"} if r.source == "manifest stages" else {}
            ax.plot(r.x, r.intended, color="black", linestyle="--", linewidth=1, label=f"intended ({r.source})", **style)
        if r.achieved is not None:
            ax.plot(r.x, r.achieved, color="tab:cyan", linewidth=1, label=f"achieved ({r.source})")
    _decorate(ax, d, "requests / s")
    ax.set_ylim(bottom=0)
    if d.planned_users is not None:
        ax2 = ax.twinx()
        ax2.plot(*d.planned_users, color="0.4", drawstyle="steps-post", linewidth=1, alpha=0.7, label="planned users")
        ax2.set_ylabel("users")
        ax2.set_ylim(bottom=0)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower right")
    else:
        _legend(ax, loc="lower right")
    ax.set_title("Request rate" + (f" per {t.bin_s:g} s" if t is not None else ""))
    return _png(fig)


def errors_png(d: ReportData) -> bytes | None:
    """Failures per second, stacked by error text (the most frequent five and the rest)."""
    t = d.timeline
    if t is None or not t.errors:
        return None
    fig = _figure((10.0, 4.2))
    ax = fig.add_subplot()
    width = t.bin_s
    # one filled polygon per error type, not one bar per bin: fast for a few hundred bins
    ax.stackplot(t.x, *[counts / width for _, counts in t.errors], step="mid", linewidth=0,
                 colors=[_COLORS[i % len(_COLORS)] for i in range(len(t.errors))],
                 labels=[f"{_short(text)} ({int(counts.sum())})" for text, counts in t.errors])
    _decorate(ax, d, "failures / s")
    ax.set_title(f"Errors per {width:g} s by type ({t.failures} of {t.total} requests failed)")
    _legend(ax, loc="upper left", bbox_to_anchor=(0, -0.25), ncols=1)
    return _png(fig)


def _scaled(panel: MetricPanel) -> tuple[float, str]:
    """Bytes as MiB; everything else as recorded."""
    if panel.name.endswith("_bytes"):
        return 1 / 2**20, "MiB"
    if panel.name.endswith(".cpu"):
        return 1.0, "% of one core"
    return 1.0, ""


def metrics_png(d: ReportData) -> bytes | None:
    """One small panel per collected metric, up to three per row, one row (or more) per prefix (``target.*``, ``db.*``)."""
    panels = d.metrics
    if not panels:
        return None
    cols = min(3, len(panels))
    slots, row = [], 0
    for group in dict.fromkeys(p.group for p in panels):  # each prefix group starts a new row
        members = [p for p in panels if p.group == group]
        slots += [(row + i // cols, i % cols, p) for i, p in enumerate(members)]
        row += math.ceil(len(members) / cols)
    fig = _figure((10.0, 2.4 * row + 0.4))
    grid = fig.add_gridspec(row, cols)
    for r, c, p in slots:
        ax = fig.add_subplot(grid[r, c])
        scale, unit = _scaled(p)
        for j, (labels, x, y) in enumerate(p.series):
            ax.plot(x, y * scale, linewidth=1, color=f"C{j}", label=_short(labels, 40) if labels else None,
                    marker="." if x.size < 30 else None)
        if d.window is not None and d.window[0] > 0:
            ax.axvspan(0, d.window[0], color="0.9", zorder=0)
        ax.set_title(_short(p.name, 45) + (f" ({unit})" if unit else ""), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.set_xlim(left=0)
        if any(lab for lab, _, _ in p.series):
            ax.legend(fontsize=6)
    fig.supxlabel("seconds since the load started", fontsize=9)
    fig.suptitle("Collector metrics (grey: warmup)", fontsize=11)
    return _png(fig)
