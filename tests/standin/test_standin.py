"""The bundled stand-in, over real HTTP on 127.0.0.1, each instance in its own process."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest

from loadkit.errors import ConfigError, RunError
from loadkit.redact import redact
from loadkit.standin import (
    StandinConfig,
    StandinHandle,
    add_arguments,
    config_from_args,
    start_standin,
)

PG_DSN = os.environ.get("LOADKIT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "s3cret-standin-pw"
ROOT = Path(__file__).resolve().parents[2]


class Client:
    """A keep-alive HTTP client for one stand-in (keep-alive keeps timings free of connects)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        self._conn.request(method, path, body=data)
        response = self._conn.getresponse()
        payload = response.read()
        ctype = response.getheader("Content-Type", "")
        parsed = json.loads(payload) if ctype == "application/json" else payload.decode()
        return response.status, parsed, dict(response.getheaders())

    def get(self, path: str) -> tuple[int, Any]:
        status, parsed, _ = self.request("GET", path)
        return status, parsed

    def close(self) -> None:
        self._conn.close()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample; 0 if absent (a counter that never moved)."""
    for line in text.splitlines():
        sample = _SAMPLE.match(line)
        if sample and sample["name"] == name and _labels(sample["labels"]) == labels:
            return float(sample["value"])
    return 0.0


_SAMPLE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[a-zA-Z_]\w*="[^"\\]*"'
    r'(?:,[a-zA-Z_]\w*="[^"\\]*")*)\})? (?P<value>[-+]?(?:\d+(?:\.\d*)?(?:e[-+]?\d+)?|\+Inf))$'
)


def _labels(text: str | None) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', text or ""))


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinHandle]:
    config = StandinConfig(latency_ms={"/tickets/{id}": 50})
    with start_standin(config) as handle:
        yield handle


@pytest.fixture(scope="module")
def busy_standin() -> Iterator[StandinHandle]:
    with start_standin(StandinConfig(cpu_ms=20, cache=False)) as handle:
        yield handle


@pytest.fixture()
def client(standin: StandinHandle) -> Iterator[Client]:
    c = Client(standin.url)
    yield c
    c.close()


@pytest.fixture(scope="module")
def pg_dsn() -> str:
    import psycopg

    try:
        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except psycopg.OperationalError as exc:  # PostgreSQL runs here and in CI (scripts/services starts it): a failure, not a skip
        pytest.fail(f"PostgreSQL not reachable at {PG_DSN}: {exc}")
    parts = urlsplit(PG_DSN)
    if parts.password or "@" not in parts.netloc:
        return PG_DSN
    # trust auth ignores the password, which lets us check it never leaks.
    user, host = parts.netloc.split("@", 1)
    return parts._replace(netloc=f"{user}:{SECRET}@{host}").geturl()


# --- endpoints ----------------------------------------------------------------------------


def test_health_and_unknown_paths(client: Client) -> None:
    assert client.get("/health") == (200, {"status": "ok"})
    assert client.get("/nope") == (404, {"error": "not found"})
    assert client.get("/tickets/1/extra")[0] == 404
    status, body, headers = client.request("DELETE", "/tickets")
    assert status == 405
    assert headers["Allow"] == "GET, POST"


def test_faq_search_matches_case_insensitively(client: Client) -> None:
    status, results = client.get("/faq/search?q=REFUND")
    assert status == 200
    assert len(results) >= 3
    for entry in results:
        assert set(entry) == {"id", "topic", "question", "answer"}
        text = " ".join((entry["topic"], entry["question"], entry["answer"])).lower()
        assert "refund" in text
    assert client.get("/faq/search?q=no-such-topic-xyz") == (200, [])
    # LIKE wildcards in the query are literal, not "match everything".
    assert client.get("/faq/search?q=%25") == (200, [])
    status, everything = client.get("/faq/search")
    assert status == 200 and len(everything) == 20


def test_seeded_tickets_exist(client: Client) -> None:
    for ticket_id in (1, 250, 500):
        status, ticket = client.get(f"/tickets/{ticket_id}")
        assert status == 200
        assert ticket["id"] == ticket_id
        assert set(ticket) == {"id", "subject", "body", "status", "created_at"}
    for missing in ("0", "999999999", "abc", "-1"):
        assert client.get(f"/tickets/{missing}") == (404, {"error": "no such ticket"})


def test_create_ticket_then_read_it_back(client: Client) -> None:
    status, created, headers = client.request(
        "POST", "/tickets", {"subject": "Printer on fire", "body": "It's on fire."}
    )
    assert status == 201
    assert created["id"] > 500
    assert created["subject"] == "Printer on fire" and created["status"] == "open"
    assert headers["Location"] == f"/tickets/{created['id']}"
    assert client.get(f"/tickets/{created['id']}") == (200, created)
    status, newest = client.get("/tickets?limit=1")
    assert status == 200 and newest[0]["id"] >= created["id"]


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'{"body": "no subject"}', b'{"subject": "", "body": "x"}', b""],
)
def test_create_ticket_rejects_bad_bodies(client: Client, raw: bytes) -> None:
    status, body, _ = client.request("POST", "/tickets", raw=raw)
    assert status == 400
    assert body["error"]


def test_list_tickets_honours_limit(client: Client) -> None:
    status, tickets = client.get("/tickets?limit=7")
    assert status == 200
    ids = [t["id"] for t in tickets]
    assert len(ids) == 7 and ids == sorted(ids, reverse=True)
    status, default = client.get("/tickets")
    assert status == 200 and len(default) == 20
    for bad in ("0", "abc", "100000", "-3"):
        assert client.get(f"/tickets?limit={bad}")[0] == 400


def test_config_reports_the_effective_knobs(client: Client, standin: StandinHandle) -> None:
    status, config = client.get("/config")
    assert status == 200
    assert config["db"] == "sqlite" and config["dsn"] is None
    assert config["cache"] is True and config["cpu_ms"] == 0.0
    assert config["latency_ms"] == {"/tickets/{id}": 50.0}
    assert config["port"] == urlsplit(standin.url).port  # the port picked, not 0
    assert config["version"]


# --- knobs --------------------------------------------------------------------------------


def _timed(client: Client, path: str, n: int = 7) -> float:
    """Median wall time of ``n`` requests, in ms."""
    times = []
    for _ in range(n):
        begun = time.perf_counter()
        assert client.get(path)[0] == 200
        times.append((time.perf_counter() - begun) * 1000)
    return statistics.median(times)


def test_injected_latency_hits_only_its_endpoint(client: Client) -> None:
    slow = _timed(client, "/tickets/3")
    fast = _timed(client, "/health")
    assert 50 <= slow < 70, slow
    assert fast < 8, fast


def test_latency_does_not_block_other_requests(standin: StandinHandle) -> None:
    """gevent.sleep, not time.sleep: ten concurrent slow requests take ~50 ms, not ~500."""
    clients = [Client(standin.url) for _ in range(10)]
    begun = time.perf_counter()
    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda c: c.get("/tickets/4")[0], clients))
    elapsed = time.perf_counter() - begun
    for c in clients:
        c.close()
    assert statuses == [200] * 10
    assert elapsed < 0.4, elapsed  # blocking would take 0.5 s or more


def test_cpu_ms_burns_cpu_in_the_server(busy_standin: StandinHandle) -> None:
    server = psutil.Process(busy_standin.pid)
    client = Client(busy_standin.url)
    before = sum(server.cpu_times()[:2])
    begun = time.perf_counter()
    for _ in range(15):
        assert client.get("/health")[0] == 200
    wall = time.perf_counter() - begun
    burnt = sum(server.cpu_times()[:2]) - before
    client.close()
    assert 0.28 <= burnt <= 0.6, burnt  # 15 x 20 ms = 0.3 s, plus a little serving
    assert wall >= 0.28, wall


def test_cache_saves_database_queries(client: Client, busy_standin: StandinHandle) -> None:
    uncached = Client(busy_standin.url)
    for c, expected in ((client, 1), (uncached, 5)):
        before = metric(c.get("/metrics")[1], "standin_db_queries_total")
        for _ in range(5):
            assert c.get("/faq/search?q=shipping")[0] == 200
        after = metric(c.get("/metrics")[1], "standin_db_queries_total")
        assert after - before == expected
    uncached.close()


def test_stall_holds_requests_until_its_end() -> None:
    with start_standin(StandinConfig(stall=(1.0, 1.6))) as handle:
        up = time.perf_counter()  # the server's clock started a little before this
        client = Client(handle.url)
        assert _timed(client, "/health", n=1) < 100  # before the window: normal
        time.sleep(max(0.0, up + 1.1 - time.perf_counter()))
        waited = _timed(client, "/health", n=1)  # ~1.1 s after start: held until 1.6 s
        assert 300 <= waited <= 550, waited
        assert _timed(client, "/health", n=3) < 100  # after the window: normal again
        client.close()


# --- metrics ------------------------------------------------------------------------------


def test_metrics_are_prometheus_text_and_count_requests(client: Client) -> None:
    status, first = client.get("/metrics")
    assert status == 200
    assert client.get("/tickets/2")[0] == 200
    assert client.get("/tickets/999999")[0] == 404
    assert client.request("POST", "/tickets", {"subject": "s", "body": "b"})[0] == 201
    _, text = client.get("/metrics")

    for line in text.splitlines():
        assert line.startswith(("# HELP ", "# TYPE ")) or _SAMPLE.match(line), line
    for name, kind in (
        ("standin_http_requests_total", "counter"),
        ("standin_db_queries_total", "counter"),
        ("standin_db_transactions_total", "counter"),
        ("standin_request_duration_seconds", "histogram"),
    ):
        assert f"# TYPE {name} {kind}" in text

    def grew(name: str, by: float, **labels: str) -> None:
        assert metric(text, name, **labels) - metric(first, name, **labels) == by, name

    grew("standin_http_requests_total", 1, endpoint="/tickets/{id}", method="GET", status="200")
    grew("standin_http_requests_total", 1, endpoint="/tickets/{id}", method="GET", status="404")
    grew("standin_http_requests_total", 1, endpoint="/tickets", method="POST", status="201")
    grew("standin_db_transactions_total", 3)  # two reads and one insert, one each
    assert 'endpoint="/tickets/2"' not in text  # templates, never raw paths

    bucket = "standin_request_duration_seconds_bucket"
    counts = [
        (float(_labels(m["labels"])["le"]), float(m["value"]))
        for m in map(_SAMPLE.match, text.splitlines())
        if m and m["name"] == bucket and _labels(m["labels"])["endpoint"] == "/tickets/{id}"
    ]
    assert [le for le, _ in counts] == sorted(le for le, _ in counts) and counts[-1][0] == float("inf")
    assert [c for _, c in counts] == sorted(c for _, c in counts)  # cumulative
    total = metric(text, "standin_request_duration_seconds_count", endpoint="/tickets/{id}")
    assert counts[-1][1] == total >= 2
    assert metric(text, bucket, endpoint="/tickets/{id}", le="0.05") == 0  # all had +50 ms
    assert metric(text, bucket, endpoint="/tickets/{id}", le="0.1") == total


# --- PostgreSQL ---------------------------------------------------------------------------


def test_postgres_backend_under_concurrent_requests(pg_dsn: str) -> None:
    with start_standin(StandinConfig(db=pg_dsn)) as handle:
        client = Client(handle.url)
        status, config = client.get("/config")
        assert status == 200 and config["db"] == "postgresql"
        assert SECRET not in json.dumps(config)
        assert client.get("/tickets/500")[0] == 200
        assert len(client.get("/faq/search?q=invoice")[1]) >= 3

        def create(i: int) -> tuple[int, int, int]:
            c = Client(handle.url)
            status, ticket, _ = c.request("POST", "/tickets", {"subject": f"pg {i}", "body": "b"})
            read_status, read = c.get(f"/tickets/{ticket['id']}")
            c.close()
            assert read == ticket
            return status, read_status, ticket["id"]

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(create, range(64)))
        assert [r[:2] for r in results] == [(201, 200)] * 64
        assert len({r[2] for r in results}) == 64
        _, text = client.get("/metrics")
        assert metric(text, "standin_http_requests_total", endpoint="/tickets", method="POST", status="201") == 64
        assert SECRET not in text
        client.close()


def test_postgres_reseeding_is_idempotent(pg_dsn: str) -> None:
    """Two stand-ins starting on one database at once both come up; the seed stays 500+20."""
    with ThreadPoolExecutor(2) as pool:
        handles = list(pool.map(lambda _: start_standin(StandinConfig(db=pg_dsn)), range(2)))
    try:
        for handle in handles:
            client = Client(handle.url)
            assert len(client.get("/faq/search")[1]) == 20
            assert client.get("/tickets/1")[0] == 200
            client.close()
    finally:
        for handle in handles:
            handle.stop()


# --- process handling ---------------------------------------------------------------------


def test_stop_terminates_the_process() -> None:
    handle = start_standin(StandinConfig())
    port = urlsplit(handle.url).port
    assert handle.process.poll() is None and psutil.pid_exists(handle.pid)
    handle.stop()
    assert handle.process.returncode == 0  # SIGTERM is a clean shutdown, not a kill
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    handle.stop()  # twice is harmless


def test_start_failure_is_one_clear_line() -> None:
    config = StandinConfig(db=f"postgresql://postgres:{SECRET}@127.0.0.1:1/test")
    with pytest.raises(RunError) as caught:
        start_standin(config, timeout=10)
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot connect" in message and "127.0.0.1:1" in message
    assert SECRET not in message


def _module(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "loadkit.standin", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_module_entry_point_prints_one_line_and_stops_on_sigterm() -> None:
    args = ["--port", "0", "--db", "sqlite", "--latency", "/tickets=50", "--cpu-ms", "2"]
    process = _module(*args, "--no-cache")
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        client = Client(f"http://127.0.0.1:{match[1]}")
        config = client.get("/config")[1]
        client.close()
        assert config["cache"] is False and config["cpu_ms"] == 2.0
        assert config["latency_ms"] == {"/tickets": 50.0}
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=5)
    assert process.returncode == 0
    assert out == ""  # nothing after the one line


def test_module_entry_point_rejects_bad_flags() -> None:
    process = _module("--latency", "foo")
    out, err = process.communicate(timeout=10)
    assert process.returncode == 2
    assert out == ""
    assert err.strip().count("\n") == 0 and "latency" in err


# --- configuration ------------------------------------------------------------------------


def test_config_from_env_and_flags() -> None:
    env = {
        "STANDIN_LATENCY": "/tickets=50,*=5",
        "STANDIN_CPU_MS": "3",
        "STANDIN_CACHE": "0",
        "STANDIN_DB": PG_DSN,
        "STANDIN_STALL": "5,8",
    }
    config = StandinConfig.from_env(env)
    assert dict(config.latency_ms) == {"/tickets": 50.0, "*": 5.0}
    assert config.latency_for("/tickets") == 50.0 and config.latency_for("/health") == 5.0
    assert (config.cpu_ms, config.cache, config.db, config.stall) == (3.0, False, PG_DSN, (5, 8))
    assert StandinConfig.from_env(env, cpu_ms=1.0).cpu_ms == 1.0

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--cpu-ms", "7", "--cache", "--latency", "/health=1"])
    flagged = config_from_args(args, env)
    assert (flagged.cpu_ms, flagged.cache, dict(flagged.latency_ms)) == (7.0, True, {"/health": 1})
    assert flagged.db == PG_DSN  # unset flags fall back to the environment
    assert config_from_args(parser.parse_args([]), {}) == StandinConfig()


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"STANDIN_LATENCY": "foo"}, "ENDPOINT=MS"),
        ({"STANDIN_LATENCY": "/tickets=fast"}, "must be a number"),
        ({"STANDIN_LATENCY": "/ticket=5"}, "unknown"),
        ({"STANDIN_LATENCY": "*=-1"}, ">= 0"),
        ({"STANDIN_CPU_MS": "nan"}, "finite"),
        ({"STANDIN_CACHE": "maybe"}, "0 or 1"),
        ({"STANDIN_DB": "mysql://x"}, "postgresql://"),
        ({"STANDIN_STALL": "8,5"}, "after its start"),
        ({"STANDIN_STALL": "5"}, "T0,T1"),
        ({"STANDIN_PORT": "70000"}, "0..65535"),
    ],
)
def test_bad_knobs_are_config_errors(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        StandinConfig.from_env(env)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_config_is_frozen() -> None:
    config = StandinConfig(latency_ms={"*": 1})
    with pytest.raises(TypeError):
        config.latency_ms["*"] = 2  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.cpu_ms = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgres://u@h/db?password=pw&sslmode=off", "postgres://u@h/db?password=***&sslmode=off"),
        ("host=h password=pw dbname=db", "host=h password=*** dbname=db"),
        ("host=h password = 'p w' dbname=db", "host=h password = *** dbname=db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_dsn_passwords_are_masked(dsn: str, masked: str) -> None:
    assert redact(dsn) == masked
