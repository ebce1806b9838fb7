"""The capacity report rendered as text, JSON, Markdown or HTML; the chart is :mod:`.chart`.

Every figure is printed with its 95 % interval beside it, and what the data cannot tell is said
in words in every rendering. The HTML is self-contained (the chart is a ``data:image/png;base64``
URI, no script, no network) and every string that came from outside (run names, file names) is
passed through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

from ..errors import ConfigError
from .analysis import CapacityReport
from .chart import chart_png
from .findings import fmt, span
from .uncertainty import Interval

__all__ = ["render_text", "report_markdown", "report_html", "write_report", "sections", "table_rows"]

_ASSUMPTIONS = ("Throughput follows the USL, X(N) = λN / (1 + σ(N−1) + κN(N−1)) (Gunther, Guerrilla Capacity "
                "Planning, 2007); extrapolating far beyond the measured N is a forecast, not a measurement.",
                "Intervals are 95 %: σ, κ, λ from the fit's standard errors (as the R usl package computes them), "
                "every derived figure from parameter draws with the fit's covariance; they assume the points "
                "scatter evenly around the curve and do not cover a systematic error such as an unsteady step.",
                "Latency R(N) = N / X(N) − Z is Little's law for a closed system of N users with think time Z; "
                "it predicts the mean, not a percentile.")


def table_rows(r: CapacityReport) -> list[tuple[str, str]]:
    """(label, value) rows shared by the text, Markdown and HTML renderings."""
    f, g, j = r.fit, r.figures, r.judgement
    used = f"{f.n_points}" + (f" ({len(r.excluded)} more left out: generator-limited)" if r.excluded else "")
    if g is None:
        return [("points fitted", used)]
    se = (lambda v: "" if v is None else f"  (SE {v:.3g})")  # noqa: E731
    rows = [("points fitted", used),
            ("σ (contention)", span(g.sigma) + se(f.sigma_se)),
            ("κ (coherency)", span(g.kappa) + se(f.kappa_se)),
            ("λ (throughput of one user)", span(g.lam) + se(f.lam_se)),
            ("r²", fmt(f.r_squared))]
    if j.limit == "peak":
        rows.append(("peak concurrency N*", span(g.peak_concurrency, 3)))
    elif j.limit == "ceiling":
        rows.append(("peak concurrency N*", "not claimed: κ is indistinguishable from 0"
                     + ("" if g.peak_concurrency is None else f"; if any, in {span_no_estimate(g.peak_concurrency)}")))
    elif j.limit == "none":
        rows.append(("peak concurrency N*", "none: no limit within the measured range"))
    else:
        rows.append(("peak concurrency N*", "undetermined"))
    rows.append(("maximum throughput", span(g.max_throughput) if j.claims_limit else
                 ("none within the measured range: at least " + fmt(g.x_measured) + "/s") if j.limit == "none"
                 else "undetermined"))
    h = r.headroom
    if h is not None:
        rows += [("target (peak × growth)", f"{h.peak_rps:g} × {h.growth:g} = {fmt(h.target_rps)}/s"),
                 ("share of maximum", "n/a" if h.utilisation is None else _pct(h.utilisation)),
                 ("N at target", "not reached by the fitted curve" if h.concurrency_at_target is None
                  or h.concurrency_at_target.estimate is None else span(h.concurrency_at_target, 3)
                  + ("" if h.latency_at_target_ms is None else f" (R ≈ {span(h.latency_at_target_ms, 3)} ms)"))]
        if h.latency_limit_ms is not None:
            rows.append((f"R(N) > {h.latency_limit_ms:g} ms from", "never, by the fitted curve"
                         if h.latency_break_concurrency is None else
                         f"N = {h.latency_break_concurrency} (R reaches it at N ≈ {span(h.latency_break, 3)}, "
                         f"X ≈ {span(h.latency_break_throughput)}/s)"))
        rows.append(("headroom", h.verdict))
    m = r.latency
    if m is not None:
        rows += [("latency: Little's law vs measured", f"mean error {m.mean_abs_pct_error:.1%} "
                  f"(max {m.max_abs_pct_error:.1%}) over {m.n_points} points; {m.note}"),
                 ("implied think time Z",
                  f"{round(m.implied_think_time_s * 1000, 1) + 0.0:.1f} ms (assumed {m.think_time_s:g} s)")]
    return rows


def span_no_estimate(iv: Interval) -> str:
    return span(Interval(None, iv.low, iv.high), 3)


def _pct(iv: Interval) -> str:
    p = (lambda v: "∞" if math.isinf(v) else f"{v:.0%}")  # noqa: E731
    head = "" if iv.estimate is None else p(iv.estimate) + " "
    return f"{head}[{p(iv.low)}, {p(iv.high)}" + ("]" if math.isfinite(iv.high) else ")")


def sections(r: CapacityReport) -> list[tuple[str, list[str]]]:
    """(heading, lines): what the data tells, what to measure, the bottleneck, the repeatability."""
    out = [("What the data tells", list(r.judgement.statements))]
    if r.judgement.recommendations:
        out.append(("Measurements that would decide it", list(r.judgement.recommendations)))
    out.append(("What limited the measurement", list(r.bottleneck) or ["nothing to report"]))
    a = r.agreement
    if a is not None:
        lines = [a.verdict] + list(a.notes)
        lines += [f"{run.run}: σ {span(run.figures.sigma, 3)}, κ {span(run.figures.kappa, 3)}, "
                  f"λ {span(run.figures.lam, 3)}, maximum {span(run.figures.max_throughput)}, "
                  f"r² {fmt(run.fit.r_squared, 3)}"
                  for run in a.runs if run.figures is not None]
        out.append(("Repeatability", lines))
    return out


def _prediction_rows(r: CapacityReport) -> list[tuple[str, str, str, str]]:
    return [(fmt(p.concurrency), span(p.throughput), span(p.latency_ms, 3),
             "" if p.extrapolation <= 1 else f"forecast: {p.extrapolation:.2f}× the largest measured N")
            for p in r.predictions]


def render_text(r: CapacityReport) -> str:
    """Plain lines for a terminal."""
    head = f"{r.title}: USL fit" if r.fit.ok else f"{r.title}: no USL fit: {r.fit.reason}"
    out = [head]
    out += [f"  {k + ':':<36} {v}" for k, v in table_rows(r)]
    for title, lines in sections(r):
        if title == "What the data tells" and not r.fit.ok:
            continue
        out.append(f"  {title}:")
        out += [f"    - {line}" for line in lines]
    if r.predictions:
        out.append("  predictions (95 % intervals):")
        out += [f"    N = {n:<8} X = {x:<28} R = {lat} ms" + (f"  ({note})" if note else "")
                for n, x, lat, note in _prediction_rows(r)]
    return "\n".join(out)


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def report_markdown(r: CapacityReport, chart_file: str | None = None) -> str:
    """A Markdown report; ``chart_file`` is a relative path to the PNG written beside it."""
    out = [f"# {_md(r.title)}", ""]
    if not r.fit.ok:
        out += [f"**No USL fit:** {_md(r.fit.reason)}", ""]
    out += ["| | |", "|---|---|"] + [f"| {_md(k)} | {_md(v)} |" for k, v in table_rows(r)] + [""]
    for title, lines in sections(r):
        out += [f"## {title}", ""] + [f"- {_md(line)}" for line in lines] + [""]
    if chart_file:
        out += [f"![throughput and latency with the USL fit]({chart_file})", ""]
    if r.predictions:
        out += ["## Predictions (95 % intervals)", "", "| N | X(N) | R(N) ms | |", "|---:|---:|---:|---|"]
        out += [f"| {n} | {x} | {lat} | {note} |" for n, x, lat, note in _prediction_rows(r)] + [""]
    out += ["## Data", "", "| label | N | X | latency ms | in the fit |", "|---|---:|---:|---:|---|"]
    out += [f"| {_md(p.label)} | {p.concurrency:g} | {p.throughput:.4g} | {fmt(p.latency_ms)} | "
            f"{'no: generator-limited' if i in r.excluded else 'yes'} |" for i, p in enumerate(r.points)]
    out += ["", "## Assumptions", ""] + [f"- {a}" for a in _ASSUMPTIONS]
    return "\n".join(out) + "\n"


def report_html(r: CapacityReport, png: bytes | None = None) -> str:
    """A self-contained HTML page (inline CSS, chart as a data URI, every string escaped)."""
    e = html.escape
    body = [f"<h1>{e(r.title)}</h1>"]
    if not r.fit.ok:
        body.append(f"<p class=\"nofit\"><strong>No USL fit:</strong> {e(r.fit.reason)}</p>")
    body.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in table_rows(r)) + "</table>")
    for title, lines in sections(r):
        body.append(f"<h2>{e(title)}</h2><ul>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>")
    if png:
        body.append("<img alt=\"throughput and latency with the USL fit\" "
                    f"src=\"data:image/png;base64,{base64.b64encode(png).decode()}\">")
    if r.predictions:
        body.append("<h2>Predictions (95 % intervals)</h2><table><tr><th>N</th><th>X(N)</th><th>R(N) ms</th><th></th>"
                    "</tr>" + "".join(f"<tr><td>{e(n)}</td><td>{e(x)}</td><td>{e(lat)}</td><td>{e(note)}</td></tr>"
                                      for n, x, lat, note in _prediction_rows(r)) + "</table>")
    body.append("<h2>Data</h2><table><tr><th>label</th><th>N</th><th>X</th><th>latency ms</th><th>in the fit</th></tr>"
                + "".join(f"<tr><td>{e(p.label)}</td><td>{p.concurrency:g}</td><td>{p.throughput:.4g}</td>"
                          f"<td>{e(fmt(p.latency_ms))}</td>"
                          f"<td>{'no: generator-limited' if i in r.excluded else 'yes'}</td></tr>"
                          for i, p in enumerate(r.points)) + "</table>")
    body.append("<h2>Assumptions</h2><ul>" + "".join(f"<li>{e(a)}</li>" for a in _ASSUMPTIONS) + "</ul>")
    style = ("body{font-family:sans-serif;max-width:64em;margin:2em auto}table{border-collapse:collapse}"
             "th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}img{max-width:100%}.nofit{color:#a00}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(r.title)}</title>"
            f"<style>{style}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


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
