"""A PromQL query over the run's window, through the Prometheus HTTP API (``/api/v1/query_range``).

Prometheus already keeps the history, so this source acts at :meth:`stop`: one range query
from the time of :meth:`start` to the time of :meth:`stop`, every ``step`` seconds, one
series per label set (``__name__`` dropped: the series is named by the source's ``name``).
:meth:`start` checks the query with an instant query, so bad PromQL is known before the load: it
is a ``config_problem``, and the run refuses to start (exit 2).
API: https://prometheus.io/docs/prometheus/latest/querying/api/#range-queries
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from ..redact import redact
from ._common import SourceBase, SourceError, format_labels, one_line
from ._http import HttpTarget, get, http_target
from .base import MetricSpec, Row

__all__ = ["PrometheusCollector"]


class PrometheusCollector(SourceBase):
    """``<name>{labels}`` for every series the query returns over the run's window."""

    sampled = False  # one range query at stop; a series that ends early may be the answer (no errors any more)

    def __init__(self, spec: MetricSpec, env: Mapping[str, str], clock: Callable[[], float]):
        super().__init__(spec, env, clock)
        self.step = float(spec.options.get("step", 5.0))
        self.window_start: float | None = None
        self._target: HttpTarget | None = None
        self._bad_query = False

    def start(self, now: float) -> list[Row]:
        self.window_start = now
        self._started = True  # stop() queries whatever happens here: Prometheus may be back by then
        self._guard(self._check, now)
        return []

    def sample(self, now: float) -> list[Row]:
        return []  # the history is in Prometheus; nothing to do while the load runs

    def stop(self, now: float) -> list[Row]:
        if self._bad_query or self._dead:
            return []
        return self._guard(self._range, now)

    def _api(self, path: str, params: dict[str, Any]) -> Any:
        if self._target is None:
            self._target = http_target(self.spec.options, self.env, allowed=self.allowed)
            self._secrets = self._target.secrets
        url = self._target.url.rstrip("/") + path + "?" + urlencode(params)
        body, _ = get(self._target, url, accept="application/json")
        try:
            doc = json.loads(body)
        except ValueError as exc:
            shown = redact(self._target.url, self._secrets)
            raise SourceError(f"{shown}: not a Prometheus API answer ({one_line(exc)})") from None
        if doc.get("status") != "success":
            raise SourceError(f"Prometheus: {doc.get('errorType', 'error')}: {doc.get('error', '')}")
        return doc.get("data", {})

    def _check(self, now: float) -> list[Row]:
        try:
            self._api("/api/v1/query", {"query": self.spec.options["query"], "time": f"{now:.3f}"})
        except SourceError as exc:
            self._bad_query = "bad_data" in str(exc)  # a PromQL error will not mend itself
            if self._bad_query:
                self.config_problem = (f"metrics {self.spec.name}: the query {self.spec.options['query']!r} is not "
                                       f"valid PromQL ({redact(one_line(exc), self._secrets)})")
            raise
        return []

    def _range(self, now: float) -> list[Row]:
        start = self.window_start if self.window_start is not None else now
        data = self._api("/api/v1/query_range", {"query": self.spec.options["query"], "start": f"{start:.3f}",
                                                  "end": f"{max(now, start):.3f}", "step": f"{self.step:g}"})
        rows: list[Row] = []
        for series in data.get("result", []):
            labels = {k: v for k, v in series.get("metric", {}).items() if k != "__name__"}
            key = format_labels(labels)
            for ts, value in series.get("values", []):
                v = float(value)
                if math.isfinite(v):
                    rows.append(self._row(float(ts), "", v, key))
        if not rows:
            raise SourceError(f"no data: the query returned no samples between {start:.0f} and {now:.0f} "
                              f"(Unix s; step {self.step:g}s)")
        return rows
