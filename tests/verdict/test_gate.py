"""The gate on real runs of the stand-in: a young baseline never fails a build on noise, a neighbour hogging
both cores never turns an unchanged build into a FAIL, a real regression still fails after --confirm, and
`loadkit baseline record` starts a baseline."""

import json
import subprocess
import sys
import textwrap

import pytest
from helpers import read

from loadkit.cli import main
from loadkit.standin import StandinConfig, start_standin

pytestmark = pytest.mark.slow

SCENARIO = """\
name: gate
target: {host: http://127.0.0.1:1}
users:
  - name: u
    wait: {constant: 0.02}
    requests:
      - {name: faq, path: "/faq/search?q=refund", weight: 3}
      - {name: ticket, path: /tickets/7, weight: 1}
load: {users: 8, spawn_rate: 16, duration: 3s}
checks: ["error_rate < 5%"]
compare:
  - "p95(latency) <= +10%"
  - "p95(latency, *) <= +20%"
  - "error_rate <= +0.5pp"
  - "rps >= -10%"
"""
SERVICE = StandinConfig(latency_ms={"*": 20.0})  # a service's I/O wait, so loopback jitter is not all there is


@pytest.fixture
def scenario(tmp_path):
    path = tmp_path / "gate.yaml"
    path.write_text(SCENARIO)
    return str(path)


def _runs(folder):
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _verdict(run):
    return json.loads((run / "verdict.json").read_text())


def _hog(seconds: float) -> subprocess.Popen:
    """A neighbour: both cores busy for ``seconds``."""
    code = textwrap.dedent(f"""\
        import multiprocessing as m, time
        def burn():
            end = time.monotonic() + {seconds}
            while time.monotonic() < end:
                pass
        if __name__ == "__main__":
            ps = [m.Process(target=burn) for _ in range(2)]
            [p.start() for p in ps]
            [p.join() for p in ps]
        """)
    return subprocess.Popen([sys.executable, "-c", code])


def test_one_and_two_baseline_runs_never_fail_an_unchanged_build(scenario, tmp_path, capsys):
    """Issue 12: with 1-2 baseline runs only the tolerance could apply, and unchanged runs failed on noise."""
    common = ["--baselines", str(tmp_path / "b"), "--env", "ci", "--out", str(tmp_path / "r"), "--quiet"]
    with start_standin(SERVICE) as target:
        assert main(["run", scenario, "--host", target.url, "--promote-on-pass", *common]) == 0
        for have in (1, 2):
            code = main(["run", scenario, "--host", target.url, *(["--promote-on-pass"] if have == 1 else []), *common])
            printed = capsys.readouterr().out
            assert code == 0, printed
            verdict = _verdict(_runs(tmp_path / "r")[-1])
            relative = [c for c in verdict["checks"] if c["kind"] == "relative"]
            assert relative and all(not c["blocking"] for c in relative), relative
            assert all(f"{have} baseline run" in c["reason"] and "does not block" in c["reason"] for c in relative)
    with start_standin(StandinConfig(latency_ms={"*": 60.0})) as slow:  # 3x slower: reported, still not blocking
        code = main(["run", scenario, "--host", slow.url, *common])
    printed = capsys.readouterr().out
    verdict = _verdict(_runs(tmp_path / "r")[-1])
    assert code == 0 and verdict["status"] == "WARN", printed
    p95 = next(c for c in verdict["checks"] if c.get("key") == "p95(latency)")
    assert p95["status"] == "WARN" and "rose from" in p95["reason"] and "3 needed to know the noise" in p95["reason"]


def test_a_neighbour_on_both_cores_never_fails_an_unchanged_build(scenario, tmp_path, capsys):
    """A CPU hog on both cores during the current run: the verdict is ERROR (measurement disturbed) or judged
    on the undisturbed slices, never FAIL. Then a real regression still FAILs after --confirm 2."""
    base = ["--baselines", str(tmp_path / "b"), "--env", "ci", "--quiet"]
    with start_standin(SERVICE) as target:
        base += ["--target-pid", str(target.pid)]  # the target's CPU is not a neighbour's
        code = main(["baseline", "record", scenario, "--runs", "3", "--host", target.url,
                     "--out", str(tmp_path / "base"), *base])
        printed = capsys.readouterr().out
        assert code == 0 and printed.count(": promoted") == 3, printed
        assert "baseline gate/ci: 3 run(s), 3 promoted now" in printed
        for hog_for, out in ((8.0, "whole"), (2.0, "part")):  # the whole run, then a burst in its middle
            hog = _hog(hog_for)
            try:
                code = main(["run", scenario, "--host", target.url, "--out", str(tmp_path / out), *base])
            finally:
                hog.wait(timeout=30)
            printed = capsys.readouterr().out
            verdict = _verdict(_runs(tmp_path / out)[-1])
            assert verdict["status"] != "FAIL" and code in (0, 3), printed
            if verdict["status"] == "ERROR":
                assert verdict["reason"].startswith("measurement: disturbed in "), verdict["reason"]
                assert "rerun" in verdict["reason"]
    with start_standin(StandinConfig(latency_ms={"*": 40.0})) as slow:  # twice as slow: a real regression
        code = main(["run", scenario, "--host", slow.url, "--out", str(tmp_path / "slow"), "--confirm", "2",
                     *base[:-2], "--target-pid", str(slow.pid)])
    printed = capsys.readouterr().out
    runs = _runs(tmp_path / "slow")
    assert code == 1 and len(runs) == 3, printed  # it kept failing, so both reruns were made
    first = next(r for r in runs if read(r, "manifest.json")["run_id"] == runs[0].name)
    verdict = _verdict(first)
    assert verdict["status"] == "FAIL"
    assert any(n.startswith("comparisons over 3 runs combined (--confirm)") for n in verdict["notes"]), verdict["notes"]
