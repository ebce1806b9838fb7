"""Any endpoint in the Prometheus text format, scraped directly: no Prometheus server needed.

Parsed with ``prometheus_client.parser`` (the reference client's own parser). Counters
become per-second rates between scrapes (a decrease is a reset, as in PromQL's ``rate``);
gauges are kept as they are; histograms become quantiles of the observations *in the
interval* (bucket deltas), as ``histogram_quantile(q, rate(x_bucket[interval]))`` would.
Every label is kept: ``app.http_requests_total{endpoint="/tickets",method="GET"}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

from ..redact import strip_url
from ._common import SourceBase, SourceError, format_labels
from ._http import get, http_target
from .base import MetricSpec, Row
from .buckets import bucket_quantile

__all__ = ["ScrapeCollector", "DEFAULT_QUANTILES"]

DEFAULT_QUANTILES = (0.5, 0.95, 0.99)
_ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


def _qname(q: float) -> str:
    return f"p{q * 100:g}"


class ScrapeCollector(SourceBase):
    """``<name>.<prometheus sample name>`` for every series the endpoint exports (see module doc)."""

    def __init__(self, spec: MetricSpec, env: Mapping[str, str], clock: Callable[[], float]):
        super().__init__(spec, env, clock)
        o = spec.options
        self.quantiles = tuple(float(q) for q in o.get("quantiles", DEFAULT_QUANTILES))
        self._include = [re.compile(p) for p in o.get("include", ())]
        self._buckets: dict[tuple[str, str], tuple[float, dict[float, float]]] = {}  # (ts, cumulative counts)
        self._buckets_before: dict[tuple[str, str], tuple[float, dict[float, float]]] = {}
        self._target = None
        self._scraped_at: float | None = None  # the last successful scrape

    def _start(self, now: float) -> list[Row]:
        self._target = http_target(self.spec.options, self.env, timeout=5.0, allowed=self.allowed)
        self._secrets = self._target.secrets
        return self._scrape(now)

    def _sample(self, now: float) -> list[Row]:
        return self._scrape(now)

    def _scrape(self, now: float) -> list[Row]:
        from prometheus_client.parser import text_string_to_metric_families

        body, content_type = get(self._target, accept=_ACCEPT)
        try:
            families = list(text_string_to_metric_families(body.decode("utf-8", "replace")))
        except (ValueError, TypeError, IndexError):  # the parser's message quotes the line: never shown
            raise SourceError(f"{strip_url(self._target.url)}: not the Prometheus text format "
                              f"({content_type or 'no content type'}, {len(body)} bytes; the content is not shown)"
                              ) from None
        rows: list[Row] = []
        hist: dict[tuple[str, str], dict[float, float]] = {}
        for fam in families:
            if self._include and not any(p.search(fam.name) for p in self._include):
                continue
            for s in fam.samples:
                self._one(now, fam.type, s.name, dict(s.labels), float(s.value), rows, hist)
        for (base, labels), cumulative in hist.items():
            rows += self._quantiles(now, base, labels, cumulative)
        self._scraped_at = now
        return rows

    def _one(self, now: float, kind: str, name: str, labels: dict[str, str], value: float, rows: list[Row],
             hist: dict[tuple[str, str], dict[float, float]]) -> None:
        if name.endswith("_created") and kind in ("counter", "histogram", "summary"):
            return  # creation timestamps, not data
        counter = kind == "counter" or (kind in ("histogram", "summary") and name.endswith(("_count", "_sum")))
        if kind == "histogram" and name.endswith("_bucket"):
            le = labels.pop("le", None)
            if le is not None:
                hist.setdefault((name[: -len("_bucket")], format_labels(labels)), {})[float(le)] = value
            return
        key = format_labels(labels)
        if counter:
            if self._scraped_at is not None:  # a series born since the last scrape started from 0 then
                self.rates.seed((self._metric(name), key), self._scraped_at, 0.0)
            rate = self._rate(now, name, value, key)
            if rate is not None:
                rows.append(self._row(now, name, rate, key))
        else:
            rows.append(self._row(now, name, value, key))

    def _quantiles(self, now: float, base: str, labels: str, cumulative: dict[float, float]) -> list[Row]:
        """Quantiles of the observations since the last scrape; a span too short to mean anything is
        skipped (carried into the next) or, at stop, merged with the one before (as counter rates)."""
        key = (base, labels)
        last = self._buckets.get(key)
        if last is None and self._scraped_at is not None:
            last = (self._scraped_at, {})  # a histogram born since the last scrape: all its observations are new
        if last is None:
            self._buckets[key] = (now, cumulative)
            return []
        prev = last[1]
        if now - last[0] < max(self.rates.min_span, 1e-9):
            before = self._buckets_before.get(key)
            if not self.rates.final or before is None:
                return []
            prev = before[1]
            for q in self.quantiles:
                self.rates.merged[(self._metric(f"{base}_{_qname(q)}"), labels)] = last[0]
        else:
            self._buckets_before[key] = last
        self._buckets[key] = (now, cumulative)
        bounds = sorted(cumulative)
        deltas = [cumulative[b] - prev.get(b, 0.0) for b in bounds]
        if any(d < 0 for d in deltas) or set(prev) - set(cumulative):  # reset or re-bucketed
            deltas = [cumulative[b] for b in bounds]
        pairs = list(zip(bounds, deltas, strict=True))
        rows = []
        for q in self.quantiles:
            v = bucket_quantile(q, pairs)
            if v is not None and not math.isnan(v):
                rows.append(self._row(now, f"{base}_{_qname(q)}", v, labels))
        return rows
