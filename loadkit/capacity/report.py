"""The capacity-planning report: one analysis, rendered as text, JSON, Markdown, HTML or a PNG chart.

The HTML is self-contained (the chart is a ``data:image/png;base64`` URI, no script, no network)
and every string that came from outside (run names, file names) is passed through
:func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .inputs import Point
from .usl import Headroom, LatencyMatch, UslFit, fit_usl, headroom, latency_match

__all__ = ["CapacityReport", "analyze", "render_text", "report_markdown", "report_html", "chart_png",
           "write_report", "PREDICTION_FACTORS"]

PREDICTION_FACTORS = (0.5, 1.0, 1.5, 2.0)  # predictions at these multiples of the largest measured N

_ASSUMPTIONS = ("Throughput follows the USL, X(N) = λN / (1 + σ(N−1) + κN(N−1)) (Gunther, Guerrilla Capacity "
                "Planning, 2007); extrapolating far beyond the measured N is a forecast, not a measurement.",
                "Latency R(N) = N / X(N) − Z is Little's law for a closed system of N users with think time Z; "
                "it predicts the mean, not a percentile.")


@dataclass(frozen=True)
class CapacityReport:
    """Everything the report shows; ``headroom`` and ``latency`` are None when not asked or not possible."""

    title: str
    points: tuple[Point, ...]
    fit: UslFit
    headroom: Headroom | None
    latency: LatencyMatch | None
    predictions: tuple[tuple[float, float, float], ...]  # (N, X(N), R(N) ms)
    think_time_s: float = 0.0

    def to_json(self) -> dict:
        """The six headline keys first, then the details."""
        f = self.fit
        return {
            "sigma": f.sigma, "kappa": f.kappa, "lambda": f.lam,
            "peak_concurrency": f.peak_concurrency, "peak_throughput": f.peak_throughput,
            "r_squared": f.r_squared,
            "ok": f.ok, "reason": f.reason, "n_points": f.n_points, "title": self.title,
            "stderr": {"sigma": f.sigma_se, "kappa": f.kappa_se, "lambda": f.lam_se},
            "ci95": {"sigma": _pair(f.sigma_ci), "kappa": _pair(f.kappa_ci), "lambda": _pair(f.lam_ci)},
            "residual_se": f.residual_se, "peak_note": f.peak_note, "think_time_s": self.think_time_s,
            "predictions": [{"concurrency": n, "throughput": x, "latency_ms": r} for n, x, r in self.predictions],
            "headroom": None if self.headroom is None else self.headroom.to_json(),
            "latency_match": None if self.latency is None else self.latency.to_json(),
            "points": [{"concurrency": p.concurrency, "throughput": p.throughput, "latency_ms": p.latency_ms,
                        "label": p.label} for p in self.points],
        }


def _pair(v: tuple[float, float] | None) -> list[float] | None:
    return None if v is None else [v[0], v[1]]


def analyze(points: Sequence[Point], *, peak_rps: float | None = None, growth: float = 1.0,
            latency_limit_ms: float | None = None, think_time_s: float = 0.0, title: str = "Capacity",
            min_r_squared: float | None = None) -> CapacityReport:
    """Fit, headroom and latency check in one call: what ``loadkit capacity`` shows."""
    for name, value in (("--peak", peak_rps), ("--latency-limit", latency_limit_ms)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name}: expected a positive number, got {value:g}")
    if not (math.isfinite(growth) and growth > 0):
        raise ConfigError(f"--growth: expected a positive factor (1.3 = 30 % more), got {growth:g}")
    if not (math.isfinite(think_time_s) and think_time_s >= 0):
        raise ConfigError(f"think time: expected 0 or more seconds, got {think_time_s:g}")
    pts = tuple(points)
    kw = {} if min_r_squared is None else {"min_r_squared": min_r_squared}
    fit = fit_usl([p.concurrency for p in pts], [p.throughput for p in pts], **kw)
    room = match = None
    preds: tuple[tuple[float, float, float], ...] = ()
    if fit.ok:
        if peak_rps is not None:
            room = headroom(fit, peak_rps, growth, latency_limit_ms, think_time_s)
        match = latency_match(fit, [p.concurrency for p in pts], [p.throughput for p in pts],
                              [p.latency_ms for p in pts], think_time_s)
        n_max = max(p.concurrency for p in pts)
        ns = sorted({round(n_max * k, 6) for k in PREDICTION_FACTORS}
                    | ({round(fit.peak_concurrency, 6)} if fit.peak_concurrency else set()))
        preds = tuple((n, float(fit.throughput_at(n)), float(fit.latency_ms_at(n, think_time_s))) for n in ns)
    return CapacityReport(title, pts, fit, room, match, preds, think_time_s)


def _g(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}g}"


def _lines(r: CapacityReport) -> list[tuple[str, str]]:
    """(label, value) rows shared by the text, Markdown and HTML renderings."""
    f = r.fit

    def pm(v: float | None, se: float | None) -> str:
        return _g(v) + ("" if se is None else f" ± {se:.2g}")

    rows = [("points", str(f.n_points)), ("σ (contention)", pm(f.sigma, f.sigma_se)),
            ("κ (coherency)", pm(f.kappa, f.kappa_se)), ("λ (throughput of one user)", pm(f.lam, f.lam_se)),
            ("r²", _g(f.r_squared)),
            ("peak concurrency N*", "none (κ = 0)" if f.peak_concurrency is None else f"{f.peak_concurrency:.1f}"),
            ("maximum throughput", _g(f.peak_throughput) + ("" if f.peak_concurrency else " (ceiling λ/σ)"
                                                             if f.peak_throughput else "")),
            ("", f.peak_note)]
    h = r.headroom
    if h is not None:
        rows += [("target (peak × growth)", f"{h.peak_rps:g} × {h.growth:g} = {h.target_rps:.4g}/s"),
                 ("share of maximum", "n/a" if h.utilisation is None else f"{h.utilisation:.1%}"),
                 ("N at target", "beyond capacity" if h.concurrency_at_target is None
                  else f"{h.concurrency_at_target:.1f} (R ≈ {_g(h.latency_at_target_ms)} ms)")]
        if h.latency_limit_ms is not None:
            rows.append((f"R(N) > {h.latency_limit_ms:g} ms from", "never" if h.latency_break_concurrency is None
                         else f"N = {h.latency_break_concurrency} (X = {_g(h.latency_break_throughput)}/s)"))
        rows.append(("headroom", h.verdict))
    m = r.latency
    if m is not None:
        rows += [("latency: Little's law vs measured", f"mean error {m.mean_abs_pct_error:.1%} "
                  f"(max {m.max_abs_pct_error:.1%}) over {m.n_points} points"),
                 ("implied think time Z", f"{m.implied_think_time_s * 1000:.1f} ms (assumed {m.think_time_s:g} s)")]
    return rows


def render_text(r: CapacityReport) -> str:
    """Plain lines for a terminal."""
    if not r.fit.ok:
        return f"{r.title}: no USL fit: {r.fit.reason}"
    out = [f"{r.title}: USL fit"]
    out += [f"  {k + ':' if k else '':<36} {v}" for k, v in _lines(r)]
    if r.predictions:
        out.append("  predictions:")
        out += [f"    N = {n:<8.4g} X = {x:<10.4g} R = {lat:.4g} ms" for n, x, lat in r.predictions]
    return "\n".join(out)


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def report_markdown(r: CapacityReport, chart_file: str | None = None) -> str:
    """A Markdown report; ``chart_file`` is a relative path to the PNG written beside it."""
    out = [f"# {_md(r.title)}", ""]
    if not r.fit.ok:
        out += [f"**No USL fit:** {_md(r.fit.reason)}", ""]
    else:
        out += ["| | |", "|---|---|"] + [f"| {_md(k)} | {_md(v)} |" for k, v in _lines(r)] + [""]
        if chart_file:
            out += [f"![throughput and USL fit]({chart_file})", ""]
        if r.predictions:
            out += ["## Predictions", "", "| N | X(N) | R(N) ms |", "|---:|---:|---:|"]
            out += [f"| {n:.4g} | {x:.4g} | {lat:.4g} |" for n, x, lat in r.predictions] + [""]
    out += ["## Data", "", "| label | N | X | latency ms |", "|---|---:|---:|---:|"]
    out += [f"| {_md(p.label)} | {p.concurrency:g} | {p.throughput:.4g} | {_g(p.latency_ms)} |" for p in r.points]
    out += ["", "## Assumptions", ""] + [f"- {a}" for a in _ASSUMPTIONS]
    return "\n".join(out) + "\n"


def report_html(r: CapacityReport, png: bytes | None = None) -> str:
    """A self-contained HTML page (inline CSS, chart as a data URI, every string escaped)."""
    e = html.escape
    body = [f"<h1>{e(r.title)}</h1>"]
    if not r.fit.ok:
        body.append(f"<p class=\"nofit\"><strong>No USL fit:</strong> {e(r.fit.reason)}</p>")
    else:
        body.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _lines(r)) + "</table>")
    if png:
        body.append(f"<img alt=\"throughput and USL fit\" src=\"data:image/png;base64,{base64.b64encode(png).decode()}\">")
    if r.predictions:
        body.append("<h2>Predictions</h2><table><tr><th>N</th><th>X(N)</th><th>R(N) ms</th></tr>" + "".join(
            f"<tr><td>{n:.4g}</td><td>{x:.4g}</td><td>{lat:.4g}</td></tr>" for n, x, lat in r.predictions) + "</table>")
    body.append("<h2>Data</h2><table><tr><th>label</th><th>N</th><th>X</th><th>latency ms</th></tr>" + "".join(
        f"<tr><td>{e(p.label)}</td><td>{p.concurrency:g}</td><td>{p.throughput:.4g}</td><td>{e(_g(p.latency_ms))}</td></tr>"
        for p in r.points) + "</table>")
    body.append("<h2>Assumptions</h2><ul>" + "".join(f"<li>{e(a)}</li>" for a in _ASSUMPTIONS) + "</ul>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
             "th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}img{max-width:100%}.nofit{color:#a00}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(r.title)}</title>"
            f"<style>{style}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


def chart_png(r: CapacityReport, dpi: int = 100) -> bytes:
    """The data, the fitted curve (only when the fit is ok), N* and the peak × growth line, as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    n = np.array([p.concurrency for p in r.points], dtype=float)
    x = np.array([p.throughput for p in r.points], dtype=float)
    ax.scatter(n, x, color="black", zorder=3, label="measured")
    f = r.fit
    if f.ok:
        top = max(float(n.max()) * 1.5, 2.0)
        if f.peak_concurrency is not None:
            top = max(top, f.peak_concurrency * 1.3)
        if r.headroom and r.headroom.concurrency_at_target:
            top = max(top, r.headroom.concurrency_at_target * 1.2)
        grid = np.linspace(min(1.0, float(n.min())), top, 400)
        ax.plot(grid, f.throughput_at(grid), color="tab:blue",
                label=f"USL σ={f.sigma:.3g} κ={f.kappa:.3g} λ={f.lam:.4g} (r²={f.r_squared:.3f})")
        if f.peak_concurrency is not None:
            ax.axvline(f.peak_concurrency, color="tab:red", linestyle="--",
                       label=f"N* = {f.peak_concurrency:.1f}, X = {f.peak_throughput:.4g}")
        elif f.peak_throughput is not None:
            ax.axhline(f.peak_throughput, color="tab:red", linestyle=":", label=f"ceiling λ/σ = {f.peak_throughput:.4g}")
        if r.headroom is not None:
            ax.axhline(r.headroom.target_rps, color="tab:orange", linestyle="-.",
                       label=f"peak × growth = {r.headroom.target_rps:.4g}")
            if r.headroom.concurrency_at_target is not None:
                ax.plot([r.headroom.concurrency_at_target], [r.headroom.target_rps], marker="D", color="tab:orange",
                        linestyle="none", label=f"reached at N ≈ {r.headroom.concurrency_at_target:.1f}")
    else:
        ax.set_title(f"no USL fit: {f.reason}"[:110], fontsize=9)
    ax.set_xlabel("concurrency N")
    ax.set_ylabel("throughput X")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(r.title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_report(r: CapacityReport, path: str | Path) -> Path:
    """Write by suffix: ``.html`` (chart embedded), ``.md`` (chart as ``<name>.png`` beside it),
    ``.png`` (chart only) or ``.json``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".html", ".htm", ".md", ".png", ".json"):
        raise ConfigError(f"-o {path}: unknown report type; use .html, .md, .png or .json")
    try:
        if suffix in (".html", ".htm"):
            path.write_text(report_html(r, chart_png(r)), encoding="utf-8")
        elif suffix == ".md":
            png = path.with_suffix(".png")
            png.write_bytes(chart_png(r))
            path.write_text(report_markdown(r, png.name), encoding="utf-8")
        elif suffix == ".png":
            path.write_bytes(chart_png(r))
        else:
            path.write_text(json.dumps(r.to_json(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"-o {path}: cannot write ({exc.strerror})") from None
    return path
