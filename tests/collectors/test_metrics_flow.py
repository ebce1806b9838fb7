"""Collected metrics through a real run: PostgreSQL, the target process and /metrics beside the load."""

import json
import re
import urllib.request

import pytest
from helpers import ROOT, only_run, own_checks, read, temp_database

from loadkit.cli import main
from loadkit.standin import StandinConfig, start_standin


def transactions(url: str) -> float:
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    return float(re.search(r"^standin_db_transactions_total\S* (\S+)$", text, re.M).group(1))


def test_postgres_stand_in_db_tps_per_request_matches_its_own_count(tmp_path, monkeypatch, capsys):
    with temp_database() as dsn, start_standin(StandinConfig(db=dsn)) as target:
        port = target.url.rsplit(":", 1)[1]
        monkeypatch.setenv("TARGET_URL", target.url)
        monkeypatch.setenv("TARGET_PORT", port)
        monkeypatch.setenv("STAGING_DB_DSN", dsn)
        before = transactions(target.url)
        code = main(["run", str(ROOT / "scenarios/demo-postgres.yaml"), "--out", str(tmp_path / "r"), "--quiet",
                     "--set", "load.stages.0.duration=2s", "--set", "load.stages.1.duration=5s"])
        after = transactions(target.url)
    out = capsys.readouterr().out
    assert code == 0, out
    run = only_run(tmp_path / "r")
    manifest, summary = read(run, "manifest.json"), read(run, "summary.json")
    assert manifest["metrics_missing"] == {} and {m["name"] for m in manifest["metrics"]} == {"target", "app", "db"}
    counted = (after - before) / manifest["samples"]  # the stand-in's own transactions per request
    measured = summary["metrics"]["db.tps"]["per_request"]
    assert measured == pytest.approx(counted, rel=0.2), (measured, counted)
    assert summary["metrics"]["target.cpu"]["mean"] > 0
    assert summary["metrics"]["target.cpu_seconds"]["per_request"] > 0
    assert any(k.startswith("app.standin_http_requests_total{") for k in summary["metrics"])
    checks = {c["check"]: c for c in own_checks(read(run, "verdict.json"))}
    assert checks["per_request(db.tps) < 3"]["status"] == "PASS"
    assert checks["per_request(db.tps) < 3"]["observed"] == pytest.approx(measured)
    assert dsn not in json.dumps(manifest)


SCENARIO = """\
name: dbdown
target: {{host: http://127.0.0.1:1}}
metrics:
  - {{name: db, source: postgres, dsn: "postgresql://postgres:hunter2@127.0.0.1:1/test", connect_timeout: 1s}}
users:
  - name: u
    wait: {{constant: 0.05}}
    requests: [{{name: health, path: /health}}]
load: {{users: 2, spawn_rate: 2, duration: 3s}}
checks:
  - {check}
"""


@pytest.mark.parametrize(("check", "code", "status"), [
    ('"per_request(db.tps) < 3"', 1, "NODATA"),
    ('{check: "per_request(db.tps) < 3", nodata: warn}', 0, "WARN"),
])
def test_a_failed_source_never_stops_the_load_and_its_checks_end_nodata(standin, tmp_path, capsys, check, code, status):
    (tmp_path / "s.yaml").write_text(SCENARIO.format(check=check))
    assert main(["run", str(tmp_path / "s.yaml"), "--host", standin.url, "--out", str(tmp_path / "r"), "--quiet"]) == code
    out = capsys.readouterr().out
    run = only_run(tmp_path / "r")
    manifest = read(run, "manifest.json")
    assert manifest["status"] == "complete" and manifest["samples"] > 20  # the load went on
    [result] = own_checks(read(run, "verdict.json"))
    assert result["status"] == status and "metric source 'db' failed" in result["reason"]
    assert "hunter2" not in out and "hunter2" not in (run / "manifest.json").read_text()
    assert "hunter2" not in (run / "verdict.json").read_text()


def test_metric_abort_condition(standin, tmp_path):
    (tmp_path / "s.yaml").write_text(f"""\
name: hot
target: {{host: http://127.0.0.1:1}}
metrics:
  - {{name: gen, source: process, pid: {__import__("os").getpid()}}}
users:
  - name: u
    wait: {{constant: 0}}
    requests: [{{name: health, path: /health}}]
load: {{users: 10, spawn_rate: 10, duration: 30s}}
abort: ["mean(gen.cpu) > 1% for 3s"]
""")
    assert main(["run", str(tmp_path / "s.yaml"), "--host", standin.url, "--out", str(tmp_path / "r"), "--quiet"]) == 1
    manifest = read(only_run(tmp_path / "r"), "manifest.json")
    assert manifest["status"] == "aborted" and manifest["reason"].startswith("abort condition met: mean(gen.cpu) > 1%")
    assert manifest["duration_s"] < 15


def test_per_request_cpu_seconds_of_a_pre_fork_target_is_its_cpu_in_the_window(gunicorn_target, proc_cpu, tmp_path):
    """A real run on gunicorn (2 workers): per_request(target.cpu_seconds) × requests is the CPU /proc saw."""
    import psutil

    url, master = gunicorn_target
    pids = [master] + [p.pid for p in psutil.Process(master).children()]
    (tmp_path / "s.yaml").write_text(f"""\
name: prefork
target: {{host: "{url}"}}
metrics:
  - {{name: target, source: process, port: {url.rsplit(":", 1)[1]}}}
users:
  - name: u
    wait: {{constant: 0}}
    requests: [{{name: burn, path: /burn}}]
load: {{users: 4, spawn_rate: 100, duration: 6s, warmup: 0}}
checks: ["per_request(target.cpu_seconds) < 1"]
""")
    before = proc_cpu(pids)
    assert main(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    after = proc_cpu(pids)
    summary = read(only_run(tmp_path / "r"), "summary.json")
    truth = sum(after[p] - before[p] for p in pids)  # the target is idle before and after the load
    requests = summary["requests"]["total"]
    assert requests > 200 and truth > 1.0
    measured = summary["metrics"]["target.cpu_seconds"]["per_request"] * requests
    assert measured == pytest.approx(truth, rel=0.06), (measured, truth)
    from_rates = summary["metrics"]["target.cpu"]["per_request"] * requests
    assert from_rates == pytest.approx(measured, rel=0.02)


class _Metrics(__import__("http.server").server.BaseHTTPRequestHandler):
    """A /metrics endpoint: a counter that goes up and a gauge at 1; it dies after ``lives`` scrapes."""

    hits = 0
    lives = 5
    die: object = None

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        _Metrics.hits += 1
        if _Metrics.hits == _Metrics.lives:
            __import__("threading").Thread(target=_Metrics.die).start()
        body = f"# TYPE jobs_total counter\njobs_total {_Metrics.hits}\n# TYPE temp gauge\ntemp 1\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_scrape_source_that_dies_mid_run_fails_its_checks(standin, tmp_path, capsys):
    """Dead 2 s into a 6 s run (after 5 scrapes every 0.5 s): its check was judged on those 2 s and PASSed; a
    source that stops delivering is a failed source for the rest of the window, so the check ends NODATA."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    def die() -> None:
        server.shutdown()
        server.server_close()

    _Metrics.hits, _Metrics.die = 0, die

    (tmp_path / "s.yaml").write_text(f"""\
name: dies
target: {{host: http://127.0.0.1:1}}
metrics:
  - {{name: app, source: scrape, url: "http://127.0.0.1:{port}/metrics", interval: 0.5s}}
users:
  - name: u
    wait: {{constant: 0.05}}
    requests: [{{name: health, path: /health}}]
load: {{users: 2, spawn_rate: 10, duration: 6s}}
checks: ["max(app.temp) < 5", "per_request(app.jobs_total) < 5"]
""")
    try:
        code = main(["run", str(tmp_path / "s.yaml"), "--host", standin.url, "--out", str(tmp_path / "r"), "--quiet"])
    finally:
        die()
    run = only_run(tmp_path / "r")
    checks = {c["check"]: c for c in own_checks(read(run, "verdict.json"))}
    assert {c["status"] for c in checks.values()} == {"NODATA"}, checks
    reason = checks["max(app.temp) < 5"]["reason"]
    assert reason.startswith("metric source 'app' failed: cannot reach http://127.0.0.1:") and "no data after" in reason
    after = float(reason.split("no data after ", 1)[1].split(" s", 1)[0])
    assert 1.0 < after < 4.0, reason
    assert code == 1 and "app" in read(run, "manifest.json")["metrics_missing"]
    assert "app.temp" not in read(run, "summary.json")["metrics"]  # the first seconds are no summary


def test_a_dsn_typo_is_refused_before_the_run_and_its_password_printed_nowhere(standin, tmp_path, capsys):
    """``postgresql:/`` for ``postgresql://``: libpq cannot parse it and echoes it whole; it is a configuration
    error (exit 2) found when the scenario is read, shown with its password masked."""
    (tmp_path / "s.yaml").write_text(SCENARIO.format(check='"per_request(db.tps) < 3"').replace(
        "postgresql://postgres:hunter2@127.0.0.1:1/test", "postgresql:/postgres:hunter2@127.0.0.1:1/test"))
    assert main(["validate", str(tmp_path / "s.yaml")]) == 2
    assert main(["run", str(tmp_path / "s.yaml"), "--host", standin.url, "--out", str(tmp_path / "r"), "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert "metrics.0.dsn: metrics db: dsn 'postgresql:/postgres:***@127.0.0.1:1/test' is not a libpq" in err, err
    assert "hunter2" not in out + err
    assert not (tmp_path / "r").exists()  # nothing ran


def test_a_password_libpq_misreads_is_in_no_output_of_the_run(standin, tmp_path, capsys):
    """An unescaped "/" in the password: libpq reads the URL another way, the connection fails at run time,
    and the reason goes to stdout, the manifest, the verdict, report.html and the Markdown summary."""
    scenario = SCENARIO.format(check='"per_request(db.tps) < 3"').replace(
        "postgresql://postgres:hunter2@127.0.0.1:1/test", "postgresql://postgres:hunter2/x@127.0.0.1:1/test")
    (tmp_path / "s.yaml").write_text(scenario)
    code = main(["run", str(tmp_path / "s.yaml"), "--host", standin.url, "--out", str(tmp_path / "r"), "--quiet",
                 "--markdown", str(tmp_path / "summary.md")])
    out, err = capsys.readouterr()
    assert code == 1 and "metric source 'db' failed: cannot connect to postgresql://postgres:***@" in out, out
    run = only_run(tmp_path / "r")
    texts = {"stdout": out, "stderr": err, "markdown": (tmp_path / "summary.md").read_text()}
    texts |= {p.name: p.read_text(errors="replace") for p in run.iterdir() if p.suffix in (".json", ".html", ".md")}
    assert {"manifest.json", "verdict.json", "report.html"} <= set(texts)
    assert [name for name, text in texts.items() if "hunter2" in text] == []


def test_a_run_holds_metric_redirects_to_its_allowed_hosts(standin, tmp_path, capsys):
    """The run gives the sampler the scenario's allow-list: a scrape redirected to a host off it is refused,
    nothing is sent there, and the check on it ends NODATA with the reason."""
    import http.server
    import threading

    hits = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    elsewhere = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)

    class Redirect(Elsewhere):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{elsewhere.server_address[1]}/metrics")
            self.end_headers()

    redirect = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    for server in (elsewhere, redirect):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp_path / "s.yaml").write_text(f"""\
name: redirected
target: {{host: http://127.0.0.1:1, allowed_hosts: [127.0.0.1]}}
metrics:
  - {{name: app, source: scrape, url: "http://127.0.0.1:{redirect.server_address[1]}/metrics"}}
users:
  - name: u
    wait: {{constant: 0.05}}
    requests: [{{name: health, path: /health}}]
load: {{users: 1, spawn_rate: 1, duration: 2s}}
checks: ["max(app.temp) < 5"]
""")
    try:
        code = main(["run", str(tmp_path / "s.yaml"), "--host", standin.url, "--out", str(tmp_path / "r"), "--quiet"])
    finally:
        for server in (elsewhere, redirect):
            server.shutdown()
            server.server_close()
    [check] = own_checks(read(only_run(tmp_path / "r"), "verdict.json"))
    assert code == 1 and check["status"] == "NODATA", check
    assert "refused a redirect to http://localhost:" in check["reason"] and "not in target.allowed_hosts" in check["reason"]
    assert hits == []
