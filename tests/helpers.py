"""Helpers shared by the tests: paths, run folders, free ports, scenario files, a temporary PostgreSQL
database, plain HTTP load on the stand-in and /metrics reads."""

from __future__ import annotations

import http.client
import json
import re
import socket
import textwrap
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
ACCESS_LOGS = Path(ROOT).parent / "shared" / "data" / "access-logs"  # real logs, never copied into the repo
SUPPORT = Path(__file__).resolve().parent / "support"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def real_log(name: str) -> Path:
    """One of the real access logs; a missing one fails the test loudly (these tests must not skip)."""
    path = ACCESS_LOGS / name
    if not path.is_file():
        import pytest

        pytest.fail(f"real access log {path} is missing; the profile tests need {ACCESS_LOGS} (see its README)",
                    pytrace=False)
    return path


_LOG_LINE = re.compile(r'\S+ \S+ \S+ \[(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-]\d{4})\] "((?:[^"\\]|\\.)*)" (\d{3}) ')


def read_log(path: Path) -> list[tuple[int, tuple[str, str] | None]]:
    """(epoch second, templated endpoint or None) per line: a reader independent of loadkit's importer
    (its own regex and time parsing; only the templating rule is loadkit's, since it defines the endpoints)."""
    import gzip
    from datetime import datetime

    from loadkit.profiles import endpoint_of_request

    out = []
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = _LOG_LINE.match(line)
            assert m, line
            d, mon, y, hh, mi, ss, tz, request, _ = m.groups()
            t = datetime.strptime(f"{d} {mon} {y} {hh}:{mi}:{ss} {tz}", "%d %b %Y %H:%M:%S %z").timestamp()
            out.append((int(t), endpoint_of_request(request)))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def only_run(out: Path) -> Path:
    """The single run folder under ``out``."""
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def read(run: Path, name: str):
    return json.loads((run / name).read_text())


def own_checks(verdict: dict) -> list[dict]:
    """The scenario's checks and comparisons of a verdict.json (the built-in checks left out)."""
    return [c for c in verdict["checks"] if c.get("kind") != "built-in"]


def builtin(verdict: dict, prefix: str) -> dict:
    """The built-in check of a verdict.json whose name starts with ``prefix``."""
    return next(c for c in verdict["checks"] if c.get("kind") == "built-in" and c["check"].startswith(prefix))


def scenario_file(tmp_path: Path, body: str, name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


@contextmanager
def temp_database() -> Iterator[str]:
    """A fresh database on the test server, so load from other test runs cannot be counted."""
    import psycopg

    name = f"loadkit_ct_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def load(url: str, seconds: float, workers: int = 4) -> dict[str, int]:
    """Plain HTTP requests against the stand-in for ``seconds``; counts per (method, endpoint template)."""
    parts = urlsplit(url)
    deadline = time.time() + seconds

    def one(i: int) -> dict[str, int]:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        sent = {"GET /tickets": 0, "POST /tickets": 0, "GET /tickets/{id}": 0}
        n = 0
        try:
            while time.time() < deadline:
                kind = ("GET /tickets", "POST /tickets", "GET /tickets/{id}")[n % 3]
                if kind == "POST /tickets":
                    conn.request("POST", "/tickets", json.dumps({"subject": "s", "body": "b"}),
                                 {"Content-Type": "application/json"})
                elif kind == "GET /tickets":
                    conn.request("GET", "/tickets?limit=5")
                else:
                    conn.request("GET", f"/tickets/{1 + n % 50}")
                conn.getresponse().read()
                sent[kind] += 1
                n += 1
        finally:
            conn.close()
        return sent

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, range(workers)))
    return {k: sum(r[k] for r in results) for k in results[0]}


def scrape_value(url: str, pattern: str) -> float:
    """The value of the first /metrics line matching ``pattern`` (a regex for the series)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    for line in text.splitlines():
        if re.match(pattern, line):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{pattern} not in /metrics")
