"""MySQL / MariaDB load from ``SHOW GLOBAL STATUS``, through PyMySQL (pure Python).

``Queries`` counts every statement the server ran, this collector's own ``SHOW`` included
(the counter is bumped when a statement starts, so each sample sees itself): one per
sample is subtracted. ``Threads_running`` includes this connection while it asks: minus one.
https://mariadb.com/kb/en/server-status-variables/
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from ._common import SourceBase, SourceError, one_line
from ._dsn import dsn_secrets, mask_dsn
from .base import MetricSpec, Row

__all__ = ["MysqlCollector", "parse_mysql_dsn"]

_WANTED = ("Queries", "Threads_running", "Slow_queries")


def parse_mysql_dsn(dsn: str) -> dict[str, Any]:
    """``mysql://user:pass@host:port/db`` (``mariadb://`` too) → PyMySQL connect arguments."""
    p = urlsplit(dsn)
    if p.scheme not in ("mysql", "mariadb") or not p.hostname:
        raise ValueError("expected mysql://user:password@host:port/database")
    return {"host": p.hostname, "port": p.port or 3306, "user": unquote(p.username or "root"),
            "password": unquote(p.password or ""), "database": unquote(p.path.lstrip("/")) or None}


class MysqlCollector(SourceBase):
    """``<name>.queries`` and ``slow_queries`` (per second), ``threads_running``."""

    def __init__(self, spec: MetricSpec, env: Mapping[str, str], clock: Callable[[], float]):
        super().__init__(spec, env, clock)
        self.dsn = str(spec.options["dsn"])
        self._conn: Any = None
        self._reads = 0
        self.rates.clamp = True  # a restart: no increase for that interval (our own reads are subtracted)
        try:
            self._args = parse_mysql_dsn(self.dsn)
        except ValueError:
            self._args = None
        parsed = (self._args["password"],) if self._args and self._args["password"] else ()
        self._secrets = dsn_secrets(self.dsn) + parsed
        self._shown = mask_dsn(self.dsn)  # the DSN as it may appear in a reason: no password, typo or not

    def _status(self) -> dict[str, float]:
        import pymysql

        shown = self._shown
        if self._args is None:
            raise SourceError(f"bad DSN {shown}: expected mysql://user:password@host:port/database", permanent=True)
        try:
            if self._conn is None:
                self._conn = pymysql.connect(**self._args, connect_timeout=5, read_timeout=10, autocommit=None)
            with self._conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN (%s, %s, %s)", _WANTED)
                return {k: float(v) for k, v in cur.fetchall()}
        except pymysql.Error as exc:
            self._close()
            raise SourceError(f"{shown}: {one_line(exc)}") from None

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken
                self._conn.close()
            self._conn = None

    def _start(self, now: float) -> list[Row]:
        self._reads = 0
        return self._rows(now, self._status())

    def _sample(self, now: float) -> list[Row]:
        return self._rows(now, self._status())

    def _rows(self, now: float, s: dict[str, float]) -> list[Row]:
        self._reads += 1  # Queries counts each SHOW of ours as it starts, this one included: not load
        rows = [self._row(now, "threads_running", max(0.0, s["Threads_running"] - 1))]
        for field, value in (("queries", s["Queries"] - self._reads), ("slow_queries", s["Slow_queries"])):
            rate = self._rate(now, field, value)
            if rate is not None:
                rows.append(self._row(now, field, rate))
        return rows
