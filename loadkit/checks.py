"""The check expression language: ``p95(latency, ticket-create) < 300ms``, ``error_rate < 1%``.

A check is parsed once, at scenario load, into a frozen :class:`Check`; evaluating it
against a run's summary lives in :mod:`loadkit.verdict`.

Grammar (whitespace is free)::

    check     := STAT "(" "latency" ["," ENDPOINT] ")" OP LATENCY      # 300ms, 1.5s
               | MSTAT "(" METRIC ")" OP NUMBER ["%"]                  # collected metrics, e.g. db.tps
               | "error_rate" ["(" ENDPOINT ")"] OP PERCENT            # 1%, 0.5%
               | "rps" ["(" ENDPOINT ")"] OP NUMBER ["/s"]
               | ("requests" | "failures") ["(" ENDPOINT ")"] OP INTEGER
    STAT      := p50 | p90 | p95 | p99 | p99.9 | min | mean (avg) | median | max
    ENDPOINT  := a request name (anything but parentheses)
    MSTAT     := mean | min | p95 | max | per_request
    METRIC    := NAME.FIELD[{labels}] of the scenario's metrics section; "80%" on a metric in
                 percent (cpu) is 80, on a 0..1 ratio (cache_hit_ratio) it is 0.8
    OP        := "<" | "<=" | ">" | ">="
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace

from .units import parse_latency_ms, parse_percent

__all__ = ["Check", "parse_check", "OPERATORS"]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_NAME = r"[^()]+?"
_STAT_RE = re.compile(
    rf"^\s*(?P<stat>[a-z][a-z0-9._]*)\s*\(\s*(?P<metric>[A-Za-z_][\w.]*(?:\{{[^}}]*\}})?)\s*(?:,\s*(?P<endpoint>{_NAME})\s*)?\)"
    r"\s*(?P<op><=|>=|<|>)\s*(?P<value>.+?)\s*$"
)
_COUNTER_RE = re.compile(
    rf"^\s*(?P<kind>error_rate|rps|requests|failures)\s*(?:\(\s*(?P<endpoint>{_NAME})\s*\))?"
    r"\s*(?P<op><=|>=|<|>)\s*(?P<value>.+?)\s*$"
)
_PCT_STAT = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")
#: the percentiles every summary holds (see loadkit.analysis.PERCENTILES)
_SUMMARY_PCTS = {"p50", "p90", "p95", "p99", "p99.9"}
_PLAIN_STATS = {"min", "mean", "median", "max", "avg"}


@dataclass(frozen=True)
class Check:
    """One parsed check. ``threshold`` is in the kind's base unit: ms, a fraction, requests/s or a count."""

    text: str
    kind: str  # "latency" | "error_rate" | "rps" | "requests" | "failures"
    op: str
    threshold: float
    stat: str | None = None  # "p95", "mean", ... for latency and metric checks
    endpoint: str | None = None  # None: all requests
    severity: str = "fail"  # "fail" or "warn": what a violated check makes of the verdict
    metric: str | None = None  # kind "metric": the series, e.g. "db.tps" or 'app.x{a="b"}'
    nodata: str = "fail"  # "fail" or "warn": what a check with nothing to judge makes of the verdict

    @property
    def quantile(self) -> float | None:
        """The stat as a quantile in [0, 1] (``p95`` → 0.95, ``median`` → 0.5), else None."""
        if self.stat == "median":
            return 0.5
        m = _PCT_STAT.match(self.stat or "")
        return float(m.group(1)) / 100.0 if m else None

    def holds(self, observed: float) -> bool:
        return OPERATORS[self.op](observed, self.threshold)

    def format_value(self, value: float | None) -> str:
        if value is None:
            return "n/a"
        if self.kind == "latency":
            return f"{value:.1f} ms"
        if self.kind == "error_rate":
            return f"{value * 100:.2f}%"
        if self.kind == "rps":
            return f"{value:.1f}/s"
        if self.kind == "metric":
            return f"{value:.4g}"
        return f"{value:.0f}"


def parse_check(text: str, endpoints: Collection[str] | None = None, severity: str = "fail",
                metrics: Mapping[str, str] | None = None, metric_prefixes: Collection[str] = (),
                nodata: str = "fail") -> Check:
    """Parse one check; ``ValueError`` with a message that says what was expected.

    ``endpoints``, when given, are the request names the scenario defines: a check naming
    any other endpoint is refused here rather than ending NODATA after a long run.
    ``metrics`` maps the collected metric names to their units; ``metric_prefixes`` are the
    sources whose names come from the target (scrape, prometheus) and cannot be listed.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("expected a check such as \"p95(latency) < 300ms\" or \"error_rate < 1%\"")
    m = _COUNTER_RE.match(text)
    if m:
        check = _counter_check(text, m, severity)
    else:
        m = _STAT_RE.match(text)
        if not m:
            raise ValueError(
                f"cannot parse check {text!r}: expected e.g. \"p95(latency) < 300ms\", "
                "\"p99(latency, NAME) < 1s\", \"error_rate < 1%\" or \"rps >= 50\""
            )
        if m.group("metric") != "latency":
            check = _metric_check(text, m, severity, metrics or {}, metric_prefixes)
        else:
            check = _latency_check(text, m, severity)
    check = replace(check, nodata=nodata)
    if endpoints is not None and check.endpoint is not None and check.endpoint not in endpoints:
        known = ", ".join(sorted(endpoints)) or "none"
        raise ValueError(f"check {text!r} names unknown endpoint {check.endpoint!r} (known: {known})")
    return check


_METRIC_STATS = {"mean", "avg", "min", "max", "p95", "per_request"}


def _metric_check(text: str, m: re.Match[str], severity: str, metrics: Mapping[str, str],
                  prefixes: Collection[str]) -> Check:
    stat, metric = m.group("stat"), m.group("metric")
    base = metric.split("{", 1)[0]
    if base not in metrics and not any(base == p or base.startswith(p + ".") for p in prefixes):
        known = ", ".join(sorted(metrics)) or "none: add a metrics: section"
        raise ValueError(f"check {text!r}: unknown metric {metric!r} (expected latency or a collected metric: {known})")
    if stat not in _METRIC_STATS:
        raise ValueError(f"check {text!r}: unknown statistic {stat!r} for a metric (expected mean, min, max, p95 "
                         "or per_request)")
    if m.group("endpoint"):
        raise ValueError(f"check {text!r}: collected metrics are not per endpoint")
    raw = m.group("value").strip()
    try:
        if raw.endswith("%"):
            number = float(raw[:-1].strip())
            threshold = number / 100.0 if metrics.get(base) == "0..1" else number
        else:
            threshold = float(raw)
    except ValueError:
        raise ValueError(f"check {text!r}: expected a number (or a percentage), got {raw!r}") from None
    return Check(text.strip(), "metric", m.group("op"), threshold, "mean" if stat == "avg" else stat, None, severity,
                 metric)


def _latency_check(text: str, m: re.Match[str], severity: str) -> Check:
    stat, metric = m.group("stat"), m.group("metric")
    if metric != "latency":
        raise ValueError(f"check {text!r}: unknown metric {metric!r} (expected 'latency')")
    if stat == "avg":
        stat = "mean"
    if stat not in _PLAIN_STATS and stat not in _SUMMARY_PCTS:
        raise ValueError(f"check {text!r}: unknown statistic {stat!r} (expected p50, p90, p95, p99, p99.9, min, mean, median or max)")
    try:
        threshold = parse_latency_ms(m.group("value"))
    except ValueError as exc:
        raise ValueError(f"check {text!r}: {exc}") from None
    return Check(text.strip(), "latency", m.group("op"), threshold, stat, _endpoint(m), severity)


def _counter_check(text: str, m: re.Match[str], severity: str) -> Check:
    kind, value = m.group("kind"), m.group("value")
    try:
        if kind == "error_rate":
            threshold = parse_percent(value)
        elif kind == "rps":
            threshold = float(value.removesuffix("/s").strip())
        else:
            threshold = float(int(value))
    except ValueError:
        expected = {"error_rate": "a percentage such as 1%", "rps": "a rate such as 50 or 50/s"}.get(kind, "a whole number")
        raise ValueError(f"check {text!r}: expected {expected}, got {value!r}") from None
    return Check(text.strip(), kind, m.group("op"), threshold, None, _endpoint(m), severity)


def _endpoint(m: re.Match[str]) -> str | None:
    ep = m.group("endpoint")
    return ep.strip() if ep else None
