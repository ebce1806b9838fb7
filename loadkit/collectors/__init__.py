"""Collectors: what the target and its dependencies felt during the run, as long-format rows
(timestamp, metric, labels, value) aligned with the request samples' clock.

Sources (see :data:`SOURCES` for options and fields): ``process``, ``host``, ``postgres``,
``mysql``, ``scrape`` (any Prometheus text endpoint) and ``prometheus`` (a PromQL query).
:class:`CollectorSet` runs them in a separate sampler process and writes ``metrics.parquet``.
"""

from ..runfolder import METRICS_SCHEMA, write_metrics
from .base import Collector, MetricSpec, Row, series_key
from .collectorset import CollectorCost, CollectorSet
from .registry import SOURCES, FieldInfo, OptionInfo, SourceInfo, check_spec, make_collector

__all__ = [
    "Collector", "MetricSpec", "Row", "series_key",
    "CollectorSet", "CollectorCost",
    "SOURCES", "SourceInfo", "OptionInfo", "FieldInfo", "check_spec", "make_collector",
    "write_metrics", "METRICS_SCHEMA",
]
