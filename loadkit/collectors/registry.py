"""What each ``source:`` accepts and yields, so a scenario can be checked before anything runs.

:data:`SOURCES` maps a source name to a :class:`SourceInfo`: its option keys (which are
required, their types and meaning) and the metric fields it yields, so the scenario
validator can report unknown keys, missing ones and checks on metrics that cannot exist.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ConfigError
from ..hosts import AllowList
from ..units import parse_duration
from .base import Collector, MetricSpec

__all__ = ["OptionInfo", "FieldInfo", "SourceInfo", "SOURCES", "check_spec", "make_collector"]


@dataclass(frozen=True)
class OptionInfo:
    key: str
    type: str  # "int" | "float" | "duration" (seconds or "5s") | "str" | "list[str]" | "list[float]" | "bool"
    meaning: str
    required: bool = False


@dataclass(frozen=True)
class FieldInfo:
    name: str  # the metric is "<spec name>.<field>", or "<spec name>" when the name is ""
    unit: str
    meaning: str


@dataclass(frozen=True)
class SourceInfo:
    name: str
    summary: str
    options: tuple[OptionInfo, ...]
    fields: tuple[FieldInfo, ...]
    one_of: tuple[str, ...] = ()  # exactly one of these keys must be given (process: pid | pid_file | port)
    open_fields: bool = False  # metric names come from the endpoint (scrape) or the query's labels (prometheus)

    @property
    def option_keys(self) -> frozenset[str]:
        return frozenset(o.key for o in self.options)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.options if o.required)

    def metrics(self, name: str) -> tuple[str, ...]:
        """The metric names a spec called ``name`` yields (for open sources: the known ones only)."""
        return tuple(f"{name}.{f.name}" if f.name else name for f in self.fields)


_AUTH = (
    OptionInfo("token_env", "str", "name of an environment variable holding a bearer token"),
    OptionInfo("username_env", "str", "name of an environment variable holding the basic-auth user"),
    OptionInfo("password_env", "str", "name of an environment variable holding the basic-auth password"),
    OptionInfo("timeout", "duration", "HTTP timeout (default 5s for scrape, 10s for prometheus)"),
)
_PSUTIL_FIELDS = (
    FieldInfo("cpu", "percent of one core", "CPU use over the last interval; up to 100 × cores"),
    FieldInfo("cpu_seconds", "s", "CPU time (user + system) used since the collector started"),
    FieldInfo("rss_bytes", "bytes", "resident memory (process: sum over the tree; host: total − available)"),
    FieldInfo("threads", "count", "threads (process tree, or the whole machine)"),
    FieldInfo("open_files", "count", "open file descriptors, sockets included"),
)

SOURCES: dict[str, SourceInfo] = {
    "process": SourceInfo(
        "process", "a process and its children, by pid, pid file or listening TCP port (psutil)",
        (OptionInfo("pid", "int", "process id"),
         OptionInfo("pid_file", "str", "path of a file holding the process id"),
         OptionInfo("port", "int", "TCP port the server listens on (pre-fork servers: master and every worker)")),
        _PSUTIL_FIELDS, one_of=("pid", "pid_file", "port")),
    "host": SourceInfo("host", "the machine loadkit runs on (psutil)", (), _PSUTIL_FIELDS),
    "postgres": SourceInfo(
        "postgres", "a PostgreSQL database: pg_stat_database, pg_stat_activity, pg_stat_statements (psycopg 3)",
        (OptionInfo("dsn", "str", "libpq connection string or postgresql:// URL of the database to watch", True),
         OptionInfo("settle", "duration", "longest wait at stop for idle backends to publish their last counters "
                                          "(default: up to 11s only when the checked window starts with the load; "
                                          "0 never waits)"),
         OptionInfo("top_statements", "int", "how many top statements (by total time) to keep (default 10)"),
         OptionInfo("connect_timeout", "duration", "connection timeout (default 5s)")),
        (FieldInfo("tps", "1/s", "commits + rollbacks per second in the database, the collector's own excluded"),
         FieldInfo("rows_read", "rows/s", "pg_stat_database.tup_returned per second"),
         FieldInfo("rows_written", "rows/s", "tup_inserted + tup_updated + tup_deleted per second"),
         FieldInfo("cache_hit_ratio", "0..1", "blks_hit / (blks_hit + blks_read) over the interval"),
         FieldInfo("active_connections", "count", "client backends running a statement (the collector excluded)"),
         FieldInfo("waiting_connections", "count", "client backends waiting for a lock"),
         FieldInfo("deadlocks", "1/s", "deadlocks detected per second"),
         FieldInfo("temp_bytes", "bytes/s", "bytes written to temporary files per second"),
         FieldInfo("statement_total_ms", "ms", "at stop, per top statement: execution time over the run"),
         FieldInfo("statement_calls", "count", "at stop, per top statement: calls over the run"),
         FieldInfo("statement_mean_ms", "ms", "at stop, per top statement: mean execution time over the run"))),
    "mysql": SourceInfo(
        "mysql", "a MySQL or MariaDB server: SHOW GLOBAL STATUS (PyMySQL)",
        (OptionInfo("dsn", "str", "mysql://user:password@host:port/database", True),),
        (FieldInfo("queries", "1/s", "statements per second (Queries), the collector's own excluded"),
         FieldInfo("threads_running", "count", "Threads_running, the collector's excluded"),
         FieldInfo("slow_queries", "1/s", "statements slower than long_query_time, per second"))),
    "scrape": SourceInfo(
        "scrape", "any Prometheus text-format endpoint, scraped directly (no Prometheus server)",
        (OptionInfo("url", "str", "the endpoint, e.g. http://127.0.0.1:8000/metrics", True),
         OptionInfo("include", "list[str]", "regular expressions; keep only metric families matching one"),
         OptionInfo("quantiles", "list[float]", "histogram quantiles to compute (default 0.5, 0.95, 0.99)"),
         *_AUTH),
        (), open_fields=True),
    "prometheus": SourceInfo(
        "prometheus", "a PromQL query over the run's window (Prometheus HTTP API query_range)",
        (OptionInfo("url", "str", "Prometheus base URL, e.g. http://prometheus:9090", True),
         OptionInfo("query", "str", "the PromQL expression", True),
         OptionInfo("step", "duration", "resolution of the range query (default 5s)"),
         *_AUTH),
        (FieldInfo("", "as queried", "one series per label set of the result"),), open_fields=True),
}

_COERCE: dict[str, Callable[[Any], Any]] = {
    "int": lambda v: int(v) if not isinstance(v, bool) and float(v) == int(float(v)) else _bad(),
    "float": lambda v: float(v) if not isinstance(v, bool) else _bad(),
    "duration": parse_duration,
    "str": lambda v: v if isinstance(v, str) and v else _bad(),
    "bool": lambda v: v if isinstance(v, bool) else _bad(),
    "list[str]": lambda v: tuple(str(x) for x in ([v] if isinstance(v, str) else v)),
    "list[float]": lambda v: tuple(float(x) for x in ([v] if isinstance(v, (int, float)) else v)),
}


def _bad() -> Any:
    raise ValueError


def check_spec(spec: MetricSpec) -> tuple[MetricSpec, list[str]]:
    """The spec with typed options (durations in seconds), and one line per problem."""
    info = SOURCES.get(spec.source)
    if info is None:
        hint = difflib.get_close_matches(spec.source, SOURCES, n=1)
        return spec, [f"metrics {spec.name}: unknown source {spec.source!r}"
                      + (f" (did you mean {hint[0]!r}?)" if hint else f"; use one of {', '.join(SOURCES)}")]
    problems: list[str] = []
    options: dict[str, Any] = {}
    by_key = {o.key: o for o in info.options}
    for key, value in spec.options.items():
        opt = by_key.get(key)
        if opt is None:
            hint = difflib.get_close_matches(key, by_key, n=1)
            problems.append(f"metrics {spec.name}: unknown option {key!r} for source {spec.source}"
                            + (f" (did you mean {hint[0]!r}?)" if hint else ""))
            continue
        try:
            options[key] = _COERCE[opt.type](value)
        except (TypeError, ValueError):
            problems.append(f"metrics {spec.name}: {key} must be {opt.type} ({opt.meaning})")
    problems += [f"metrics {spec.name}: {k} is required ({by_key[k].meaning})" for k in info.required
                 if k not in spec.options]
    if info.one_of and sum(k in spec.options for k in info.one_of) != 1:
        problems.append(f"metrics {spec.name}: give exactly one of {', '.join(info.one_of)}")
    if not spec.name or "." in spec.name or "{" in spec.name:
        problems.append(f"metrics: name {spec.name!r} must be non-empty without '.' or '{{'")
    if spec.interval <= 0:
        problems.append(f"metrics {spec.name}: interval must be positive")
    problems += _value_problems(spec.name, spec.source, options)
    return replace(spec, options=options), problems


def _value_problems(name: str, source: str, options: Mapping[str, Any]) -> list[str]:
    """Values no run could use, known before anything connects: a DSN the driver cannot parse (shown
    without its password, typo or not), a URL that is not http(s) (``file:///proc/self/environ``
    would copy the process environment into the results)."""
    from ..hosts import url_host_problem
    from ..redact import redact
    from ._dsn import dsn_secrets, mask_dsn

    out: list[str] = []
    dsn = options.get("dsn")
    if isinstance(dsn, str) and source in ("postgres", "mysql"):
        why, kind = None, "mysql://user:password@host:port/database"
        if source == "postgres":
            kind = "a libpq connection string or postgresql:// URL"
            try:
                from psycopg.conninfo import conninfo_to_dict

                conninfo_to_dict(dsn)
            except Exception as exc:  # noqa: BLE001 - ProgrammingError, or anything a bad DSN raises
                why = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        else:
            from .mysql import parse_mysql_dsn

            try:
                parse_mysql_dsn(dsn)
            except ValueError:
                why = "cannot read it"
        if why:
            out.append(f"metrics {name}: dsn {mask_dsn(dsn)!r} is not {kind} ({redact(why, dsn_secrets(dsn))})")
    url = options.get("url")
    if isinstance(url, str) and source in ("scrape", "prometheus"):
        why = url_host_problem(url)
        if why:
            out.append(f"metrics {name}: url {redact(why)}")
    return out


def make_collector(spec: MetricSpec, env: Mapping[str, str], clock: Callable[[], float] = time.time,
                   allowed_hosts: Sequence[str] | None = None) -> Collector:
    """The collector for ``spec``; :class:`ConfigError` (one line per problem) if the spec is invalid.

    ``allowed_hosts`` (the scenario's ``target.allowed_hosts``) bounds where ``scrape`` and
    ``prometheus`` may connect, redirects included; None allows any http(s) host. Nothing
    connects here: that is :meth:`Collector.start`'s job, whose failures go to ``missing``.
    """
    from .host import HostCollector
    from .mysql import MysqlCollector
    from .postgres import PostgresCollector
    from .process import ProcessCollector
    from .prometheus import PrometheusCollector
    from .scrape import ScrapeCollector

    typed, problems = check_spec(spec)
    if problems:
        raise ConfigError("; ".join(problems))
    kinds: dict[str, Any] = {"process": ProcessCollector, "host": HostCollector, "postgres": PostgresCollector,
                             "mysql": MysqlCollector, "scrape": ScrapeCollector, "prometheus": PrometheusCollector}
    collector = kinds[spec.source](typed, env, clock)
    if allowed_hosts is not None:
        collector.allowed = AllowList(tuple(allowed_hosts))
    return collector
