"""prometheus source against a REAL Prometheus server (Debian package ``prometheus``, installed
by scripts/services) scraping the stand-in every second; auth headers against a
small recording server. These tests fail, not skip, when Prometheus is missing."""

from __future__ import annotations

import base64
import http.server
import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from helpers import free_port, load, own_checks

from loadkit.collectors import MetricSpec, make_collector


@pytest.fixture(scope="module")
def prometheus(standin, tmp_path_factory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the prometheus binary is not installed: run scripts/services (as root), or apt-get install prometheus")
    tmp = tmp_path_factory.mktemp("prometheus")
    target = urlsplit(standin.url).netloc
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: standin\n    static_configs: [{{targets: ['{target}']}}]\n")
    port = free_port()
    log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([binary, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"prometheus did not become ready: {(tmp / 'prometheus.log').read_text()[-500:]}")
            time.sleep(0.1)
        # Targets are handed to the scrape loop in batches every 5 s: wait for the first scrape.
        query = url + '/api/v1/query?query=up%7Bjob%3D%22standin%22%7D'
        while not json.loads(urllib.request.urlopen(query, timeout=2).read())["data"]["result"]:
            if time.time() > deadline:
                pytest.fail("prometheus did not scrape the stand-in within 30 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def prom(url: str, query: str, env=None, **options):
    spec = MetricSpec("api", "prometheus", {"url": url, "query": query, "step": 1.0, **options})
    return make_collector(spec, env or {}, time.time)


def test_range_query_over_the_run_window(prometheus, standin):
    rate = prom(prometheus, 'sum by (endpoint) (rate(standin_http_requests_total{job="standin"}[3s]))')
    up = prom(prometheus, 'up{job="standin"}')
    start = time.time()
    rate.start(start)
    up.start(start)
    load(standin.url, 2.5, workers=2)
    time.sleep(1.5)  # the last scrapes land
    stop = time.time()
    rows = rate.stop(stop)
    assert rate.missing is None, rate.missing
    assert {lab for _, _, lab, _ in rows} >= {'endpoint="/tickets"', 'endpoint="/tickets/{id}"'}
    assert all(m == "api" and start - 0.001 <= ts <= stop + 0.001 for ts, m, _, _ in rows)
    assert max(v for _, _, lab, v in rows if lab == 'endpoint="/tickets"') > 1.0
    up_rows = up.stop(stop)
    assert up.missing is None and up_rows
    assert {lab for _, _, lab, _ in up_rows} == {f'instance="{urlsplit(standin.url).netloc}",job="standin"'}
    assert all(v == 1.0 for *_, v in up_rows)
    steps = sorted(ts for ts, *_ in up_rows)
    assert all(b - a == pytest.approx(1.0) for a, b in zip(steps, steps[1:], strict=False))


def test_bad_query_is_missing_with_prometheus_own_error(prometheus):
    c = prom(prometheus, "sum(rate(standin_http_requests_total[5s]")
    c.start(time.time())
    assert c.missing.startswith(f"{prometheus}: HTTP 400: bad_data:") and "parse error" in c.missing, c.missing
    assert c.stop(time.time()) == [] and "parse error" in c.missing
    assert c.config_problem.startswith("metrics api: the query 'sum(rate(standin_http_requests_total[5s]' is not "
                                       "valid PromQL (") and "parse error" in c.config_problem


def test_empty_result_is_no_data(prometheus):
    c = prom(prometheus, "no_such_metric_anywhere")
    c.start(time.time() - 5)
    assert c.missing is None
    assert c.stop(time.time()) == []
    assert c.missing.startswith("no data: the query returned no samples"), c.missing


def test_connection_refused_is_missing():
    c = prom(f"http://127.0.0.1:{free_port()}", "up")
    c.start(time.time())
    assert c.stop(time.time()) == []
    assert c.missing.startswith("cannot reach http://127.0.0.1:") and "Connection refused" in c.missing


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        _Recorder.seen.append(dict(self.headers))
        body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "x", "pod": "a"}, "values": [[time.time(), "1.5"], [time.time(), "NaN"]]}]}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_bearer_token_from_the_named_variable(recorder):
    c = prom(recorder, "x", {"PROM_TOKEN": "tok-123"}, token_env="PROM_TOKEN")
    c.start(time.time())
    rows = c.stop(time.time())
    assert [(m, lab, v) for _, m, lab, v in rows] == [("api", 'pod="a"', 1.5)]  # NaN dropped, __name__ too
    assert {h["Authorization"] for h in _Recorder.seen} == {"Bearer tok-123"}


def test_basic_auth_from_the_named_variables(recorder):
    env = {"PROM_USER": "alice", "PROM_PASS": "pa55"}
    c = prom(recorder, "x", env, username_env="PROM_USER", password_env="PROM_PASS")
    c.start(time.time())
    assert c.stop(time.time())
    expected = "Basic " + base64.b64encode(b"alice:pa55").decode()
    assert {h["Authorization"] for h in _Recorder.seen} == {expected}


def test_unset_variable_is_missing_and_nothing_is_sent(recorder):
    c = prom(recorder, "x", {}, token_env="PROM_TOKEN")
    c.start(time.time())
    assert c.stop(time.time()) == []
    assert c.missing == "environment variable PROM_TOKEN (from token_env) is not set"
    assert _Recorder.seen == []


def test_a_run_judges_prometheus_series(prometheus, standin, tmp_path):
    """Through a real run: the range query over the run's window feeds a check."""
    from helpers import only_run, read

    from loadkit.cli import main

    (tmp_path / "s.yaml").write_text(f"""\
name: prom
target: {{host: http://127.0.0.1:1}}
metrics:
  - {{name: api, source: prometheus, url: "{prometheus}", step: 1s,
     query: 'sum(rate(standin_http_requests_total[5s]))'}}
users:
  - name: u
    wait: {{constant: 0.02}}
    requests: [{{name: health, path: /health}}]
load: {{users: 2, spawn_rate: 2, duration: 6s}}
checks:
  - "max(api) > 1"
""")
    code = main(["run", str(tmp_path / "s.yaml"), "--host", standin.url, "--out", str(tmp_path / "r"), "--quiet"])
    run = only_run(tmp_path / "r")
    checks = {c["check"]: c for c in own_checks(read(run, "verdict.json"))}
    assert checks["max(api) > 1"]["status"] == "PASS", checks
    assert code == 0 and read(run, "manifest.json")["metrics_missing"] == {}


def test_bad_promql_is_a_configuration_error_before_any_load(prometheus, standin, tmp_path, capsys):
    """Prometheus says bad_data at start: the run refuses with exit 2 and sends no request (it used to run
    the whole load and end with a NODATA check)."""
    from helpers import scrape_value

    from loadkit.cli import main

    (tmp_path / "s.yaml").write_text(f"""\
name: prom
target: {{host: http://127.0.0.1:1}}
metrics:
  - {{name: broken, source: prometheus, url: "{prometheus}", query: 'sum(rate(nope[5s]'}}
users:
  - name: u
    wait: {{constant: 0.02}}
    requests: [{{name: health, path: /health}}]
load: {{users: 2, spawn_rate: 2, duration: 6s}}
checks:
  - "mean(broken) < 1"
""")
    health = r'standin_http_requests_total\{endpoint="/health",method="GET",status="200"\}'
    try:
        before = scrape_value(standin.url, health)
    except AssertionError:  # no /health request yet
        before = 0.0
    t0 = time.time()
    code = main(["run", str(tmp_path / "s.yaml"), "--host", standin.url, "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "metrics broken: the query 'sum(rate(nope[5s]' is not valid PromQL" in err and "parse error" in err
    assert time.time() - t0 < 6  # refused before the 6 s of load
    try:
        after = scrape_value(standin.url, health)
    except AssertionError:
        after = 0.0
    assert after == before  # not one request
