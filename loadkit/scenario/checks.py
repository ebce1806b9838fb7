"""The check and compare languages: ``p95(latency, ticket-create) < 300ms``, ``p95(latency) <= +10%``.

A check is parsed once, at scenario load, into a frozen :class:`Check` (an absolute limit) or
:class:`CompareCheck` (a tolerance against the baseline); evaluating them lives in
:mod:`loadkit.verdict`. :data:`LATENCY_STATS` and :data:`METRIC_STATS` are the one table of
statistic names every part of loadkit reads (summary fields, checks, comparisons, abort rules).

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

from ..units import format_value, parse_latency_ms, parse_percent

__all__ = ["Check", "CompareCheck", "parse_check", "parse_compare", "metric_key", "se_key", "SE_PREFIX", "OPERATORS", "LATENCY_STATS",
           "METRIC_STATS", "SUMMARY_FIELDS"]

#: Latency statistics, and the quantile of each percentile (None: not a quantile). ``median`` and ``avg``
#: are accepted spellings of ``p50`` and ``mean``.
LATENCY_STATS: dict[str, float | None] = {"min": None, "mean": None, "p50": 0.50, "p90": 0.90, "p95": 0.95,
                                          "p99": 0.99, "p99.9": 0.999, "max": None}
ALIASES = {"median": "p50", "avg": "mean"}
#: Statistics of a collected metric over the checked window.
METRIC_STATS = ("mean", "min", "max", "p95", "per_request")
#: The field name in :class:`~loadkit.analysis.LatencyStats` of each latency statistic.
SUMMARY_FIELDS = {k: k.replace(".", "_") for k in LATENCY_STATS}

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
        """The stat as a quantile in [0, 1] (``p95`` → 0.95), else None."""
        return LATENCY_STATS.get(self.stat or "") if self.kind == "latency" else (0.95 if self.stat == "p95" else None)

    def holds(self, observed: float) -> bool:
        return OPERATORS[self.op](observed, self.threshold)

    def format_value(self, value: float | None) -> str:
        return format_value("count" if self.kind in ("requests", "failures") else self.kind, value)


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
        names = sorted(e for e in endpoints if not _KEYED.match(e) and not e.startswith("group="))
        raise ValueError(f"check {text!r} names unknown endpoint {check.endpoint!r} (known: {', '.join(names) or 'none'})")
    return check




def _metric_check(text: str, m: re.Match[str], severity: str, metrics: Mapping[str, str],
                  prefixes: Collection[str]) -> Check:
    stat, metric = m.group("stat"), m.group("metric")
    base = metric.split("{", 1)[0]
    if base not in metrics and not any(base == p or base.startswith(p + ".") for p in prefixes):
        known = ", ".join(sorted(metrics)) or "none: add a metrics: section"
        raise ValueError(f"check {text!r}: unknown metric {metric!r} (expected latency or a collected metric: {known})")
    stat = ALIASES.get(stat, stat) if stat == "avg" else stat
    if stat not in METRIC_STATS:
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
    return Check(text.strip(), "metric", m.group("op"), threshold, stat, None, severity, metric)


def _latency_check(text: str, m: re.Match[str], severity: str) -> Check:
    stat, metric = m.group("stat"), m.group("metric")
    if metric != "latency":
        raise ValueError(f"check {text!r}: unknown metric {metric!r} (expected 'latency')")
    stat = ALIASES.get(stat, stat)
    if stat not in LATENCY_STATS:
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


_KEYED = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) ")


# -- comparisons with the baseline -------------------------------------------------------------
_RE = re.compile(
    r"^\s*(?:(?P<stat>[a-z][a-z0-9.]*|per_request)\s*\(\s*(?P<metric>[A-Za-z_][\w.]*(?:\{[^}]*\})?)\s*"
    r"(?:,\s*(?P<ep>[^()]+?)\s*)?\)|(?P<counter>error_rate|rps)\s*(?:\(\s*(?P<cep>[^()]+?)\s*\))?)"
    r"\s*(?P<op><=|>=|<|>)\s*(?P<sign>[+-])\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>%|pp)\s*$"
)


@dataclass(frozen=True)
class CompareCheck:
    """``p95(latency, ep) <= +10%``: how far the value may move from the baseline, and which way is worse."""

    text: str
    stat: str | None  # p95, mean, per_request... ; None for error_rate / rps
    metric: str  # "latency", "error_rate", "rps", or a collected metric such as "db.tps"
    endpoint: str | None  # None: all requests; "*": every endpoint, one result each
    worse: str  # "up" or "down"
    tolerance: float  # a fraction (0.10) for %, percentage points for pp
    unit: str  # "%" or "pp"


def parse_compare(text: str) -> CompareCheck:
    """Parse a compare expression; ``ValueError`` saying what was expected."""
    m = _RE.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"cannot parse compare {text!r}: expected e.g. \"p95(latency) <= +10%\", "
                         "\"error_rate <= +0.5pp\", \"rps >= -5%\" or \"per_request(db.tps) <= +10%\"")
    sign = 1.0 if m.group("sign") == "+" else -1.0
    op, unit = m.group("op"), m.group("unit")
    worse = "up" if op in ("<", "<=") else "down"
    if (worse == "up") != (sign > 0) and float(m.group("num")) != 0:
        raise ValueError(f"compare {text!r}: {op} needs a {'+' if worse == 'up' else '-'} tolerance "
                         f"(an allowed {'rise' if worse == 'up' else 'fall'})")
    tol = float(m.group("num")) / (100.0 if unit == "%" else 1.0)
    if m.group("counter"):
        metric = m.group("counter")
        if metric == "rps" and unit == "pp":
            raise ValueError(f"compare {text!r}: rps takes a relative tolerance in %, not pp")
        return CompareCheck(text.strip(), None, metric, _ep(m.group("cep")), worse, tol, unit)
    stat, metric = m.group("stat"), m.group("metric")
    stat = ALIASES.get(stat, stat)
    if stat not in LATENCY_STATS and stat not in METRIC_STATS:
        raise ValueError(f"compare {text!r}: unknown statistic {stat!r} (expected p50, p90, p95, p99, p99.9, "
                         "min, mean, max or per_request)")
    if metric == "latency" and stat == "per_request":
        raise ValueError(f"compare {text!r}: per_request applies to collected metrics, not latency")
    if unit == "pp":
        raise ValueError(f"compare {text!r}: pp (percentage points) is for error_rate; use % here")
    return CompareCheck(text.strip(), stat, metric, _ep(m.group("ep")), worse, tol, unit)


def _ep(value: str | None) -> str | None:
    return value.strip() if value else None


#: Aggregates named ``se:<key>`` carry the within-run standard error of ``<key>`` (log scale for
#: latencies and rates, a fraction for error rates).
SE_PREFIX = "se:"


def se_key(key: str) -> str:
    """The aggregate holding the within-run standard error of ``key``."""
    return SE_PREFIX + key


def metric_key(stat: str | None, metric: str, endpoint: str | None) -> str:
    """The canonical name of one aggregate: ``p95(latency)``, ``p95(latency, ep)``, ``error_rate(ep)``."""
    if stat is None:
        return metric if endpoint is None else f"{metric}({endpoint})"
    return f"{stat}({metric})" if endpoint is None else f"{stat}({metric}, {endpoint})"
