"""The report as one self-contained HTML page: inline CSS, charts as data URIs, no script.

Every string that came from a run folder (scenario and endpoint names, error texts, check
texts and reasons, configuration keys and values, exception messages and tracebacks) goes
through :func:`_e`: secrets masked, control characters shown as escapes, then
:func:`html.escape` with quotes. Numbers are formatted by :func:`loadkit.units.format_value`,
never taken as text from the files.

The order is the order a reader needs: the verdict and, beside it, what changed in the
configuration; what the run itself says about the measurement (stalls, requests left in
flight, exceptions, the schedule, the generator, refused hosts); the checks, built-in first;
then the charts, the endpoints and the manifest.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..scenario.checks import metric_key
from ..status import Outcome
from ..units import format_value as _format
from ..units import kind_of_key
from .data import ReportData, check_ref, resolve_endpoint
from .facts import facts, may_promote, shown_reason
from .text import html_text

__all__ = ["render_html", "ordered_checks", "endpoint_statuses", "row_status", "STATUS_ORDER", "KIND_ORDER"]

STATUS_ORDER = (Outcome.FAIL, Outcome.ERROR, Outcome.NODATA, Outcome.WARN, Outcome.PASS)
#: The checks table lists what every run is judged on first, then the scenario's limits, then the comparisons.
KIND_ORDER = ("built-in", "absolute", "relative")
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:72em;margin:1.5em auto;padding:0 1em;
color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.b{display:inline-block;padding:.05em .5em;border-radius:.3em;font-weight:bold;font-size:.85em;color:#fff}
.PASS{background:#2e7d32}.WARN{background:#ef6c00}.FAIL,.ERROR{background:#c62828}.NODATA{background:#6d4c41}
.big{font-size:1.3em}.muted{color:#666}.missing{background:#fff8e1;border-left:4px solid #ffb300;padding:.4em 1em}
.drift{background:#e3f2fd;border-left:4px solid #1e88e5;padding:.4em 1em}
.parity{background:#f3e5f5;border-left:4px solid #8e24aa;padding:.4em 1em;margin-bottom:.5em}
.bad{color:#b71c1c;font-weight:bold}.warn{color:#e65100}.info{color:#444}
li.bad::marker,li.warn::marker{color:#c62828}
img{max-width:100%;height:auto;border:1px solid #eee}code{word-break:break-all}
pre{white-space:pre-wrap;word-break:break-all;background:#f7f7f7;padding:.5em;font-size:.85em}
"""


def _e(value: Any, keep: str = "") -> str:
    return html_text("" if value is None else value, keep)


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


def ordered_checks(verdict: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The verdict's checks, built-in first, then absolute, then relative (each group in verdict order)."""
    checks = [c for c in (verdict or {}).get("checks") or [] if isinstance(c, Mapping)]
    rank = {k: i for i, k in enumerate(KIND_ORDER)}
    return sorted(checks, key=lambda c: rank.get(str(c.get("kind") or "absolute"), len(KIND_ORDER)))


def _checks(d: ReportData) -> str:
    checks = ordered_checks(d.verdict)
    if not checks:
        return "<p class=muted>No checks were judged.</p>"
    status = (d.verdict or {}).get("status")
    rows = []
    for c in checks:
        kind = str(c.get("kind") or "absolute")
        what = str(c.get("key") or c.get("check") or "")
        if kind == "relative":
            base = "<i class=muted>(absent)</i>" if _num(c.get("baseline")) is None else _fmt(what, c.get("baseline"))
            runs = c.get("baseline_runs")
            base += f' <span class=muted>({_e(runs)} runs)</span>' if isinstance(runs, int) else ""
        else:
            base = "—"
        name = _e(c.get("check"))
        if c.get("key") and c.get("key") != c.get("check"):
            name += f"<br><span class=muted>{_e(c.get('key'))}</span>"
        limit = _fmt(what, c.get("limit")) if kind == "absolute" else "—"
        shown_kind = _e(kind) + ("<br><span class=muted>improvement</span>" if c.get("improvement") else "")
        rows.append([_badge(c.get("status")), name, shown_kind, limit, base, _fmt(what, c.get("observed")),
                     _e(_delta(c)), _e(shown_reason(c.get("reason"), status))])
    return _table(["status", "check", "kind", "limit", "baseline", "observed", "delta", "reason"], rows, (3, 4, 5, 6))


def _worst(statuses: list[str]) -> str:
    return min(statuses, key=lambda s: STATUS_ORDER.index(s) if s in STATUS_ORDER else 2)


def _median(values: list[float]) -> float | None:
    vals = sorted(values)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def endpoint_statuses(d: ReportData) -> dict[str | None, list[str]]:
    """Endpoint key (None: all requests) → the statuses of the checks about it, looked up as the verdict does."""
    eps = (d.summary or {}).get("endpoints") or {}
    out: dict[str | None, list[str]] = {}
    for c in (d.verdict or {}).get("checks") or []:
        ref = check_ref(c)
        if ref.kind == "run":
            key: str | None = None
        elif ref.kind == "endpoint" and ref.name:
            key = resolve_endpoint(ref.name, eps)
            if key is None:
                continue
        else:
            continue
        out.setdefault(key, []).append(str(c.get("status")))
    return out


def row_status(check_statuses: Sequence[str], failures: int) -> str | None:
    """The endpoint table's status of a row: the worst of its checks, and never PASS when requests failed
    (a latency check that passes says nothing about the errors beside it). None: nothing to show."""
    statuses = list(check_statuses)
    if failures > 0:
        statuses.append(Outcome.WARN)
    return _worst(statuses) if statuses else None


def _endpoints(d: ReportData) -> str:
    summary = d.summary or {}
    eps: dict = summary.get("endpoints") or {}
    if not eps and not summary.get("requests"):
        return "<p class=muted>No statistics (no summary.json, or no request in the checked window).</p>"
    per_ep = endpoint_statuses(d)
    runs = [r.aggregates for r in d.baseline_runs]
    run_part = summary.get("run") or {}
    whole = {None: run_part.get("requests") or {}, **(run_part.get("endpoints") or {})}

    def base(stat: str | None, metric: str, ep: str | None, st: Mapping[str, Any]) -> float | None:
        keys = [metric_key(stat, metric, ep)]
        if ep is not None and st.get("name"):  # baselines recorded before endpoints were keyed by method
            keys.append(metric_key(stat, metric, str(st["name"])))
        return _median([next(r[k] for k in keys if k in r) for r in runs if any(k in r for k in keys)])

    rows = []
    for ep, stats in [(None, summary.get("requests") or {})] + sorted(eps.items()):
        lat = stats.get("latency_ms") or {}
        p95, b95 = _num(lat.get("p95")), base("p95", "latency", ep, stats)
        er, ber = _num(stats.get("error_rate")), base(None, "error_rate", ep, stats)
        failures = int(stats.get("failures") or 0)
        d95 = f"{(p95 / b95 - 1) * 100:+.1f}%" if p95 is not None and b95 else "—"
        der = f"{(er - ber) * 100:+.2f}pp" if er is not None and ber is not None else "—"
        status = row_status(per_ep.get(ep, []), failures)
        w = whole.get(ep) or {}
        whole_cell = "—" if not w else (f"{_format('count', _num(w.get('total')) or 0)} · "
                                        f"{_fmt('error_rate', w.get('error_rate'))}")
        errors = _fmt("error_rate", er)
        if failures:
            errors = f'<span class=bad>{errors}</span><br><span class=muted>{_format("count", failures)} failed</span>'
        rows.append(["<b>all requests</b>" if ep is None else _e(ep), _e(stats.get("total", "—")),
                     _fmt("rps", stats.get("rps")), errors, _fmt("latency", lat.get("p50")),
                     _fmt("latency", p95), _fmt("latency", lat.get("p99")), _fmt("latency", b95), _e(d95),
                     _fmt("error_rate", ber), _e(der), whole_cell, _badge(status) if status else "—"])
    head = ["endpoint", "requests", "rps", "errors", "p50", "p95", "p99", "baseline p95", "Δ p95", "baseline errors",
            "Δ errors", "whole run: requests · errors", "status"]
    note = (f"Checked window; baseline values are the median of {len(runs)} baseline run(s) of "
            f"{_e(d.baseline_label)}." if runs else "Checked window; no baseline runs.")
    note += (" Status: the worst of the checks on the row; a row with failed requests is never PASS "
             "(WARN at least), whatever its checks look at.")
    return f"<p class=muted>{note}</p>" + _table(head, rows, tuple(range(1, 12)))


def _groups(d: ReportData) -> str:
    """The flows' groups (``group:`` on steps), each as one row over the checked window."""
    groups: dict = (d.summary or {}).get("groups") or {}
    rows = []
    for name, st in sorted(groups.items()):
        lat = st.get("latency_ms") or {}
        rows.append([_e(name), _e(st.get("total", "—")), _fmt("rps", st.get("rps")), _fmt("error_rate", st.get("error_rate")),
                     _fmt("latency", lat.get("p50")), _fmt("latency", lat.get("p95")), _fmt("latency", lat.get("p99"))])
    return _table(["group", "requests", "rps", "errors", "p50", "p95", "p99"], rows, tuple(range(1, 7)))


def _cell(v: Any) -> str:
    return "<i class=muted>(absent)</i>" if v is None else f"<code>{_e(v)}</code>"


def _drift(d: ReportData) -> str:
    """Beside the verdict: each configuration key that changed since the latest baseline run."""
    drift = [c for c in (d.verdict or {}).get("drift") or [] if isinstance(c, Mapping)]
    if d.environment is None:
        return "<p class=muted>Configuration: no environment.json, the configuration was not recorded; drift not checked.</p>"
    if not drift:
        if not d.baseline_runs:
            return "<p class=muted>Configuration: no baseline run to compare it with.</p>"
        return "<p class=muted>Configuration: unchanged since the latest baseline run.</p>"
    table = _table(["key", "baseline", "this run"], ([f"<code>{_e(c.get('key'))}</code>", _cell(c.get("old")),
                                                    _cell(c.get("new"))] for c in drift))
    return (f"<div class=drift><b>Configuration drift: {len(drift)} key(s) changed since the latest baseline run"
            f"</b>{table}</div>")


def _parity(d: ReportData) -> str:
    """Beside the verdict and apart from drift: how this environment differs from the scenario's reference."""
    p = (d.verdict or {}).get("parity")
    if not isinstance(p, Mapping):
        return ""
    entries = [e for e in p.get("entries") or [] if isinstance(e, Mapping)]
    diff = [e for e in entries if e.get("gap") != "scaled as declared"]
    scaled = len(entries) - len(diff)
    head = (f"Parity with <code>{_e(p.get('reference'))}</code> ({_e(str(p.get('reference_hash', ''))[:12])}): "
            + (f"{len(diff)} of {_e(p.get('compared'))} key(s) differ" if diff
               else f"all {_e(p.get('compared'))} key(s) as in the reference")
            + (f", {scaled} scaled as declared" if scaled else ""))
    rows = ([f"<code>{_e(e.get('key'))}</code>", _cell(e.get("reference")), _cell(e.get("here")),
             _e("; ".join(x for x in (str(e.get("note") or ""), "must_match" if e.get("must_match") else "") if x))]
            for e in entries)
    table = _table(["key", "reference", "this run", ""], rows) if entries else ""
    notes = "".join(f"<li>{_e(n)}</li>" for n in p.get("notes") or [])
    return f"<div class=parity><b>{head}</b>{table}" + (f"<ul>{notes}</ul>" if notes else "") + "</div>"


def _integrity(d: ReportData) -> str:
    """What the run says about its own measurement, then the exceptions with their tracebacks folded."""
    items = facts(d.truth)
    out = []
    if items:
        out.append("<ul>" + "".join(f"<li class={f.level}><span class={f.level}>{_e(f.text)}</span></li>"
                                    for f in items) + "</ul>")
    else:
        out.append("<p class=muted>No summary.json: nothing known about stalls, exceptions or the generator.</p>")
    exc = d.truth.exceptions
    if exc:
        rows = []
        for e in exc:
            tb = e.get("traceback")
            detail = (f"<details><summary>traceback</summary><pre>{_e(tb, keep=chr(10))}</pre></details>"
                      if tb else "")
            rows.append([f"<code>{_e(e.get('message'))}</code>{detail}", f"<code>{_e(e.get('where') or '?')}</code>",
                         _format("count", _num(e.get("count")) or 0)])
        out.append("<h3>Uncaught exceptions in user code</h3>" + _table(["exception", "where", "count"], rows, (2,)))
    return "".join(out)


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


def _improvements(d: ReportData) -> str:
    v = d.verdict or {}
    better = [c for c in v.get("checks") or [] if isinstance(c, Mapping) and c.get("improvement")]
    if not better or not may_promote(v.get("status")):
        return ""
    return (f"<p>{len(better)} comparison(s) improved beyond noise and the run passed: consider "
            f"<code>loadkit baseline promote {_e(d.run_dir)}</code>.</p>")


def render_html(d: ReportData, charts: Mapping[str, bytes | None], generated: str, version: str) -> str:
    """The page; ``charts`` maps latency/rate/errors/metrics to PNG bytes (None: nothing to draw)."""
    m, v = d.manifest, d.verdict or {}
    scenario = (m.get("scenario") or {}).get("name", "?")
    t = d.timeline
    body = [f"<h1>loadkit report: {_e(scenario)}</h1>",
            f"<p class=muted>Run <code>{_e(m.get('run_id'))}</code>, {_e(m.get('start'))} → {_e(m.get('end') or '?')}, "
            f"status {_e(m.get('status'))}{': ' + _e(m.get('reason')) if m.get('reason') else ''}</p>",
            f"<p>{_badge(v.get('status') or 'NO VERDICT', big=True)} {_e(v.get('reason') or 'no verdict.json')}</p>",
            _parity(d), _drift(d)]
    if d.missing:
        body.append("<div class=missing><b>Not in this report:</b><ul>"
                    + "".join(f"<li>{_e(x)}</li>" for x in d.missing) + "</ul></div>")
    body += ["<h2>Run integrity</h2>", _integrity(d), "<h2>Checks</h2>", _checks(d), _improvements(d)]
    if v.get("notes"):
        body.append("<ul class=muted>" + "".join(f"<li>{_e(n)}</li>" for n in v["notes"]) + "</ul>")
    no_req = "No request was recorded." if t is None else "No request succeeded: no latency to show."
    body += ["<h2>Latency over time</h2>", _img(charts.get("latency"), "latency percentiles over time", no_req),
             "<h2>Latency distribution against the baseline</h2>",
             _img(charts.get("distribution"), "latency by percentile over the baseline runs' band",
                  "No latency distribution (no successful request in the undisturbed slices, or a summary from "
                  "before slices)."),
             "<h2>Request rate over time</h2>", _img(charts.get("rate"), "requests started and completed over time",
                                                     "No request was recorded."),
             "<h2>Errors over time</h2>", _img(charts.get("errors"), "errors over time by type",
                                               "No errors." if t is not None else "No request was recorded.")]
    errors = (d.summary or {}).get("errors") or []
    if errors:
        body.append(_table(["endpoint", "error", "count"], ([_e(x.get("endpoint")), f"<code>{_e(x.get('error'))}</code>",
                                                            _e(x.get("count"))] for x in errors), (2,)))
    body += ["<h2>Target, database and generator metrics</h2>",
             _img(charts.get("metrics"), "metrics over time", "No collector metrics recorded.")]
    if d.not_charted:
        body.append("<ul class=muted>" + "".join(f"<li>{_e(x)}</li>" for x in d.not_charted) + "</ul>")
    body += ["<h2>Endpoints</h2>", _endpoints(d)]
    if (d.summary or {}).get("groups"):
        body += ["<h2>Groups</h2>", _groups(d)]
    body += ["<h2>Run manifest</h2>", _manifest(d),
             f"<p class=muted>Generated {_e(generated)} by loadkit {_e(version)} from <code>{_e(d.run_dir)}</code>."
             + (f" Time bins of {t.bin_s:g} s from {_e(t.source)}, over the whole run ({_format('metric', d.span)} s)."
                if t else "") + "</p>"]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(scenario)}: {_e(v.get('status') or m.get('status'))} — loadkit report</title>"
            f"<style>{_CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")

