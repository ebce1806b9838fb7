"""Faults and broken files: nothing the user had is lost or half-written, and no fault ends as PASS.

Each case reproduces a way loadkit was broken (issue 13) and runs for real.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from helpers import ROOT, only_run, read, scenario_file

from loadkit.baseline import BaselineStore
from loadkit.cli import main

FAST = """\
    name: fast
    target: {host: http://127.0.0.1:1}
    users:
      - name: u
        wait: {constant: 0.02}
        requests: [{name: health, path: /health}]
    load: {users: 2, spawn_rate: 2, duration: 2s}
    checks: ["error_rate < 1%"]
    compare: ["p95(latency) <= +50%"]
    """


def run(path, host, out, *extra) -> int:
    return main(["run", str(path), "--host", host, "--out", str(out), "--quiet", *extra])


def test_an_open_model_against_a_target_that_stops_answering_fails(tmp_path):
    path = scenario_file(tmp_path, """\
        name: hang
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            requests: [{name: health, path: /health}]
        load: {arrival: {rate: 20/s, duration: 6s}, concurrency: 5}
        timeout: 3s
        checks: ["error_rate < 100%"]
        """)
    from loadkit.standin import StandinConfig, start_standin

    with start_standin(StandinConfig(stall=(3.0, 3600.0))) as target:
        code = run(path, target.url, tmp_path / "r")
    verdict = read(only_run(tmp_path / "r"), "verdict.json")
    assert code == 1 and verdict["status"] == "FAIL", verdict["reason"]
    assert "too slow for the planned rate" in verdict["reason"] or "no request completed" in verdict["reason"]


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: d.update(aggregates={}), "aggregates are missing or empty"),
    (lambda d: d.update(aggregates=None), "aggregates are missing or empty"),
    (lambda d: d["aggregates"].update({"p95(latency)": -3.0}), "negative"),
    (lambda d: d["aggregates"].update({"error_rate": 7}), "outside 0..1"),
    (lambda d: [1, 2, 3], "not a baseline run"),
    (lambda d: "text", "not a baseline run"),
])
def test_a_damaged_baseline_is_refused_with_its_path_before_any_load(standin, tmp_path, capsys, damage, message):
    path = scenario_file(tmp_path, FAST)
    base = tmp_path / "baselines"
    assert run(path, standin.url, tmp_path / "a", "--baselines", str(base), "--promote-on-pass") == 0
    [record] = (base / "fast" / "staging").glob("*.json")
    doc = json.loads(record.read_text())
    out = damage(doc)
    record.write_text(json.dumps(doc if out is None else out))
    capsys.readouterr()
    started = time.monotonic()
    assert run(path, standin.url, tmp_path / "b", "--baselines", str(base)) == 2
    err = capsys.readouterr().err
    assert str(record) in err and message in err and time.monotonic() - started < 5
    assert not (tmp_path / "b").exists()  # refused before a run folder, let alone a load


def test_a_regression_cannot_be_laundered_into_the_baseline(standin, tmp_path, capsys):
    from loadkit.standin import StandinConfig, start_standin

    path = scenario_file(tmp_path, FAST)
    base = tmp_path / "baselines"
    for i in range(3):
        assert run(path, standin.url, tmp_path / f"ok{i}", "--baselines", str(base), "--promote-on-pass") == 0
    with start_standin(StandinConfig(latency_ms={"/health": 60})) as slow:
        assert run(path, slow.url, tmp_path / "slow", "--baselines", str(base)) == 1
    slow_run = only_run(tmp_path / "slow")
    assert main(["compare", str(slow_run), "--baselines", str(tmp_path / "empty")]) == 0  # no baseline: reported only
    assert read(slow_run, "verdict.json")["status"] != "FAIL"
    capsys.readouterr()
    assert main(["baseline", "promote", str(slow_run), "--baselines", str(base)]) == 2
    assert "judged against the fast/staging baseline it would join" in capsys.readouterr().err
    assert len(list((base / "fast" / "staging").glob("*.json"))) == 3


PROMOTER = """
import json, shutil, sys, time
from pathlib import Path
from loadkit.baseline import BaselineStore
runs, base, stop = [Path(p) for p in sys.argv[1:4]], Path(sys.argv[4]), time.time() + float(sys.argv[5])
store, i = BaselineStore(base, keep=1), 0
while time.time() < stop:
    copy = base.parent / "copies" / f"c{i}"
    shutil.copytree(runs[i % 3], copy)
    m = json.loads((copy / "manifest.json").read_text())
    m["run_id"] = f"c{i}"
    (copy / "manifest.json").write_text(json.dumps(m))
    store.promote(copy, "staging", time.time(), force=True)
    i += 1
print(i)
"""


def test_readers_never_fail_while_another_process_promotes_and_prunes(standin, tmp_path):
    path = scenario_file(tmp_path, FAST)
    base = tmp_path / "baselines"
    runs = []
    for i in range(3):
        assert run(path, standin.url, tmp_path / f"r{i}", "--baselines", str(base)) == 0
        runs.append(only_run(tmp_path / f"r{i}"))
    BaselineStore(base, keep=1).promote(runs[0], "staging", time.time(), force=True)
    promoter = subprocess.Popen([sys.executable, "-c", PROMOTER, *map(str, runs), str(base), "6"],
                                stdout=subprocess.PIPE, text=True, cwd=ROOT)
    errors: list[BaseException] = []
    reads = 0
    stop = time.monotonic() + 6
    while time.monotonic() < stop:
        try:
            assert len(BaselineStore(base, keep=1).runs("fast", "staging")) == 1
            reads += 1
        except Exception as exc:  # noqa: BLE001 - any failure of a reader is the defect
            errors.append(exc)
    promotions = int(promoter.communicate(timeout=30)[0])
    assert not errors, errors[:3]
    assert reads > 100 and promotions > 20, (reads, promotions)


def test_a_read_only_baseline_folder_is_refused_before_the_load_when_promotion_is_asked(standin, tmp_path, capsys):
    if os.geteuid() == 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(ro)], check=True)
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
    try:
        path = scenario_file(tmp_path, FAST)
        assert run(path, standin.url, tmp_path / "r", "--baselines", str(ro / "baselines"), "--promote-on-pass") == 2
        assert "not writable" in capsys.readouterr().err and not (tmp_path / "r").exists()
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(ro)], check=False)


def test_a_full_disk_is_said_the_run_marked_error_and_the_samples_kept(standin, tmp_path):
    """A 600 kB filesystem fills with samples: exit 3, "the disk is full", parts readable, no stray temp file."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a small tmpfs and needs root (CI runs as root)")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)], check=True)
    try:
        path = scenario_file(tmp_path, FAST.replace("duration: 2s", "duration: 30s").replace("constant: 0.02",
                                                                                               "constant: 0"))
        proc = subprocess.run([sys.executable, "-m", "loadkit", "run", path, "--host", standin.url, "--out",
                               str(disk / "results"), "--quiet"], capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert proc.returncode == 3, proc.stderr
        assert "the disk is full" in proc.stderr and "Traceback" not in proc.stderr
        r = only_run(disk / "results")
        manifest = read(r, "manifest.json")
        assert manifest["status"] == "error" and "the disk is full" in manifest["reason"]
        import pyarrow.parquet as pq

        parts = sorted((r / "samples.parts").glob("part-*.parquet"))
        assert parts and sum(pq.read_metadata(p).num_rows for p in parts) > 0
        assert not [p for p in r.rglob(".*.tmp")]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_kill_9_before_the_end_keeps_the_samples_of_the_first_seconds(standin, tmp_path):
    path = scenario_file(tmp_path, FAST.replace("duration: 2s", "duration: 30s"))
    proc = subprocess.Popen([sys.executable, "-m", "loadkit", "run", path, "--host", standin.url, "--out",
                             str(tmp_path / "r"), "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(6)
    proc.kill()
    proc.wait()
    r = only_run(tmp_path / "r")
    import pyarrow.parquet as pq

    parts = sorted((r / "samples.parts").glob("part-*.parquet"))
    assert parts and sum(pq.read_metadata(p).num_rows for p in parts) > 20  # flushed on time, not on 50 000 rows
    assert main(["report", str(r)]) == 0  # an unfinished run can still be looked at


def test_a_signal_while_the_results_are_written_leaves_them_complete(standin, tmp_path):
    path = scenario_file(tmp_path, FAST)
    junit = tmp_path / "junit.xml"
    proc = subprocess.Popen([sys.executable, "-m", "loadkit", "run", path, "--host", standin.url, "--out",
                             str(tmp_path / "r"), "--quiet", "--junit", str(junit)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 40
    while proc.poll() is None and time.monotonic() < deadline:  # from the end of the load on, signal after signal
        runs = list((tmp_path / "r").glob("*/summary.json")) if (tmp_path / "r").exists() else []
        if runs or (tmp_path / "r").exists() and time.monotonic() > deadline - 35:
            proc.send_signal(signal.SIGINT if len(runs) % 2 else signal.SIGTERM)
        time.sleep(0.05)
    proc.communicate(timeout=20)
    assert proc.returncode in (0, 1, 130), proc.returncode
    r = only_run(tmp_path / "r")
    manifest = read(r, "manifest.json")
    assert manifest["status"] in ("complete", "interrupted")
    if manifest["status"] == "complete":  # the load had ended: every output is there and consistent
        assert (r / "report.html").is_file() and junit.is_file() and (r / "verdict.json").is_file()
        assert not (r / "samples.parts").exists()


def test_a_run_id_is_one_folder_name(standin, tmp_path, capsys):
    path = scenario_file(tmp_path, FAST)
    for bad in ("../escape", "a/b", ".hidden", ""):
        assert run(path, standin.url, tmp_path / "r", "--run-id", bad) == 2
    assert not (tmp_path / "escape").exists() and not (tmp_path / "r").exists()
    assert "one folder name" in capsys.readouterr().err


def test_a_request_that_cannot_be_built_is_a_failure_not_a_silent_pass(standin, tmp_path):
    """A CSV value that cannot go into a header (not Latin-1) fails its request; the run never PASSes."""
    (tmp_path / "users.csv").write_text("name\nölaf€\n")
    path = scenario_file(tmp_path, """\
        name: build
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            wait: {constant: 0.05}
            vars: {who: {csv: users.csv}}
            requests: [{name: me, path: /health, headers: {X-User: "{who.name}"}}]
        load: {users: 1, spawn_rate: 1, duration: 2s}
        checks: ["p95(latency) < 1s"]
        """)
    code = run(path, standin.url, tmp_path / "r")
    verdict = read(only_run(tmp_path / "r"), "verdict.json")
    assert code in (1, 3) and verdict["status"] in ("FAIL", "ERROR"), verdict["reason"]
    assert yaml  # the corpus of refused inputs lives in tests/scenario/test_hostile.py
