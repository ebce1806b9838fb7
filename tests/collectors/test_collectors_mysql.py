"""mysql source against the MariaDB server at 127.0.0.1:3306 (root, empty password, database test)."""

from __future__ import annotations

import time

import pymysql  # a dependency of loadkit: missing is a failure, not a skip
import pytest

from loadkit.collectors import MetricSpec, make_collector

DSN = "mysql://root@127.0.0.1:3306/test"


def my(dsn: str, interval: float = 0.01):
    """A source sampled when the test says (a short interval: no rate is held back as too soon)."""
    return make_collector(MetricSpec("mdb", "mysql", {"dsn": dsn}, interval), {}, time.time)


def test_queries_per_second_without_its_own():
    c = my(DSN)
    t0 = time.time()
    c.start(t0)
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test", autocommit=None)
    with conn.cursor() as cur:
        for _ in range(200):
            cur.execute("SELECT 1")
    conn.close()
    t1 = time.time()
    rows = c.sample(t1)
    c.stop(time.time())
    assert c.missing is None
    v = {m: x for _, m, _, x in rows}
    # 200 statements; other clients of the shared server may add a few
    assert 200 <= v["mdb.queries"] * (t1 - t0) <= 230
    assert v["mdb.threads_running"] >= 0 and v["mdb.slow_queries"] >= 0


@pytest.mark.parametrize("dsn, expect", [
    ("mysql://root:pw-Secret9@127.0.0.1:1/test", "Can't connect"),
    ("mysql://root@127.0.0.1:3306/no_such_db_xyz", "Unknown database"),
])
def test_failures_are_missing(dsn, expect):
    c = my(dsn)
    assert c.start(time.time()) == [] and c.sample(time.time()) == [] and c.stop(time.time()) == []
    assert expect in c.missing and "pw-Secret9" not in c.missing, c.missing
