"""Every run tells the truth: hung and collapsing targets fail, healthy runs pass, nothing captured is lost.

Each test reproduces a wrong answer loadkit gave before (issue 10) against a real target.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, SUPPORT, builtin, only_run, own_checks, read, scenario_file

from loadkit.cli import main
from loadkit.run.openmodel import Schedule, intended_counts, planned_duration
from loadkit.scenario.model import OpenLoad, Segment
from loadkit.standin import StandinConfig, start_standin


def run(path: str, host: str, out, *extra: str) -> int:
    return main(["run", path, "--host", host, "--out", str(out), "--quiet", *extra])


def test_a_target_that_freezes_fails_naming_the_stall_and_the_requests_left_in_flight(tmp_path):
    path = scenario_file(tmp_path, """\
        name: freeze
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            wait: {constant: 0.01}
            requests: [{name: health, path: /health}]
        load: {users: 6, spawn_rate: 20, duration: 7s}
        checks: ["p95(latency) < 300ms"]
        """)
    with start_standin(StandinConfig(stall=(3.0, 3600.0))) as target:  # answers for 3 s, then never again
        code = run(path, target.url, tmp_path / "r")
    assert code == 1
    r = only_run(tmp_path / "r")
    verdict, summary = read(r, "verdict.json"), read(r, "summary.json")
    stall = builtin(verdict, "no stall")
    assert stall["status"] == "FAIL" and "no request completed from " in stall["reason"]
    assert summary["stalls"] and 2.5 < summary["stalls"][0]["from_s"] < 4.0 and summary["stalls"][0]["to_s"] >= 6.5
    assert summary["inflight_at_end"] == 6 and "6 request(s) were still in flight" in stall["reason"]
    samples = pd.read_parquet(r / "samples.parquet")
    inflight = samples[samples.error == "in flight at end of run"]
    assert len(inflight) == 6 and (inflight.latency_ms > 3000).all() and (inflight.status == 0).all()
    assert read(r, "manifest.json")["samples"] == read(r, "manifest.json")["locust_totals"]["requests"]


def test_a_latency_abort_rule_fires_on_a_target_slower_than_its_window(tmp_path):
    path = scenario_file(tmp_path, """\
        name: slow
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            requests: [{name: search, path: "/faq/search?q=x"}]
        load: {users: 4, spawn_rate: 4, duration: 60s}
        abort: ["p95(latency) > 1s for 3s"]
        """)
    started = time.monotonic()
    with start_standin(StandinConfig(latency_ms={"/faq/search": 4000})) as target:
        code = run(path, target.url, tmp_path / "r")
    assert code == 1 and time.monotonic() - started < 25
    manifest = read(only_run(tmp_path / "r"), "manifest.json")
    assert manifest["status"] == "aborted" and "p95(latency) > 1s for 3s" in manifest["reason"]
    assert manifest["duration_s"] < 3 + 3  # within the window plus a few seconds, although no request completed


@pytest.mark.parametrize("seed", [0, 7, 12345])
def test_poisson_arrivals_pass_on_a_healthy_target_whatever_the_seed(standin, tmp_path, seed):
    path = scenario_file(tmp_path, f"""\
        name: poisson
        seed: {seed}
        target: {{host: http://127.0.0.1:1}}
        users:
          - name: u
            requests: [{{name: health, path: /health}}]
        load:
          arrival: {{rate: 60/s, duration: 4s}}
          arrivals: poisson
          concurrency: 30
        checks: ["error_rate < 1%"]
        """)
    assert run(path, standin.url, tmp_path / "r") == 0
    r = only_run(tmp_path / "r")
    om = read(r, "summary.json")["open_model"]
    assert om["started"] == om["scheduled"] and om["issued"] == om["intended"] and om["late"] == 0
    assert builtin(read(r, "verdict.json"), "open-model schedule")["status"] == "PASS"


def test_replay_intended_and_issued_bin_alike_on_interval_boundaries():
    # 300 segments of 0.1 s (a 30 s profile replayed 10x faster): float sums drift off the boundaries
    load = OpenLoad(tuple(Segment(0.1, 10.0 + (i % 7), 10.0 + (i % 7)) for i in range(300)), 20)
    assert planned_duration(load) == 30.0
    started = 1_796_000_000.123
    sched = Schedule(load, 0, 1, 3, [("r", 1.0)])
    sched.begin(started)
    issued = np.array([t for t, _ in iter(sched.next, None)])
    counts = np.bincount(((issued - started) // 1.0).astype(int), minlength=30)[:30]
    assert counts.tolist() == intended_counts(load, 1.0, 30.0, 3, started).tolist()


def test_an_exact_open_model_rate_is_measured_over_the_scheduled_duration(standin, tmp_path):
    path = scenario_file(tmp_path, """\
        name: exact
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            requests: [{name: health, path: /health}]
        load: {arrival: {rate: 80/s, duration: 5s}, concurrency: 20}
        checks: ["rps >= 80"]
        """)
    assert run(path, standin.url, tmp_path / "r") == 0
    s = read(only_run(tmp_path / "r"), "summary.json")
    assert s["requests"]["rps"] == pytest.approx(80.0, abs=0.01) and s["window"]["seconds"] == 5.0


def test_cpu_starved_generator_is_an_error_of_the_instrument_not_a_verdict_on_the_target(tmp_path):
    """The generator pinned to one core with a busy neighbour cannot reach 20k requests/s: ERROR, exit 3."""
    server = subprocess.Popen(["taskset", "-c", "1", sys.executable, str(SUPPORT / "fixed_latency_server.py"), "0"],
                              stdout=subprocess.PIPE, text=True)
    hog = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])
    try:
        port = int(server.stdout.readline())
        path = scenario_file(tmp_path, """\
            name: starved
            target: {host: http://127.0.0.1:1}
            users:
              - name: u
                requests: [{name: root, path: /}]
            load: {arrival: {rate: 20000/s, duration: 5s}, concurrency: 400}
            checks: ["error_rate < 1%"]
            """)
        proc = subprocess.run(["taskset", "-c", "0", sys.executable, "-m", "loadkit", "run", path, "--host",
                               f"http://127.0.0.1:{port}", "--out", str(tmp_path / "r"), "--quiet"],
                              capture_output=True, text=True, cwd=ROOT, timeout=90, env={**os.environ})
    finally:
        hog.kill()
        server.kill()
    assert proc.returncode == 3, proc.stdout + proc.stderr
    verdict = read(only_run(tmp_path / "r"), "verdict.json")
    assert verdict["status"] == "ERROR" and "the load generator could not keep the schedule" in verdict["reason"]


def test_requests_of_on_start_and_on_stop_are_all_captured_and_every_endpoint_summarised(standin, tmp_path):
    (tmp_path / "journey.py").write_text("""\
from locust import HttpUser, constant, task


class Shopper(HttpUser):
    wait_time = constant(0.05)

    def on_start(self):
        self.client.post("/tickets", json={"subject": "login", "body": "b"}, name="login")

    @task
    def browse(self):
        self.client.get("/health", name="browse")

    def on_stop(self):
        self.client.get("/tickets?limit=1", name="logout")
""")
    path = scenario_file(tmp_path, f"""\
        name: journey
        target: {{host: http://127.0.0.1:1}}
        users:
          - locust: {tmp_path}/journey.py:Shopper
        load: {{users: 4, spawn_rate: 4, duration: 3s, warmup: 2s}}
        checks: ["error_rate < 1%"]
        """)
    assert run(path, standin.url, tmp_path / "r") == 0
    r = only_run(tmp_path / "r")
    manifest, summary = read(r, "manifest.json"), read(r, "summary.json")
    samples = pd.read_parquet(r / "samples.parquet")
    assert len(samples) == manifest["samples"] == manifest["locust_totals"]["requests"]
    counts = collections.Counter(samples.endpoint)
    assert counts["login"] == 4 and counts["logout"] == 4
    assert {"POST login", "GET browse", "GET logout"} <= set(summary["run"]["endpoints"])
    assert {"POST login", "GET browse", "GET logout"} <= set(summary["endpoints"])  # the window lists every one
    assert summary["endpoints"]["POST login"]["total"] == 0  # logins fell in the warmup: listed, not judged


def test_the_same_name_with_two_methods_is_two_endpoints(standin, tmp_path):
    path = scenario_file(tmp_path, """\
        name: methods
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            wait: {constant: 0.02}
            requests:
              - {name: ticket, path: /tickets/1}
              - {name: ticket, method: POST, path: /tickets, json: {subject: s, body: b}, expect: {status: 201}}
        load: {users: 2, spawn_rate: 2, duration: 3s}
        checks: ["p95(latency, GET ticket) < 1s", "p95(latency, POST ticket) < 1s"]
        """)
    assert run(path, standin.url, tmp_path / "r") == 0
    r = only_run(tmp_path / "r")
    eps = read(r, "summary.json")["endpoints"]
    assert {"GET ticket", "POST ticket"} <= set(eps) and eps["GET ticket"]["method"] == "GET"
    assert [c["status"] for c in own_checks(read(r, "verdict.json"))] == ["PASS", "PASS"]


def test_a_check_naming_a_name_used_with_two_methods_says_which_to_pick(standin, tmp_path):
    (tmp_path / "two.py").write_text("""\
from locust import FastHttpUser, constant, task


class Two(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def both(self):
        self.client.get("/health", name="sign-in")
        self.client.post("/tickets", json={"subject": "s", "body": "b"}, name="sign-in")
""")
    path = scenario_file(tmp_path, f"""\
        name: ambiguous
        target: {{host: http://127.0.0.1:1}}
        users: [{{locust: {tmp_path}/two.py:Two}}]
        load: {{users: 2, spawn_rate: 2, duration: 2s}}
        checks: ["p95(latency, sign-in) < 1s"]
        """)
    assert run(path, standin.url, tmp_path / "r") == 1
    [check] = own_checks(read(only_run(tmp_path / "r"), "verdict.json"))
    assert check["status"] == "NODATA" and "GET sign-in, POST sign-in" in check["reason"]


def test_uncaught_exceptions_in_user_code_are_counted_located_and_fail_the_run(standin, tmp_path):
    (tmp_path / "broken.py").write_text("""\
from locust import HttpUser, constant, task


class Broken(HttpUser):
    wait_time = constant(0.05)

    @task
    def checkout(self):
        self.client.get("/health", name="health")
        token = {}["token"]  # a bug in the journey
""")
    path = scenario_file(tmp_path, f"""\
        name: broken
        target: {{host: http://127.0.0.1:1}}
        users: [{{locust: {tmp_path}/broken.py:Broken}}]
        load: {{users: 2, spawn_rate: 2, duration: 2s}}
        checks: ["error_rate < 1%"]
        """)
    assert run(path, standin.url, tmp_path / "r") == 1
    r = only_run(tmp_path / "r")
    exc = read(r, "summary.json")["exceptions"]
    assert exc and exc[0]["count"] > 10 and exc[0]["message"] == "KeyError: 'token'"
    assert exc[0]["where"] == "broken.py:10 in checkout"
    check = builtin(read(r, "verdict.json"), "no uncaught exception")
    assert check["status"] == "FAIL" and "uncaught exception(s) in user code" in check["reason"]
    assert "broken.py:10 in checkout" in (r / "report.html").read_text()


def test_a_real_logs_peak_replays_on_time_with_the_windows_own_mix(standin, tmp_path):
    """The WordPress log's busiest 10 minutes, 30x faster at 20x the rate: every start on time, the mix of those 10 minutes
    (the mapped endpoints' shares; the rest redistributed over them)."""
    from helpers import real_log

    from loadkit.profiles import profile_from_logs, save_profile
    from loadkit.scenario import load_scenario

    save_profile(profile_from_logs([str(real_log("wordpress-2013.access.log.gz"))]), tmp_path / "wp.csv", chart=False)
    endpoints = {"HEAD /": "head", "GET /": "home", "POST /wp-admin/admin-ajax.php": "ajax",
                 "GET /wp-includes/js/jquery/jquery.js?ver={ver}": "jquery"}
    requests = "".join(f"      - {{name: {n}, path: \"/health?e={n}\"}}\n" for n in endpoints.values())
    mapping = "".join(f'    "{k}": {v}\n' for k, v in endpoints.items())
    path = tmp_path / "replay.yaml"
    path.write_text("name: peak\ntarget: {host: http://127.0.0.1:1}\nusers:\n  - name: u\n    requests:\n" + requests
                    + "load:\n  replay: wp.csv\n  window: peak-10m\n  speedup: 30\n  scale: 20\n  unmapped: redistribute\n  concurrency: 50\n"
                    + "  map:\n" + mapping + 'checks: ["error_rate < 1%"]\n')
    load = load_scenario(str(path)).load.open
    # what the window's blocks ask for: each block's requests spread by that block's own mix
    expected: collections.Counter = collections.Counter()
    edges = [b.start for b in load.mixes] + [float("inf")]
    t = 0.0
    for seg in load.segments:
        i = max(k for k in range(len(load.mixes)) if edges[k] <= t + 1e-9)
        weights = dict(load.mixes[i].weights)
        for name, w in weights.items():
            expected[name] += seg.requests * w / sum(weights.values())
        t += seg.duration
    assert run(str(path), standin.url, tmp_path / "r") == 0
    r = only_run(tmp_path / "r")
    om = read(r, "summary.json")["open_model"]
    assert om["started"] == om["scheduled"] > 100 and om["issued"] == om["intended"] and om["late"] == 0
    counts = collections.Counter(pd.read_parquet(r / "samples.parquet").endpoint)
    assert sum(counts.values()) == om["scheduled"]
    for name, want in expected.items():  # exact to a request or two per block, not just on average
        assert abs(counts[name] - want) <= 1 + len(load.mixes) ** 0.5, (name, counts[name], want)  # ±1 a block


def test_request_timeouts_end_hung_requests_on_time_whatever_timeouts_wait_ahead_of_them(tmp_path):
    """Against a server that answers after 3 s: the request with a 0.3 s timeout fails at 0.3 s (plus the
    watchdog's tick) even while requests with a 2 s timeout, started earlier, are still waiting; those fail
    at 2 s; the failure says which timeout ran out. Each kind ends as often as the run allows, none lost."""
    from loadkit.run.guard import TICK_S

    server = subprocess.Popen([sys.executable, str(SUPPORT / "fixed_latency_server.py"), "3"],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        path = scenario_file(tmp_path, """\
            name: timeouts
            target: {host: http://127.0.0.1:1}
            users:
              - name: patient
                wait: {constant: 0}
                requests: [{name: slow, path: /slow, timeout: 2s}]
              - name: hasty
                wait: {constant: 0}
                requests: [{name: quick, path: /quick, timeout: 0.3s}]
            load: {users: 4, spawn_rate: 100, duration: 4.5s}
            """)
        run(path, f"http://127.0.0.1:{port}", tmp_path / "r")
    finally:
        server.kill()
    samples = pd.read_parquet(only_run(tmp_path / "r") / "samples.parquet")
    timed_out = samples[samples["error"].str.contains("RequestTimeout", na=False)]
    for endpoint, seconds in (("quick", 0.3), ("slow", 2.0)):
        got = timed_out[timed_out["endpoint"] == endpoint]
        assert len(got) >= 2, samples.groupby(["endpoint", "error"]).size()
        assert (got["error"] == f"RequestTimeout: no answer within {seconds:g}s (timeout)").all()
        assert got["latency_ms"].min() >= seconds * 1000 - 1
        assert got["latency_ms"].max() <= (seconds + TICK_S) * 1000 + 150  # the tick, and a busy machine
    assert (samples["status"] == 200).sum() == 0  # nothing waited out the 3 s answer
