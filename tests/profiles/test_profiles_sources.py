"""Profile import from rate series: a CSV of timestamp,rate[,endpoint] and a Prometheus range query (canned server)."""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from loadkit.errors import ConfigError, RunError
from loadkit.profiles import (
    add_import_arguments,
    parse_time_arg,
    profile_from_prometheus,
    profile_from_rate_csv,
    run_import,
    sniff,
)
from loadkit.profiles import sources as sources_mod

T0 = 1_714_557_600  # 2024-05-01T10:00:00Z


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_csv_rate_series_with_endpoints(tmp_path):
    rng = np.random.default_rng(5)
    rates = rng.integers(10, 100, size=(30, 2))
    rows = ["timestamp,rate,endpoint"]
    for i, (a, b) in enumerate(rates):
        rows += [f"{iso(T0 + 10 * i)},{a},GET /tickets/{i + 1}", f"{iso(T0 + 10 * i)},{b},/faq/search?q=x"]
    f = tmp_path / "rates.csv"
    f.write_text("\n".join(rows) + "\n")
    assert sniff(str(f)).format == "csv"
    p = profile_from_rate_csv(str(f))
    assert p.interval == 10 and p.start == T0 and len(p.requests) == 30
    assert list(p.requests) == [10 * (a + b) for a, b in rates]
    assert list(p.rates) == [a + b for a, b in rates]
    total = rates.sum()
    assert {(e.method, e.path): e.share for e in p.endpoints} == {
        ("GET", "/tickets/{id}"): rates[:, 0].sum() * 10 / (total * 10),
        ("GET", "/faq/search?q={q}"): rates[:, 1].sum() * 10 / (total * 10)}
    coarse = profile_from_rate_csv(str(f), interval=30)
    assert list(coarse.requests) == [sum(10 * (a + b) for a, b in rates[i:i + 3]) for i in range(0, 30, 3)]
    with pytest.raises(ConfigError, match="must be a multiple of the series step 10s"):
        profile_from_rate_csv(str(f), interval=5)


def test_csv_epoch_seconds_without_header_gap_becomes_zero(tmp_path):
    f = tmp_path / "rates.txt"
    f.write_text(f"{T0},2.5\n{T0 + 60},4\n{T0 + 180},1\n")
    p = profile_from_rate_csv(str(f))
    assert p.interval == 60 and list(p.requests) == [150, 240, 0, 60] and p.endpoints == ()


def test_csv_malformed_rows(tmp_path):
    f = tmp_path / "rates.csv"
    f.write_text("timestamp,rate\n" + "".join(f"{T0 + i},{i}\n" for i in range(50)) + f"{T0 + 50},fast\n")
    with pytest.raises(ConfigError) as err:
        profile_from_rate_csv(str(f))
    (line,) = err.value.lines()
    assert line.startswith(f"{f}:52: 1 of 51 rows (1.96%) are malformed, above --max-malformed 1.00%; expected timestamp")
    assert profile_from_rate_csv(str(f), max_malformed=0.05).malformed_count == 1


class _Prometheus(BaseHTTPRequestHandler):
    """Answers /api/v1/query_range like Prometheus: rate = 100 + minute of the hour, split over two handlers."""

    calls: list[dict] = []

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        type(self).calls.append(q)
        if url.path != "/api/v1/query_range":
            self._send(404, b"404 page not found", "text/plain")
            return
        if q["query"] == "bad(":
            self._send(400, json.dumps({"status": "error", "errorType": "bad_data",
                                        "error": "1:5: parse error: unclosed left parenthesis"}).encode())
            return
        start, end, step = float(q["start"]), float(q["end"]), float(q["step"])
        ts = np.arange(start, end + step / 2, step)  # end inclusive, as Prometheus does
        result = [
            {"metric": {"handler": "/tickets/:id", "method": "get", "code": "200"},
             "values": [[t, str(0.75 * (100 + (t - T0) // 60))] for t in ts]},
            {"metric": {"handler": "/faq/search", "method": "get", "code": "500"},
             "values": [[t, str(0.25 * (100 + (t - T0) // 60))] for t in ts] + [[end + step, "NaN"]]},
        ]
        if q["query"] == "empty":
            result = []
        self._send(200, json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}}).encode())

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def prometheus():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Prometheus.calls = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_prometheus_range_query(prometheus, monkeypatch):
    monkeypatch.setattr(sources_mod, "MAX_POINTS_PER_QUERY", 100)  # force chunking: 241 points in 3 requests
    p = profile_from_prometheus(prometheus + "/", "sum by (handler, method, code) (rate(http_requests_total[1m]))",
                                start=T0, end=T0 + 3600, step=15)
    assert len(_Prometheus.calls) == 3
    assert _Prometheus.calls[0]["step"] == "15" and _Prometheus.calls[0]["query"].startswith("sum by")
    assert p.interval == 15 and p.start == T0 and len(p.requests) == 241
    assert list(p.rates) == [100 + i * 15 // 60 for i in range(241)]
    assert [(e.method, e.path, e.share) for e in p.endpoints] == [("GET", "/tickets/:id", 0.75),
                                                                  ("GET", "/faq/search", 0.25)]
    assert [(s.status, s.share) for s in p.statuses] == [("200", 0.75), ("500", 0.25)]
    assert p.malformed_count == 3  # the NaN samples are skipped and counted


def test_prometheus_through_the_command(prometheus, tmp_path):
    args = argparse.ArgumentParser()
    add_import_arguments(args)
    ns = args.parse_args(["--prometheus", prometheus, "--query", "sum(rate(x[1m]))", "--start", iso(T0),
                          "--end", iso(T0 + 1800), "--interval", "1m", "-o", str(tmp_path / "prod.csv")])
    report = run_import(ns)
    assert report.profile.interval == 60 and len(report.profile.requests) == 31
    assert report.summary.peak_window.name == "peak-10m"
    assert (tmp_path / "prod.png").read_bytes()[:4] == b"\x89PNG"


def test_prometheus_errors(prometheus):
    with pytest.raises(ConfigError, match=r"query was refused \(HTTP 400\): 1:5: parse error: unclosed left"):
        profile_from_prometheus(prometheus, "bad(", start=T0, end=T0 + 60)
    with pytest.raises(ConfigError, match="--query: no samples between 2024-05-01T10:00:00Z and"):
        profile_from_prometheus(prometheus, "empty", start=T0, end=T0 + 60)
    with pytest.raises(ConfigError, match="refused \\(HTTP 404\\): 404 page not found"):
        profile_from_prometheus(prometheus + "/graph", "x", start=T0, end=T0 + 60)
    with pytest.raises(ConfigError, match="--end .* must be after --start"):
        profile_from_prometheus(prometheus, "x", start=T0, end=T0)


def test_prometheus_unreachable():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RunError, match=f"cannot reach http://127.0.0.1:{port}"):
        profile_from_prometheus(f"http://127.0.0.1:{port}", "x", start=T0, end=T0 + 60, timeout=5)


def test_time_arguments():
    assert parse_time_arg("now-1h", now=T0 + 3600) == T0
    assert parse_time_arg(iso(T0)) == T0 and parse_time_arg(str(T0)) == T0
    with pytest.raises(ConfigError, match="--start: expected ISO 8601"):
        parse_time_arg("yesterday")
