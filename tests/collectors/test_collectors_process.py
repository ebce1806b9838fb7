"""process and host sources against real processes (psutil)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest
from helpers import load

from loadkit.collectors import MetricSpec, make_collector

# 50 ms of CPU then 50 ms of sleep: half a core on an idle machine. On a busy one it gets
# less, so it also writes the CPU time it got (its own clock) to compare with.
BURNER = """
import sys, time
out = sys.argv[1] if len(sys.argv) > 1 else None
while True:
    t0 = time.process_time()
    while time.process_time() - t0 < 0.05:
        pass
    if out:
        with open(out + ".tmp", "w") as f:
            f.write(repr((time.time(), time.process_time())))
        __import__("os").replace(out + ".tmp", out)
    time.sleep(0.05)
"""


def own_cpu(path) -> tuple[float, float]:
    import ast

    return ast.literal_eval(path.read_text())


def values(rows, metric):
    return [v for _, m, _, v in rows if m == metric]


def collector(**options):
    return make_collector(MetricSpec("target", "process", options), {}, time.time)


def test_cpu_of_a_child_burning_half_a_core(tmp_path):
    report = tmp_path / "cpu"
    proc = subprocess.Popen([sys.executable, "-c", BURNER, str(report)])
    try:
        while not report.exists():
            time.sleep(0.05)
        c = collector(pid=proc.pid)
        t0, c0 = own_cpu(report)
        assert values(c.start(time.time()), "target.cpu_seconds") == [0.0]  # the baseline, to interpolate from
        time.sleep(2.0)
        rows = c.sample(time.time())
        t1, c1 = own_cpu(report)
        assert c.missing is None
        (cpu,) = values(rows, "target.cpu")
        expected = 100.0 * (c1 - c0) / (t1 - t0)  # 50 on an idle machine
        assert abs(cpu - expected) <= 10.0, (cpu, expected)
        assert expected < 45 or 40.0 <= cpu <= 60.0, cpu
        (used,) = values(rows, "target.cpu_seconds")
        assert abs(used - (c1 - c0)) <= 0.2
        assert values(rows, "target.rss_bytes")[0] > 1_000_000
        assert values(rows, "target.threads") == [1.0]
        assert values(rows, "target.open_files")[0] >= 3
    finally:
        proc.kill()
        proc.wait()


def test_children_count_too():
    parent = subprocess.Popen([sys.executable, "-c",
                               f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BURNER!r}])"])
    try:
        time.sleep(0.5)
        c = collector(pid=parent.pid)
        c.start(time.time())
        time.sleep(1.5)
        (cpu,) = values(c.sample(time.time()), "target.cpu")
        assert 10.0 <= cpu <= 60.0, cpu  # the child's CPU is counted (the parent only waits)
    finally:
        import psutil

        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()


def test_by_port_finds_the_standin(standin):
    port = int(standin.url.rsplit(":", 1)[1])
    c = collector(port=port)
    c.start(time.time())
    rows = c.sample(time.time())
    assert c.missing is None
    assert [r.pid for r in c._roots] == [standin.pid]
    assert values(rows, "target.rss_bytes")[0] > 1_000_000


def test_pid_file(tmp_path):
    (tmp_path / "app.pid").write_text(f"{os.getpid()}\n")
    c = collector(pid_file=str(tmp_path / "app.pid"))
    c.start(time.time())
    assert values(c.sample(time.time()), "target.rss_bytes")
    bad = collector(pid_file=str(tmp_path / "nope.pid"))
    assert bad.start(time.time()) == [] and "cannot read a pid" in bad.missing


def test_nobody_listening_is_missing():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening
        c = collector(port=port)
        c.start(time.time())
    assert c.missing.startswith(f"no process is listening on TCP port {port}")
    assert c.sample(time.time()) == [] and c.stop(time.time()) == []


def test_a_process_that_exits_is_missing_with_its_reason():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    c = collector(pid=proc.pid)
    c.start(time.time())
    proc.wait()  # (gevent reaps children itself, so no zombie case here; _alive() handles zombies)
    assert c.sample(time.time()) == []
    assert c.missing == f"process {proc.pid} exited"
    assert c.sample(time.time()) == [] and c.stop(time.time()) == []
    proc.wait()


def test_unknown_pid_is_missing():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    c = collector(pid=proc.pid)
    assert c.start(time.time()) == []
    assert c.missing == f"process pid {proc.pid} does not exist"


def test_host_cpu_is_percent_of_one_core():
    c = make_collector(MetricSpec("host", "host"), {}, time.time)
    c.start(time.time())
    time.sleep(0.5)
    rows = c.sample(time.time())
    (cpu,) = values(rows, "host.cpu")
    assert 0.0 <= cpu <= 100.0 * os.cpu_count() + 5
    assert values(rows, "host.rss_bytes")[0] > 0
    assert values(rows, "host.threads")[0] > 10
    assert values(rows, "host.open_files")[0] > 10


def test_a_pre_fork_server_by_port_is_measured_whole(gunicorn_target, proc_cpu):
    """Master and both workers hold the listening socket: the CPU is the sum over all three, as /proc says."""
    url, master = gunicorn_target
    pids = [master] + [p.pid for p in psutil.Process(master).children()]
    assert len(pids) == 3
    c = collector(port=int(url.rsplit(":", 1)[1]))
    before = proc_cpu(pids)
    t0 = time.time()
    c.start(t0)
    sent = load(url, 3.0, workers=4)
    t1 = time.time()
    rows = c.sample(t1)
    after = proc_cpu(pids)
    assert c.missing is None
    assert sorted(p.pid for p in c._tree()) == sorted(pids)
    per_process = {pid: after[pid] - before[pid] for pid in pids}
    truth = sum(per_process.values())
    assert sum(sent.values()) > 100
    assert all(per_process[w] > 0.2 * truth for w in pids[1:]), per_process  # both workers did work
    (used,) = values(rows, "target.cpu_seconds")
    assert used == pytest.approx(truth, rel=0.10), (used, truth, per_process)
    (cpu,) = values(rows, "target.cpu")
    assert cpu == pytest.approx(100.0 * used / (t1 - t0), rel=1e-6)


SPIN = "while True: pass"  # one thread, always running: 100 % of one core at most


def kept(rows, final, collector):
    """The rows a run keeps: those of the samples but the ones the final rows replaced, then the final rows."""
    return [r for r in rows if getattr(collector, "superseded", {}).get((r[1], r[2])) != r[0]] + final


def test_a_last_read_right_after_the_one_before_is_no_spike():
    """A stop 23 ms after the last sample (read 100 ms late) read 435 % for one thread: now merged, ≤ 100 %."""
    proc = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        time.sleep(0.3)
        c = make_collector(MetricSpec("target", "process", {"pid": proc.pid}, interval=1.0), {}, time.time)
        t0 = time.time()
        rows = c.start(t0)
        time.sleep(1.0)
        t1 = time.time()
        rows += c.sample(t1)
        time.sleep(0.1)
        rows = kept(rows, c.stop(t1 + 0.023), c)
    finally:
        proc.kill()
        proc.wait()
    cpu = sorted((t, v) for t, m, _, v in rows if m == "target.cpu")
    assert cpu and max(v for _, v in cpu) <= 105.0, cpu
    spans = [b - a for a, b in zip([t0] + [t for t, _ in cpu], [t for t, _ in cpu], strict=False)]
    assert min(spans) >= 0.5, spans  # no rate over less than half an interval
    used = max(v for _, m, _, v in rows if m == "target.cpu_seconds")
    assert sum(v * s / 100 for (_, v), s in zip(cpu, spans, strict=True)) == pytest.approx(used, abs=0.02)
