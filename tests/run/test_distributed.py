"""Workers on separate hosts: two network namespaces made here, each a host with its own address on a
veth pair; the master and the target listen in the root namespace on a veth address. Nothing else is
reached: the scenario allows only that address."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import free_port, only_run, read, scenario_file

from loadkit.standin import StandinConfig, start_standin

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Hosts:
    names: tuple[str, ...]  # namespaces
    addresses: tuple[str, ...]  # each host's own address
    server: str  # the root namespace's address on the first veth pair: master and target


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail("this test makes network namespaces: it needs root and iproute2 (`ip`)")
    net = 200 + os.getpid() % 50  # parallel suites on one machine use different subnets
    tag = f"lk{os.getpid() % 100000}"
    names, addresses = [], []
    try:
        for i in (1, 2):
            ns, root_if, ns_if = f"{tag}h{i}", f"{tag}r{i}", f"{tag}n{i}"
            _ip("netns", "add", ns)
            names.append(ns)
            _ip("link", "add", root_if, "type", "veth", "peer", "name", ns_if)
            _ip("link", "set", ns_if, "netns", ns)
            _ip("addr", "add", f"10.{net}.{i}.1/24", "dev", root_if)
            _ip("link", "set", root_if, "up")
            _ip("-n", ns, "addr", "add", f"10.{net}.{i}.2/24", "dev", ns_if)
            _ip("-n", ns, "link", "set", ns_if, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "default", "via", f"10.{net}.{i}.1")
            addresses.append(f"10.{net}.{i}.2")
        yield Hosts(tuple(names), tuple(addresses), f"10.{net}.1.1")
    finally:
        for ns in names:
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # takes its veth pair along
        for i in (1, 2):
            subprocess.run(["ip", "link", "del", f"{tag}r{i}"], capture_output=True)


SCENARIO = """\
    name: far-workers
    target: {{host: "http://{server}:{port}", allowed_hosts: ["{server}"]}}
    users:
      - name: reader
        wait: {{constant: 0.02}}
        requests:
          - {{name: faq, path: "/faq/search?q=login"}}
    load: {{users: 8, spawn_rate: 100, duration: {duration}}}
    checks: ["error_rate < 1%"]
    """


OPEN = """\
    name: far-open
    target: {{host: "http://{server}:{port}", allowed_hosts: ["{server}"]}}
    users:
      - name: reader
        requests:
          - {{name: faq, path: "/faq/search?q=login"}}
    load:
      arrival: {{rate: 100/s, duration: 30s}}
      concurrency: 40
    checks: ["error_rate < 1%"]
    """


def _master(path: str, hosts: Hosts, target: str, port: int, out: Path, n: int = 2) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "loadkit", "run", path, "--host", target, "--out", str(out), "--quiet",
         "--expect-workers", str(n), "--master-bind", f"{hosts.server}:{port}", "--worker-timeout", "40"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _worker(ns: str, path: str, hosts: Hosts, port: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-m", "loadkit", "worker", path,
         "--master", f"{hosts.server}:{port}", "--max-seconds", "90", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _served(target: str) -> float:
    """Requests the target answered on the scenario's endpoint (its own counter; /health was its start probe)."""
    import urllib.request

    text = urllib.request.urlopen(target + "/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("standin_http_requests_total{") and 'endpoint="/faq/search"' in line)


def _finish(proc: subprocess.Popen, timeout: float = 90) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out


def test_workers_on_two_hosts_every_sample_accounted_for(hosts, tmp_path):
    with start_standin(StandinConfig(host=hosts.server)) as target:
        port = free_port()
        path = scenario_file(tmp_path, SCENARIO.format(server=hosts.server, port=target.url.rsplit(":", 1)[1],
                                                       duration="6s"))
        master = _master(path, hosts, target.url, port, tmp_path / "res")
        workers = [_worker(ns, path, hosts, port) for ns in hosts.names]
        code, out = _finish(master)
        results = [_finish(w, 30) for w in workers]
        assert code == 0, out
        assert all(c == 0 for c, _ in results), results
        run = only_run(tmp_path / "res")
        manifest = read(run, "manifest.json")
        samples = pd.read_parquet(run / "samples.parquet")
        assert manifest["status"] == "complete" and manifest["workers"] == 2
        assert len(samples) == manifest["samples"] == manifest["locust_totals"]["requests"] > 100
        assert _served(target.url) == len(samples)  # every request the target answered is a sample, no more
        joined = {m["at"].split(",")[0] for m in manifest["worker_nodes"] if not m["refused"]}
        assert joined == set(hosts.addresses)  # each worker really ran on its own host
        per_worker = samples.groupby("worker").size()
        assert len(per_worker) == 2 and per_worker.min() > 30
        assert sum(m["rows"] for m in manifest["worker_nodes"]) == len(samples)


def test_a_worker_killed_mid_run_is_an_error_naming_it(hosts, tmp_path):
    """An open model split over two hosts; one host's worker dies: the run stops soon, ERROR, naming the
    worker by address and pid, and rate.parquet shows its share of the schedule falling to zero."""
    with start_standin(StandinConfig(host=hosts.server)) as target:
        port = free_port()
        path = scenario_file(tmp_path, OPEN.format(server=hosts.server, port=target.url.rsplit(":", 1)[1]))
        master = _master(path, hosts, target.url, port, tmp_path / "res")
        workers = [_worker(ns, path, hosts, port) for ns in hosts.names]
        victim = workers[1]
        deadline = time.monotonic() + 60
        while _served(target.url) < 400 and time.monotonic() < deadline:  # the load is flowing
            time.sleep(0.2)
        killed = time.monotonic()
        os.kill(victim.pid, signal.SIGKILL)  # `ip netns exec` execs the worker: same pid
        code, out = _finish(master)
        _finish(workers[0], 30)
        assert code == 3, out
        assert time.monotonic() - killed < 20  # stopped soon after, not at the planned end
        run = only_run(tmp_path / "res")
        manifest = read(run, "manifest.json")
        assert manifest["status"] == "error"
        why = manifest["reason"]
        assert re.search(rf"lost worker \d \({re.escape(hosts.addresses[1])}, pid {victim.pid}\)", why), why
        assert "rows had arrived" in why
        assert "verdict: ERROR" in out
        victim_id = next(m["id"] for m in manifest["worker_nodes"] if m["at"].startswith(hosts.addresses[1] + ","))
        other_id = next(m["id"] for m in manifest["worker_nodes"] if m["at"].startswith(hosts.addresses[0] + ","))
        rate = pd.read_parquet(run / "rate.parquet")
        mine, theirs = rate[f"achieved {victim_id}"].to_numpy(), rate[f"achieved {other_id}"].to_numpy()
        assert mine[:2].min() > 40 and theirs[:2].min() > 40  # each issued its half while both ran
        gone = np.flatnonzero((mine == 0) & (theirs > 30))
        assert gone.size >= 1, rate  # after the kill the victim's share is visibly missing


def test_a_worker_with_another_scenario_is_refused(hosts, tmp_path):
    with start_standin(StandinConfig(host=hosts.server)) as target:
        port = free_port()
        path = scenario_file(tmp_path, SCENARIO.format(server=hosts.server, port=target.url.rsplit(":", 1)[1],
                                                       duration="3s"))
        master = _master(path, hosts, target.url, port, tmp_path / "res", n=1)
        odd = _worker(hosts.names[1], path, hosts, port, "--set", "load.users=9")
        code, odd_out = _finish(odd, 60)
        assert code == 2, odd_out
        assert "the master refused this worker: its scenario (content and --set) is" in odd_out
        good = _worker(hosts.names[0], path, hosts, port)
        code, out = _finish(master)
        assert code == 0, out
        assert _finish(good, 30)[0] == 0
        manifest = read(only_run(tmp_path / "res"), "manifest.json")
        refused = [m for m in manifest["worker_nodes"] if m["refused"]]
        assert len(refused) == 1 and "scenario" in refused[0]["reason"]
        assert [m["at"].split(",")[0] for m in manifest["worker_nodes"] if not m["refused"]] == [hosts.addresses[0]]
