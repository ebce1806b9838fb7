"""The report as one self-contained HTML page: inline CSS, charts as data URIs, no script.

Every string that came from a run folder (scenario and endpoint names, error texts, check
texts and reasons, configuration keys and values) goes through :func:`html.escape` (quotes
too) in :func:`_e`; numbers are formatted here, never taken as text from the files.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..scenario.checks import metric_key, parse_check
from ..status import Outcome
from ..units import format_value as _format
from ..units import kind_of_key
from .data import ReportData

__all__ = ["render_html", "STATUS_ORDER"]

STATUS_ORDER = (Outcome.FAIL, Outcome.ERROR, Outcome.NODATA, Outcome.WARN, Outcome.PASS)
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:72em;margin:1.5em auto;padding:0 1em;
color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.b{display:inline-block;padding:.05em .5em;border-radius:.3em;font-weight:bold;font-size:.85em;color:#fff}
.PASS{background:#2e7d32}.WARN{background:#ef6c00}.FAIL,.ERROR{background:#c62828}.NODATA{background:#6d4c41}
.big{font-size:1.3em}.muted{color:#666}.missing{background:#fff8e1;border-left:4px solid #ffb300;padding:.4em 1em}
img{max-width:100%;height:auto;border:1px solid #eee}code{word-break:break-all}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _badge(status: Any, big: bool = False) -> str:
    s = str(status or "?")
    cls = s if s in STATUS_ORDER else Outcome.NODATA
    return f'<span class="b {cls}{" big" if big else ""}">{_e(s)}</span>'


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """``rows`` hold already-escaped HTML cells."""
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{c}</td>' for i, c in enumerate(row))
                   + "</tr>")
    return "".join(out) + "</table>"


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _fmt(what: str, v: Any) -> str:
    """A value in the unit its check or key implies: ms, %, /s or a plain number."""
    x = _num(v)
    return "—" if x is None else _format(kind_of_key(what), x)


def _delta(check: Mapping[str, Any]) -> str:
    d = check.get("delta")
    if isinstance(d, float) and math.isinf(d):
        return "+inf%"
    x = _num(d)
    if x is None:
        return "—"
    return f"{x:+.2f}pp" if str(check.get("check", "")).rstrip().endswith("pp") else f"{x * 100:+.1f}%"


def _checks(d: ReportData) -> str:
    checks = (d.verdict or {}).get("checks") or []
    if not checks:
        return "<p class=muted>No checks were judged.</p>"
    rows = []
    for c in checks:
        kind = c.get("kind") or "absolute"
        what = str(c.get("key") or c.get("check") or "")
        if kind == "relative":
            base = _fmt(what, c.get("baseline"))
            runs = c.get("baseline_runs")
            base += f' <span class=muted>({_e(runs)} runs)</span>' if isinstance(runs, int) else ""
        else:
            base = "—"
        name = _e(c.get("check"))
        if c.get("key") and c.get("key") != c.get("check"):
            name += f"<br><span class=muted>{_e(c.get('key'))}</span>"
        limit = _fmt(what, c.get("limit")) if kind == "absolute" else "—"
        rows.append([_badge(c.get("status")), name, _e(kind), limit, base, _fmt(what, c.get("observed")),
                     _e(_delta(c)), _e(c.get("reason"))])
    return _table(["status", "check", "kind", "limit", "baseline", "observed", "delta", "reason"], rows, (3, 4, 5, 6))


def _endpoint_of(check: Mapping[str, Any]) -> str | None:
    if check.get("kind") == "relative":
        key = str(check.get("key") or "")
        inner = key[key.find("(") + 1: -1] if key.endswith(")") else ""
        if ", " in inner:
            return inner.split(", ", 1)[1]
        return inner if key.startswith(("error_rate(", "rps(")) else None
    try:
        return parse_check(str(check.get("check", ""))).endpoint
    except (ValueError, KeyError, TypeError):
        return None


def _worst(statuses: list[str]) -> str:
    return min(statuses, key=lambda s: STATUS_ORDER.index(s) if s in STATUS_ORDER else 2)


def _median(values: list[float]) -> float | None:
    vals = sorted(values)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def _endpoints(d: ReportData) -> str:
    summary = d.summary or {}
    eps: dict = summary.get("endpoints") or {}
    if not eps and not summary.get("requests"):
        return "<p class=muted>No statistics (no summary.json, or no request in the checked window).</p>"
    per_ep: dict[str | None, list[str]] = {}
    for c in (d.verdict or {}).get("checks") or []:
        per_ep.setdefault(_endpoint_of(c), []).append(str(c.get("status")))
    runs = [r.aggregates for r in d.baseline_runs]

    def base(stat: str | None, metric: str, ep: str | None) -> float | None:
        key = metric_key(stat, metric, ep)
        return _median([r[key] for r in runs if key in r])

    rows = []
    for ep, stats in [(None, summary.get("requests") or {})] + sorted(eps.items()):
        lat = stats.get("latency_ms") or {}
        p95, b95 = _num(lat.get("p95")), base("p95", "latency", ep)
        er, ber = _num(stats.get("error_rate")), base(None, "error_rate", ep)
        d95 = f"{(p95 / b95 - 1) * 100:+.1f}%" if p95 is not None and b95 else "—"
        der = f"{(er - ber) * 100:+.2f}pp" if er is not None and ber is not None else "—"
        st = per_ep.get(ep)
        rows.append(["<b>all requests</b>" if ep is None else _e(ep), _e(stats.get("total", "—")),
                     _fmt("rps", stats.get("rps")), _fmt("error_rate", er), _fmt("latency", lat.get("p50")),
                     _fmt("latency", p95), _fmt("latency", lat.get("p99")), _fmt("latency", b95), _e(d95),
                     _fmt("error_rate", ber), _e(der), _badge(_worst(st)) if st else "—"])
    head = ["endpoint", "requests", "rps", "errors", "p50", "p95", "p99", "baseline p95", "Δ p95", "baseline errors",
            "Δ errors", "checks"]
    note = (f"<p class=muted>Checked window; baseline values are the median of {len(runs)} baseline run(s) of "
            f"{_e(d.baseline_label)}.</p>" if runs else "<p class=muted>Checked window; no baseline runs.</p>")
    return note + _table(head, rows, tuple(range(1, 11)))


def _drift(d: ReportData) -> str:
    drift = (d.verdict or {}).get("drift")
    if d.environment is None:
        return "<p class=muted>No environment.json: the configuration was not recorded, drift not checked.</p>"
    if not d.baseline_runs and not drift:
        return "<p class=muted>No baseline run to compare the configuration with.</p>"
    if not drift:
        return "<p>No configuration change since the latest baseline run.</p>"

    def cell(v: Any) -> str:
        return "<i class=muted>(absent)</i>" if v is None else f"<code>{_e(v)}</code>"

    return _table(["key", "baseline", "this run"], ([f"<code>{_e(c.get('key'))}</code>", cell(c.get("old")),
                                                    cell(c.get("new"))] for c in drift))


def _manifest(d: ReportData) -> str:
    m = d.manifest
    sc = m.get("scenario") or {}
    git = m.get("git") or {}
    versions = ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items())
    fields = [("run id", m.get("run_id")), ("scenario", sc.get("name")), ("scenario file", sc.get("file")),
              ("scenario sha256", sc.get("sha256")), ("overrides (--set)", " ".join(sc.get("overrides") or []) or "none"),
              ("status", m.get("status")), ("reason", m.get("reason") or "—"), ("start", m.get("start")),
              ("end", m.get("end")), ("duration", f"{m['duration_s']} s" if _num(m.get("duration_s")) else "—"),
              ("planned duration", f"{m['planned_duration_s']} s" if _num(m.get("planned_duration_s")) else "—"),
              ("target", m.get("target")), ("environment", m.get("environment")), ("workers", m.get("workers")),
              ("versions", versions), ("git", f"{git.get('commit')}{' (dirty)' if git.get('dirty') else ''}"
                                       if git else "not a git checkout"),
              ("samples", m.get("samples")), ("warnings", "; ".join(m.get("warnings") or []) or "none")]
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e('—' if v is None else v)}</td></tr>"
                               for k, v in fields) + "</table>"


def _img(png: bytes | None, alt: str, none: str) -> str:
    if not png:
        return f"<p class=muted>{_e(none)}</p>"
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def render_html(d: ReportData, charts: Mapping[str, bytes | None], generated: str, version: str) -> str:
    """The page; ``charts`` maps latency/rate/errors/metrics to PNG bytes (None: nothing to draw)."""
    m, v = d.manifest, d.verdict or {}
    scenario = (m.get("scenario") or {}).get("name", "?")
    t = d.timeline
    body = [f"<h1>loadkit report: {_e(scenario)}</h1>",
            f"<p class=muted>Run <code>{_e(m.get('run_id'))}</code>, {_e(m.get('start'))} → {_e(m.get('end') or '?')}, "
            f"status {_e(m.get('status'))}{': ' + _e(m.get('reason')) if m.get('reason') else ''}</p>",
            f"<p>{_badge(v.get('status') or 'NO VERDICT', big=True)} {_e(v.get('reason') or 'no verdict.json')}</p>"]
    if d.missing:
        body.append("<div class=missing><b>Not in this report:</b><ul>"
                    + "".join(f"<li>{_e(x)}</li>" for x in d.missing) + "</ul></div>")
    body += ["<h2>Checks</h2>", _checks(d)]
    if v.get("notes"):
        body.append("<ul class=muted>" + "".join(f"<li>{_e(n)}</li>" for n in v["notes"]) + "</ul>")
    no_req = "No request was recorded." if t is None else "No request succeeded: no latency to show."
    body += ["<h2>Latency over time</h2>", _img(charts.get("latency"), "latency percentiles over time", no_req),
             "<h2>Request rate over time</h2>", _img(charts.get("rate"), "request rate over time",
                                                     "No request was recorded."),
             "<h2>Errors over time</h2>", _img(charts.get("errors"), "errors over time by type",
                                               "No errors." if t is not None else "No request was recorded.")]
    errors = (d.summary or {}).get("errors") or []
    if errors:
        body.append(_table(["endpoint", "error", "count"], ([_e(x.get("endpoint")), f"<code>{_e(x.get('error'))}</code>",
                                                            _e(x.get("count"))] for x in errors), (2,)))
    body += ["<h2>Target and database metrics</h2>",
             _img(charts.get("metrics"), "collector metrics over time", "No collector metrics recorded."),
             "<h2>Endpoints</h2>", _endpoints(d), "<h2>Configuration drift</h2>", _drift(d),
             "<h2>Run manifest</h2>", _manifest(d),
             f"<p class=muted>Generated {_e(generated)} by loadkit {_e(version)} from <code>{_e(d.run_dir)}</code>."
             + (f" Time bins of {t.bin_s:g} s." if t else "") + "</p>"]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(scenario)}: {_e(v.get('status') or m.get('status'))} — loadkit report</title>"
            f"<style>{_CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
