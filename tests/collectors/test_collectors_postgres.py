"""postgres source against the real server at 127.0.0.1:5432 (trust auth), in a throwaway database."""

from __future__ import annotations

import time

import pytest
from helpers import PG_ADMIN, temp_database

from loadkit.collectors import MetricSpec, make_collector

SECRET = "s3cr3t-Pa55"


def pg(dsn: str, interval: float = 0.01, **options):
    """A source sampled when the test says (a short interval: no rate is held back as too soon)."""
    return make_collector(MetricSpec("db", "postgres", {"dsn": dsn, "settle": 2, **options}, interval), {}, time.time)


@pytest.fixture(scope="module")
def db():
    with temp_database() as dsn:
        yield dsn


def test_its_own_queries_are_not_load(db):
    c = pg(db)
    c.start(time.time())
    rows = []
    for _ in range(6):
        time.sleep(0.1)
        rows += c.sample(time.time())
    rows += c.stop(time.time())
    assert c.missing is None
    tps = [v for _, m, _, v in rows if m == "db.tps"]
    # Exactly zero but for a stray autovacuum worker visiting the new database (a transaction or two).
    assert len(tps) == 7 and tps.count(0.0) >= 5 and sum(tps) * 0.1 <= 2.5, tps
    assert {m for _, m, _, _ in rows} >= {"db.active_connections", "db.waiting_connections", "db.deadlocks",
                                          "db.temp_bytes", "db.rows_written"}


def test_counts_transactions_and_rows(db):
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (x int)")  # catalog rows are written too: not in the window
    c = pg(db)
    t0 = time.time()
    c.start(t0)
    with psycopg.connect(db, autocommit=True) as conn:  # 1 transaction (the connection's start-up)
        for i in range(50):
            conn.execute("INSERT INTO t VALUES (%s)", (i,))  # 50 transactions, 50 rows
        conn.execute("UPDATE t SET x = x + 1 WHERE x < 50")  # 1 transaction, 50 rows (or more on a rerun)
    t1 = time.time()
    rows = c.stop(t1)  # the connection above has closed, so its counters are published
    value = {m: v for _, m, _, v in rows}
    assert c.missing is None
    assert 52 <= value["db.tps"] * (t1 - t0) <= 54.5
    assert value["db.rows_written"] * (t1 - t0) == pytest.approx(100, abs=0.5)


def test_pg_stat_statements_absent_is_a_plain_note(db):
    c = pg(db)
    c.start(time.time())
    c.stop(time.time())
    assert c.missing is None
    assert any(n.startswith("pg_stat_statements is not installed in database") for n in c.notes), c.notes


def test_pg_stat_statements_installed_but_not_loaded_is_a_note():
    import psycopg

    with temp_database() as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            loaded = "pg_stat_statements" in conn.execute("SHOW shared_preload_libraries").fetchone()[0]
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        c = pg(dsn)
        c.start(time.time())
        rows = c.stop(time.time())
    assert c.missing is None
    if loaded:
        assert any(m == "db.statement_total_ms" for _, m, _, _ in rows) or rows
    else:
        assert any("pg_stat_statements is installed but cannot be read" in n for n in c.notes), c.notes


@pytest.mark.parametrize("dsn, expect", [
    (f"postgresql://nobody_here:{SECRET}@127.0.0.1:5432/test", 'role "nobody_here" does not exist'),
    (f"postgresql://postgres:{SECRET}@127.0.0.1:1/test", "Connection refused"),
    (f"postgresql://postgres:{SECRET}@127.0.0.1:5432/no_such_db_xyz", 'database "no_such_db_xyz" does not exist'),
    (f"host=127.0.0.1 port=1 user=postgres password={SECRET} dbname=test", "Connection refused"),
    # an unescaped "/" ends libpq's host part: "postgres" is the host, the password's start the port
    ("postgresql://postgres:s3cr3t/Pa55@127.0.0.1:1/test", "cannot connect to postgresql://postgres:***@127.0.0.1:1/test: "),
], ids=["wrong-user", "wrong-port", "unknown-db", "keyword-dsn", "slash-in-password"])
def test_failures_are_missing_without_the_password(dsn, expect):
    c = pg(dsn)
    assert c.start(time.time()) == []
    assert c.sample(time.time()) == []  # retried, still failing, still no exception
    assert c.stop(time.time()) == []
    assert expect in c.missing, c.missing
    assert SECRET not in c.missing and "s3cr3t" not in c.missing and "\n" not in c.missing
    assert c.missing.startswith("cannot connect to ")


def test_server_going_away_mid_run_is_missing():
    import psycopg

    c = pg(PG_ADMIN)
    c.start(time.time())
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
                      "'loadkit-collector' AND pid <> pg_backend_pid()")
    assert c.sample(time.time()) == []
    assert c.missing and "\n" not in c.missing
    rows = c.sample(time.time())  # reconnects
    assert c.missing is None and rows
    assert any(n.startswith("recovered after:") for n in c.notes)
    c.stop(time.time())


def _wait_until_gone(db: str, pid: int, timeout: float = 10.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(db, autocommit=True) as conn:
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, f"backend {pid} still there after {timeout} s"
            time.sleep(0.02)


def test_a_short_last_read_is_merged_with_the_one_before(db):
    """Database counters spiked like CPU on a last read right after a sample: now merged, nothing lost."""
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS m (x int)")
    c = pg(db, interval=1.0, settle=0)
    t0 = time.time()
    rows = c.start(t0)
    with psycopg.connect(db, autocommit=True) as conn:
        for i in range(30):
            conn.execute("INSERT INTO m VALUES (%s)", (i,))
    time.sleep(max(0.0, t0 + 1.0 - time.time()))
    rows += c.sample(time.time())
    with psycopg.connect(db, autocommit=True) as conn:  # closed: its counters are published when it exits
        for i in range(10):
            conn.execute("INSERT INTO m VALUES (%s)", (i,))
        backend = conn.info.backend_pid
    _wait_until_gone(db, backend)  # the server process exits a moment after the client hangs up
    final = c.stop(time.time())
    rows = [r for r in rows if getattr(c, "superseded", {}).get((r[1], r[2])) != r[0]] + final
    assert c.missing is None
    written = sorted((t, v) for t, m, _, v in rows if m == "db.rows_written")
    times = [t0] + [t for t, _ in written]
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.5, written
    assert sum(v * (b - a) for (b, v), a in zip(written, times, strict=False)) == pytest.approx(40, abs=0.5)
