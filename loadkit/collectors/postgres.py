"""PostgreSQL load as the server saw it: pg_stat_database counters as rates, pg_stat_activity
counts, and the top statements of the run from pg_stat_statements when it is installed.

How the counters are read (PostgreSQL docs, "The Cumulative Statistics System", and
``src/backend/utils/activity/pgstat.c``):

* Every sample is ONE autocommit statement, so one transaction; reading statistics in a
  new transaction gets a fresh snapshot (``stats_fetch_consistency``), and
  ``pg_stat_clear_snapshot()`` is called anyway for servers set to ``snapshot``.
* Backends do not publish their counters at once: at most once a second (PGSTAT_MIN_INTERVAL)
  while busy, and what a backend still holds when it goes idle only PGSTAT_IDLE_INTERVAL = 10 s
  later (PostgreSQL 15+). So every read under load lags the truth by up to a second, and by
  the same amount at both ends of a window that starts once the load runs: the lag cancels,
  and rates and per-request totals are right without waiting (measured with the stand-in on
  PostgreSQL 15, 12 s runs: per_request(db.tps) within 3 % of the stand-in's own count,
  without the 11 s wait). A window that starts with the load is different: its start is read
  exact (nothing was pending before the load) and its end lagged, about 0.7 s of load short.
  Only then does :meth:`stop` wait for the idle backends to publish (until every client
  backend of the database has been idle for over 10 s, or is busy with load not ours), at
  most 11 s; ``settle`` forces a bound (``0`` never waits).
* Its own transactions are not load: each sample also calls
  ``pg_stat_force_next_flush()`` (PG 15+) and probes an index of ``pg_class`` for a row
  that does not exist, so its own commit is published as soon as the sample ends, exactly
  one per sample, and subtracted. It queries functions (``pg_stat_get_db_*``,
  ``pg_stat_get_activity``), not the views, so it reads no table rows of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ._common import SourceBase, SourceError, format_labels, one_line
from ._dsn import dsn_secrets, mask_dsn
from .base import MetricSpec, Row

__all__ = ["PostgresCollector"]

APP_NAME = "loadkit-collector"
_MARK = "/* loadkit-collector */"
IDLE_FLUSH_S = 10.0  # PGSTAT_IDLE_INTERVAL
PUBLISH_LAG_S = 1.0  # PGSTAT_MIN_INTERVAL: a busy backend's counters are at most this late
# xacts, rows read, rows written, blocks hit, blocks fetched, deadlocks, temp bytes, active, waiting, newest idle age
_SAMPLE = _MARK + """ SELECT {flush} pg_stat_clear_snapshot(),
 (SELECT count(*) FROM pg_catalog.pg_class WHERE oid = 0),
 pg_stat_get_db_xact_commit(d) + pg_stat_get_db_xact_rollback(d),
 pg_stat_get_db_tuples_returned(d),
 pg_stat_get_db_tuples_inserted(d) + pg_stat_get_db_tuples_updated(d) + pg_stat_get_db_tuples_deleted(d),
 pg_stat_get_db_blocks_hit(d), pg_stat_get_db_blocks_fetched(d),
 pg_stat_get_db_deadlocks(d), pg_stat_get_db_temp_bytes(d),
 a.active, a.waiting, a.idle_age
FROM (SELECT %s::oid AS d) s,
LATERAL (SELECT count(*) FILTER (WHERE state = 'active') AS active,
                count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting,
                extract(epoch FROM clock_timestamp() - max(state_change) FILTER (WHERE state = 'idle')) AS idle_age
         FROM pg_stat_get_activity(NULL) WHERE datid = s.d AND pid <> pg_backend_pid()
           AND backend_type = 'client backend' AND application_name <> '""" + APP_NAME + """') a"""
_FIELDS = ("tps", "rows_read", "rows_written")


class PostgresCollector(SourceBase):
    """``<name>.tps``, ``rows_read``, ``rows_written`` (per second), ``cache_hit_ratio``,
    ``active_connections``, ``waiting_connections``, ``deadlocks``, ``temp_bytes`` (per second);
    at stop ``statement_total_ms``/``statement_calls``/``statement_mean_ms`` per top statement."""

    def __init__(self, spec: MetricSpec, env: Mapping[str, str], clock: Callable[[], float],
                 sleep: Callable[[float], None] = time.sleep):
        super().__init__(spec, env, clock)
        self.sleep = sleep
        o = spec.options
        self.dsn = str(o["dsn"])
        self.settle: float | None = float(o["settle"]) if "settle" in o else None  # None: only when needed
        self.top = int(o.get("top_statements", 10))
        self.connect_timeout = float(o.get("connect_timeout", 5.0))
        self._conn: Any = None
        self._oid = 0
        self._sql = _SAMPLE
        self._own = 0  # this collector's transactions since the baseline (all counted by the server)
        self.rates.clamp = True  # pg_stat_reset(): no increase for that interval
        self._pgss: dict[tuple[Any, Any], tuple[str, float, float]] | None = None
        self._pgss_sql = ""
        self._secrets = dsn_secrets(self.dsn)
        self._shown = mask_dsn(self.dsn)  # the DSN as it may appear in a reason: no password, typo or not

    # -- connection ------------------------------------------------------------
    def _connect(self) -> None:
        import psycopg

        try:
            conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=max(1, round(self.connect_timeout)),
                                   application_name=APP_NAME)
        except psycopg.ProgrammingError as exc:  # libpq cannot parse the DSN: it will not mend itself
            raise SourceError(f"bad DSN {self._shown}: {one_line(exc)}", permanent=True) from None
        except psycopg.Error as exc:
            raise SourceError(f"cannot connect to {self._shown}: {one_line(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - a malformed DSN may raise ValueError
            raise SourceError(f"bad DSN {self._shown}: {one_line(exc)}", permanent=True) from None
        self._conn = conn
        conn.execute("SET statement_timeout = '5s'")
        row = conn.execute("SELECT oid, current_setting('server_version_num')::int,"
                           " pg_has_role('pg_read_all_stats', 'MEMBER'), current_database()"
                           " FROM pg_database WHERE datname = current_database()").fetchone()
        self._oid, version, can_read_all, self._db = row
        self._sql = _SAMPLE.format(flush="pg_stat_force_next_flush()," if version >= 150000 else "")
        if version < 150000 and not any("PostgreSQL < 15" in n for n in self.notes):
            self.notes.append("PostgreSQL < 15: the collector's own transactions may be published late; "
                              "tps may be off by about one per sample")
        if not can_read_all and not any("pg_read_all_stats" in n for n in self.notes):
            self.notes.append("the role is not a member of pg_read_all_stats: connections of other roles "
                              "are not seen in active/waiting_connections")
        self._pgss_sql = self._pgss_query(version)

    def _pgss_query(self, version: int) -> str:
        """The statements query, or "" with a plain note saying why there will be no top statements."""
        c = self._conn
        if not c.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone():
            self._note(f"pg_stat_statements is not installed in database {self._db!r}: no top statements "
                       "(CREATE EXTENSION pg_stat_statements, with it in shared_preload_libraries)")
            return ""
        total = "total_exec_time" if version >= 130000 else "total_time"
        sql = (f"{_MARK} SELECT userid, queryid, query, calls, {total} FROM pg_stat_statements"
               f" WHERE dbid = {int(self._oid)} AND query NOT LIKE '%loadkit-collector%'")
        try:
            c.execute(sql + " LIMIT 1").fetchall()
        except Exception as exc:  # noqa: BLE001 - "must be loaded via shared_preload_libraries"
            self._note(f"pg_stat_statements is installed but cannot be read ({one_line(exc)}): no top statements")
            return ""
        return sql

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _query(self) -> tuple[float, ...]:
        """One sample: one statement, one transaction of ours (counted)."""
        if self._conn is None or self._conn.closed:
            self._connect()
        import psycopg

        try:
            row = self._conn.execute(self._sql, (self._oid,)).fetchone()
        except psycopg.Error as exc:
            if self._conn.closed or self._conn.broken:
                self._conn = None
            raise SourceError(f"{self._shown}: {one_line(exc)}") from None
        finally:
            self._own += 1
        return tuple(float(v) if v is not None else -1.0 for v in row[-10:])

    def _statements(self) -> dict[tuple[Any, Any], tuple[str, float, float]]:
        if not self._pgss_sql:
            return {}
        self._own += 1
        rows = self._conn.execute(self._pgss_sql).fetchall()
        return {(u, q): (text, float(calls), float(ms)) for u, q, text, calls, ms in rows}

    # -- the protocol ------------------------------------------------------------
    def _start(self, now: float) -> list[Row]:
        self._close()
        self._connect()
        self._pgss = self._statements() if self._pgss_sql else None
        self._query()  # publishes the setup's transactions, so the baseline below includes them
        self._own = 0
        return self._rows(now, self._query())

    def _sample(self, now: float) -> list[Row]:
        return self._rows(now, self._query())

    def _settle_for(self) -> float:
        """How long stop() may wait for idle backends to publish: only when the window starts with the load."""
        if self.settle is not None:
            return self.settle
        begun = self._begun if self._begun is not None else 0.0
        if self.window_start is not None and self.window_start - begun >= PUBLISH_LAG_S:
            return 0.0  # both ends of the window lag alike
        return IDLE_FLUSH_S + 1.0

    def _stop(self, now: float) -> list[Row]:
        values = self._query()
        settle = self._settle_for()
        if settle > 0:
            deadline = time.monotonic() + settle
            while time.monotonic() < deadline:
                active, idle_age = values[-3], values[-1]
                if active <= 0 and (idle_age < 0 or idle_age > IDLE_FLUSH_S + 0.3):
                    break  # nobody busy, and every idle backend has published what it held
                self.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
                values = self._query()
        rows = self._rows(now, values)  # stamped with the first read: what settling adds happened before it
        if self._pgss is not None:
            rows += self._top(now)
        return rows

    def _rows(self, now: float, values: tuple[float, ...]) -> list[Row]:
        own = self._own - 1  # every transaction of ours is in the counters but the read just made
        rows = [self._row(now, "active_connections", max(values[7], 0)),
                self._row(now, "waiting_connections", max(values[8], 0))]
        rates = {f: self._rate(now, f, v) for f, v in (("tps", values[0] - own), ("rows_read", values[1]),
                                                        ("rows_written", values[2]), ("blks_hit", values[3]),
                                                        ("blks_fetched", values[4]), ("deadlocks", values[5]),
                                                        ("temp_bytes", values[6]))}
        rows += [self._row(now, f, rates[f]) for f in (*_FIELDS, "deadlocks", "temp_bytes") if rates[f] is not None]
        hit, fetched = rates["blks_hit"], rates["blks_fetched"]
        if hit is not None and fetched:
            rows.append(self._row(now, "cache_hit_ratio", hit / fetched))
            key = (self._metric("blks_fetched"), "")
            if key in self.rates.merged:
                self.rates.merged[(self._metric("cache_hit_ratio"), "")] = self.rates.merged[key]
        return rows

    def _top(self, now: float) -> list[Row]:
        try:
            after = self._statements()
        except Exception as exc:  # noqa: BLE001 - top statements are extra; the counters stand
            self._note(f"top statements unavailable: {one_line(exc)}")
            return []
        before = self._pgss or {}
        deltas = []
        for key, (text, calls, ms) in after.items():
            c0, m0 = before.get(key, ("", 0.0, 0.0))[1:]
            if calls - c0 > 0:
                deltas.append((ms - m0, calls - c0, key[1], text))
        deltas.sort(reverse=True)
        rows = []
        for ms, calls, queryid, text in deltas[: self.top]:
            labels = format_labels({"queryid": str(queryid), "query": " ".join(str(text).split())[:200]})
            rows += [self._row(now, "statement_total_ms", ms, labels), self._row(now, "statement_calls", calls, labels),
                     self._row(now, "statement_mean_ms", ms / calls, labels)]
        return rows
