"""What every collector is: a source sampled on an interval, producing long-format rows.

A collector never raises out of ``sample``: a source that fails (database down, bad query,
process gone) records *why* in ``missing`` and the load goes on; checks on its metrics then
end NODATA with that reason. Credentials never appear in a reason (see :mod:`loadkit.redact`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Row", "Collector", "MetricSpec", "series_key"]

#: (timestamp in Unix seconds, metric name, labels as ``k="v",…`` or "", value)
Row = tuple[float, str, str, float]


@dataclass(frozen=True)
class MetricSpec:
    """One entry of a scenario's ``metrics:`` section, validated."""

    name: str  # prefix of every metric it yields: "<name>.cpu"
    source: str  # "process" | "host" | "postgres" | "mysql" | "scrape" | "prometheus"
    options: dict[str, Any] = field(default_factory=dict)  # source-specific, secrets included (never logged)
    interval: float = 1.0


class Collector(Protocol):
    """What the sampler drives. Besides these, it reads when present: ``superseded`` ((metric, labels) →
    time of a row that stop()'s merged rate replaces), ``config_problem`` (a failure only the scenario
    can fix: the run refuses), ``sampled`` (False: delivers at stop only, no gap rule) and sets
    ``window_start`` (the checked window's start) before stop()."""

    spec: MetricSpec
    missing: str | None  # why this source has no (more) data; None while healthy
    notes: list[str]  # plain remarks that are not failures (e.g. "pg_stat_statements is not installed")

    def start(self, now: float) -> list[Row]:
        """Connect and read the starting counters (counters become rates from here)."""
        ...

    def sample(self, now: float) -> list[Row]:
        """Rows for this instant; [] and ``missing`` set when the source failed."""
        ...

    def stop(self, now: float) -> list[Row]:
        """Final rows (e.g. top statements over the run) and release connections."""
        ...


def series_key(metric: str, labels: str) -> str:
    """The name a series goes by in summaries and checks: ``app.requests_total{endpoint="/x"}``."""
    return f"{metric}{{{labels}}}" if labels else metric
