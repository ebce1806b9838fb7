"""The capacity chart: throughput with the USL fit and its 95 % band above, Little's-law latency
against the measured latency below; steps left out of the fit are drawn as crosses."""

from __future__ import annotations

import io

import numpy as np

from .analysis import CapacityReport

__all__ = ["chart_png"]


def chart_png(r: CapacityReport, dpi: int = 100) -> bytes:
    """PNG of 800 × 800 pixels at the default dpi. Without a fit: the data only, the reason as the title."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 8), dpi=dpi)
    FigureCanvasAgg(fig)
    ax, lx = fig.subplots(2, 1, sharex=True)
    used = [p for i, p in enumerate(r.points) if i not in r.excluded]
    out = [r.points[i] for i in r.excluded]
    ax.scatter([p.concurrency for p in used], [p.throughput for p in used], color="black", zorder=3, label="measured")
    if out:
        ax.scatter([p.concurrency for p in out], [p.throughput for p in out], color="tab:red", marker="x", zorder=3,
                   label="generator-limited (not fitted)")
    with_lat = [p for p in used if p.latency_ms is not None]
    if with_lat:
        lx.scatter([p.concurrency for p in with_lat], [p.latency_ms for p in with_lat], color="black", zorder=3,
                   label="measured mean latency")
    f, g, j = r.fit, r.figures, r.judgement
    if f.ok and r.curve:
        c = np.array(r.curve, dtype=float)
        n = c[:, 0]
        ax.plot(n, c[:, 1], color="tab:blue", label=f"USL σ={f.sigma:.3g} κ={f.kappa:.3g} λ={f.lam:.4g} "
                f"(r²={f.r_squared:.3f})")
        if np.isfinite(c[:, 2:4]).all():
            ax.fill_between(n, c[:, 2], np.minimum(c[:, 3], 3 * np.nanmax(c[:, 1])), color="tab:blue", alpha=0.15,
                            label="95 % band")
        lx.plot(n, c[:, 4], color="tab:blue", label=f"R(N) = N/X(N) − {r.think_time_s:g} s")
        if np.isfinite(c[:, 5:7]).all():
            lx.fill_between(n, c[:, 5], np.minimum(c[:, 6], 3 * np.nanmax(c[:, 4])), color="tab:blue", alpha=0.15)
        top = float(n.max())
        if g is not None and j.claims_peak and g.peak_concurrency is not None and g.peak_concurrency.estimate:
            ns = g.peak_concurrency
            if ns.estimate <= top:
                ax.axvline(ns.estimate, color="tab:red", linestyle="--", label=f"N* = {ns.estimate:.1f}")
            else:
                ax.plot([], [], color="tab:red", linestyle="--", label=f"N* = {ns.estimate:.1f} (beyond the chart)")
            if ns.low < top:
                ax.axvspan(ns.low, min(ns.high, top), color="tab:red", alpha=0.08)
        elif g is not None and j.claims_limit and g.max_throughput is not None and g.max_throughput.estimate:
            ax.axhline(g.max_throughput.estimate, color="tab:red", linestyle=":",
                       label=f"maximum {g.max_throughput.estimate:.4g} (κ undecided)")
        h = r.headroom
        if h is not None:
            ax.axhline(h.target_rps, color="tab:orange", linestyle="-.", label=f"peak × growth = {h.target_rps:.4g}")
            at = h.concurrency_at_target
            if at is not None and at.estimate is not None:
                ax.plot([at.estimate], [h.target_rps], marker="D", color="tab:orange", linestyle="none",
                        label=f"reached at N ≈ {at.estimate:.1f}")
            if h.latency_limit_ms is not None:
                lx.axhline(h.latency_limit_ms, color="tab:orange", linestyle="-.",
                           label=f"limit {h.latency_limit_ms:g} ms")
                b = h.latency_break
                if b is not None and b.low < top:
                    lx.axvspan(b.low, min(b.high, top), color="tab:orange", alpha=0.12,
                               label="where R(N) reaches the limit (95 %)")
        if j.limit == "none":
            ax.set_title("no limit within the measured range", fontsize=9)
        elif j.limit == "ceiling":
            ax.set_title("κ indistinguishable from 0: no peak claimed", fontsize=9)
    else:
        ax.set_title(f"no USL fit: {f.reason}"[:110], fontsize=9)
    ax.set_ylabel("throughput X")
    lx.set_ylabel("latency ms")
    lx.set_xlabel("concurrency N")
    for a in (ax, lx):
        a.set_xlim(left=0)
        a.set_ylim(bottom=0)
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7, loc="lower right" if a is ax else "upper left")
    fig.suptitle(r.title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
