"""The report's charts as PNG bytes: latency, rate, errors, collector metrics.

``matplotlib.figure.Figure`` with the Agg canvas, never pyplot, so nothing global is touched
(safe in a library called at the end of every run). Text that came from outside (endpoint
names, error messages, metric labels) is drawn with ``parse_math=False``: a ``$`` in an
endpoint name must not turn into mathtext, or fail to render; secrets are masked and control
characters shown as escapes (:func:`~loadkit.report.text.plain`).

Every chart spans the whole run on the same x axis (seconds since the load started, to its
end), so a target that stopped answering shows as the empty stretch it was, and every stall
is shaded where it happened. The ``*_figure`` functions return the figure (tests read its
axes); the ``*_png`` ones its PNG bytes, or None when there is nothing to draw.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from .data import MetricPanel, ReportData
from .text import plain

__all__ = ["latency_png", "rate_png", "errors_png", "metrics_png", "distribution_png", "latency_figure", "rate_figure",
           "errors_figure", "metrics_figure", "distribution_figure", "DPI", "PNG_OWNER_KEY"]

DPI = 100
#: The PNG text chunk naming the report a chart belongs to: only such files are ever replaced or removed.
PNG_OWNER_KEY = "loadkit-report"
_SIZE = (10.0, 3.8)
_COLORS = ("tab:red", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:gray")


def _short(text: str, n: int = 70) -> str:
    text = " ".join(plain(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _figure(size: tuple[float, float] = _SIZE, layout: str | None = "constrained") -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any | None, owner: str = "") -> bytes | None:
    """The figure as PNG, its text chunk ``loadkit-report`` naming the report it belongs to."""
    if fig is None:
        return None
    for text in fig.findobj(lambda o: hasattr(o, "set_parse_math")):
        text.set_parse_math(False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": "loadkit", PNG_OWNER_KEY: owner or "report"})
    return buf.getvalue()


def _legend(ax: Any, **kw: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8, **kw)


def _spans(ax: Any, d: ReportData, labels: bool = True) -> None:
    """The warmup and any tail after the checked window in grey, each stall in red; x from 0 to the run's end."""
    if d.window is not None and d.window[0] > 0:
        ax.axvspan(0, d.window[0], color="0.9", zorder=0, label="warmup (not checked)" if labels else None)
    if d.window is not None and d.window[1] < d.span - 1e-3:
        ax.axvspan(d.window[1], d.span, color="0.9", zorder=0, label=None)
    for i, s in enumerate(d.truth.stalls):
        ax.axvspan(float(s.get("from_s", 0)), float(s.get("to_s", 0)), facecolor=(0.84, 0.15, 0.16, 0.15),
                   edgecolor=(0.84, 0.15, 0.16, 0.5), hatch="//", linewidth=0, zorder=0,
                   label="stall: nothing completed" if labels and i == 0 else None)
    ax.set_xlim(0, max(d.span, 1e-3))


def _decorate(ax: Any, d: ReportData, ylabel: str) -> None:
    _spans(ax, d)
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def latency_png(d: ReportData, owner: str = "") -> bytes | None:
    return _png(latency_figure(d), owner)


def latency_figure(d: ReportData) -> Any | None:
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
    ax.set_title(f"Latency of successful requests per {t.bin_s:g} s (by start time)")
    _legend(ax, loc="upper left", ncols=3)
    return fig


def distribution_png(d: ReportData, owner: str = "") -> bytes | None:
    return _png(distribution_figure(d), owner)


def distribution_figure(d: ReportData) -> Any | None:
    """Each endpoint's latency by percentile (undisturbed slices of the checked window) over the baseline
    runs' min-max band: a shift anywhere in the distribution shows, not only at the compared p95.

    The percentile axis is the normal quantile of p (a probit axis drawn as plain numbers: the tail, p99
    and p99.9, as wide as the middle); latency on a log axis. Ticks are placed by hand, which keeps the
    chart a tenth of a second (matplotlib's logit and log locators took most of a second)."""
    panels = d.distributions
    if not panels:
        return None
    from statistics import NormalDist

    probit = np.vectorize(NormalDist().inv_cdf, otypes=[float])  # scipy.stats: a second to import

    rows = (len(panels) + 1) // 2
    fig = _figure((_SIZE[0], 2.6 * rows), layout=None)
    inches = 2.6 * rows
    fig.subplots_adjust(left=0.08, right=0.98, top=1 - 0.3 / inches, bottom=0.4 / inches, hspace=0.45, wspace=0.18)
    ticks = (0.01, 0.1, 0.5, 0.9, 0.99, 0.999)
    for i, dist in enumerate(panels):
        ax = fig.add_subplot(rows, 2, i + 1)
        x = probit(np.asarray(dist.p, dtype=float))
        if dist.low is not None and dist.high is not None:
            ax.fill_between(x, np.log10(dist.low), np.log10(dist.high), color="tab:blue", alpha=0.2,
                            label=f"baseline, min-max of {dist.runs} run{'s' if dist.runs != 1 else ''}")
            ax.plot(x, np.log10(dist.median), color="tab:blue", alpha=0.6, linestyle=":", label="baseline median")
        ax.plot(x, np.log10(dist.current), color="tab:orange", marker=".", label="this run")
        ax.set_xticks(probit(ticks), [f"p{100 * t:g}" for t in ticks])
        ys = [v for v in (dist.low, dist.high, dist.current) if v is not None]
        lo, hi = np.log10(min(float(np.min(v)) for v in ys)), np.log10(max(float(np.max(v)) for v in ys))
        marks = [m * 10.0 ** e for e in range(int(np.floor(lo)), int(np.ceil(hi)) + 1) for m in (1, 2, 5)]
        marks = [m for m in marks if lo - 0.05 <= np.log10(m) <= hi + 0.05] or [10 ** lo, 10 ** hi]
        ax.set_yticks(np.log10(marks), [f"{m:g}" for m in marks])
        ax.set_title(_short(dist.name, 40), fontsize=9)
        ax.set_ylabel("latency (ms)")
        ax.grid(True, alpha=0.3)
        if i == 0:
            _legend(ax, loc="upper left")
    return fig


def rate_png(d: ReportData, owner: str = "") -> bytes | None:
    return _png(rate_figure(d), owner)


def rate_figure(d: ReportData) -> Any | None:
    """Requests started and completed per second per bin; the intended rate and planned users when known.

    Started and completed part where the target holds requests: in a hang, requests stop
    completing long before they stop starting.
    """
    t, r = d.timeline, d.rate
    if t is None and r is None:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    if t is not None:
        ax.plot(t.x, t.rps, color="tab:blue", linewidth=1.2, label="started",
                marker="." if t.x.size < 40 else None)
        ax.plot(t.x, t.completed, color="tab:green", linewidth=1, linestyle="--", label="completed (answered or failed)")
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
    ax.set_title("Requests per second" + (f" ({t.bin_s:g} s bins)" if t is not None else ""))
    return fig


def errors_png(d: ReportData, owner: str = "") -> bytes | None:
    return _png(errors_figure(d), owner)


def errors_figure(d: ReportData) -> Any | None:
    """Failures per second, stacked by error text (the most frequent five and the rest)."""
    t = d.timeline
    if t is None or not t.errors or not t.failures:
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
    return fig


def _scaled(panel: MetricPanel) -> tuple[float, str]:
    """Bytes as MiB; everything else as recorded."""
    if panel.name.endswith("_bytes"):
        return 1 / 2**20, "MiB"
    if panel.name.endswith(".cpu"):
        return 1.0, "% of one core"
    if panel.name.endswith(".lag_ms"):
        return 1.0, "ms"
    if panel.name == "generator.steal":
        return 1.0, "% of all cores"
    return 1.0, ""


_STATUS_COLOR = {"PASS": "tab:green", "WARN": "tab:orange", "FAIL": "tab:red", "NODATA": "tab:brown",
                 "ERROR": "tab:red"}


def metrics_png(d: ReportData, owner: str = "") -> bytes | None:
    return _png(metrics_figure(d), owner)


def metrics_figure(d: ReportData) -> Any | None:
    """One small panel per metric, up to three per row: the metrics checks use first (their limits drawn),
    then one row (or more) per prefix (``target.*``, ``db.*``), then the load generator's own health."""
    panels = d.metrics
    if not panels:
        return None
    cols = min(3, len(panels))
    slots, row = [], 0
    for group in dict.fromkeys(p.group for p in panels):  # each group starts a new row
        members = [p for p in panels if p.group == group]
        slots += [(row + i // cols, i % cols, p) for i, p in enumerate(members)]
        row += math.ceil(len(members) / cols)
    height = 2.5 * row + 0.8
    # a fixed grid, not the constrained layout: with a dozen panels it costs more than all other charts together
    fig = _figure((10.0, height), layout=None)
    grid = fig.add_gridspec(row, cols, left=0.06, right=0.985, top=1 - 0.95 / height, bottom=0.5 / height,
                            hspace=0.62, wspace=0.24)
    for r, c, p in slots:
        ax = fig.add_subplot(grid[r, c])
        scale, unit = _scaled(p)
        for j, (labels, x, y) in enumerate(p.series):
            ax.plot(x, y * scale, linewidth=1, color=f"C{j}", label=_short(labels, 40) if labels else None,
                    marker="." if x.size < 30 else None)
        _limits(ax, p, scale)
        _spans(ax, d, labels=False)
        title = _short(p.name, 45) + (f" ({unit})" if unit else "")
        if p.checks:
            title += f"\nused by {len(p.checks)} check{'s' if len(p.checks) != 1 else ''}: " + ", ".join(
                dict.fromkeys(lim.status for lim in p.checks))
        ax.set_title(title, fontsize=9, color="black" if not p.checks else
                     _STATUS_COLOR.get(_worst(lim.status for lim in p.checks), "black"))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    fig.supxlabel("seconds since the load started", fontsize=9)
    fig.suptitle("Metrics: checked first, then by source; the load generator last (grey: not checked, red: stall)",
                 fontsize=10, y=1 - 0.12 / height, va="top")
    return fig


def _limits(ax: Any, p: MetricPanel, scale: float) -> None:
    """Each check's limit as a dashed line in its status colour; a limit far off the data's range is named in
    a corner instead, so that it does not flatten the curve it judges."""
    lo, hi = ax.get_ylim()
    far = []
    for lim in p.checks:
        if lim.value is None:
            continue
        v, color = lim.value * scale, _STATUS_COLOR.get(lim.status, "black")
        base = min(lo, 0.0)
        width = max(hi - base, 1e-12)
        if base - width <= v <= hi + 2 * width:  # near enough to the data (from zero) to be drawn with it
            ax.axhline(v, color=color, linestyle="--", linewidth=1, label=_short(f"{lim.check}: {lim.status}", 40))
        else:
            far.append((f"{_short(lim.check, 40)}: {lim.status} (limit off the scale)", color))
    for i, (text, color) in enumerate(far):
        ax.text(0.99, 0.97 - 0.09 * i, text, transform=ax.transAxes, ha="right", va="top", fontsize=6, color=color)


def _worst(statuses: Any) -> str:
    order = ("FAIL", "ERROR", "NODATA", "WARN", "PASS")
    return min(statuses, key=lambda s: order.index(s) if s in order else 2, default="PASS")
