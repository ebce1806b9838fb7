"""The CI performance stage end to end: run, promote on pass, regress, drift, compare, abort."""

import json
import textwrap
import time
import xml.etree.ElementTree as ET

from helpers import only_run, read

from loadkit.cli import main
from loadkit.standin import StandinConfig, start_standin

SCENARIO = """\
name: flow
target: {host: http://127.0.0.1:1}
users:
  - name: u
    wait: {constant: 0.02}
    requests:
      - {name: faq, path: "/faq/search?q=refund"}
      - {name: ticket, path: /tickets/7}
load: {users: 4, spawn_rate: 4, duration: 3s}
checks: ["error_rate < 5%"]
compare:
  - "p95(latency, *) <= +50%"
  - "error_rate <= +1pp"
environment:
  urls: [/config]
  ignore: ["*#port"]
"""


def test_promote_then_regression_with_drift(tmp_path, capsys):
    scenario = tmp_path / "flow.yaml"
    scenario.write_text(SCENARIO)
    base, out = tmp_path / "baselines", tmp_path / "results"
    common = ["--baselines", str(base), "--env", "ci", "--quiet"]
    with start_standin(StandinConfig()) as fast:  # three accepted runs: from three on, comparisons block
        for i in range(3):
            code = main(["run", str(scenario), "--host", fast.url, "--out", str(out / "a"), "--promote-on-pass",
                         "--env-var", "RELEASE=1.0", *common])
            first = capsys.readouterr().out
            assert code == 0, first
            if i == 0:
                assert "no baseline runs for this scenario and environment yet" in first
            assert "baseline: promoted" in first and len(list((base / "flow" / "ci").glob("*.json"))) == i + 1

    with start_standin(StandinConfig(cache=False, latency_ms={"/tickets/{id}": 40.0})) as slow:
        code = main(["run", str(scenario), "--host", slow.url, "--out", str(out / "b"), "--promote-on-pass",
                     "--env-var", "RELEASE=1.1", "--junit", str(tmp_path / "junit.xml"),
                     "--markdown", str(tmp_path / "summary.md"), *common])
    second = capsys.readouterr().out
    assert code == 1, second
    assert "baseline: promoted" not in second  # a failing run never becomes a baseline
    run = only_run(out / "b")
    verdict = read(run, "verdict.json")
    assert verdict["status"] == "FAIL"
    ticket = next(c for c in verdict["checks"] if c.get("key") == "p95(latency, GET ticket)")
    assert ticket["status"] == "FAIL" and "median of 3 baseline runs" in ticket["reason"], ticket
    assert "beyond noise" in ticket["reason"] and "it could detect +" in ticket["reason"]
    assert ticket["baseline"] < 20 < ticket["observed"]
    drift = {d["key"]: (d["old"], d["new"]) for d in verdict["drift"]}
    assert drift["cli#RELEASE"] == ("1.0", "1.1")
    assert drift["/config#cache"] == ("true", "false")
    assert drift["/config#latency_ms./tickets/{id}"] == (None, "40.0")
    assert not any(k.endswith("#port") for k in drift)
    assert "configuration drift since the baseline:" in second

    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases["p95(latency, *) <= +50% [p95(latency, GET ticket)]"].find("failure")
    assert failure is not None and "p95 of GET ticket rose from" in failure.get("message")
    assert cases["error_rate < 5%"].find("failure") is None
    md = (tmp_path / "summary.md").read_text()
    assert md.startswith("### ❌ loadkit flow: FAIL") and "| `cli#RELEASE` | `1.0` | `1.1` |" in md

    # re-judged later without re-running: same verdict; against an empty baseline only absolute checks decide
    assert main(["compare", str(run), "--baselines", str(base), "--env", "ci"]) == 1
    assert main(["compare", str(run), "--baselines", str(tmp_path / "none"), "--env", "ci"]) == 0
    assert "no baseline runs" in capsys.readouterr().out


def test_abort_stops_the_load_early_and_fails(tmp_path, capsys):
    scenario = tmp_path / "abort.yaml"
    scenario.write_text(textwrap.dedent("""\
        name: abort
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            wait: {constant: 0.02}
            requests:
              - {name: ok, path: /health, weight: 1}
              - {name: missing, path: /nope, weight: 3}
        load: {users: 3, spawn_rate: 3, duration: 30s}
        abort: ["error_rate > 20% for 2s"]
        """))
    started = time.monotonic()
    with start_standin(StandinConfig()) as target:
        code = main(["run", str(scenario), "--host", target.url, "--out", str(tmp_path / "r"), "--quiet"])
    assert code == 1 and time.monotonic() - started < 15
    run = only_run(tmp_path / "r")
    manifest = read(run, "manifest.json")
    assert manifest["status"] == "aborted"
    assert manifest["reason"].startswith("abort condition met: error_rate > 20% for 2s (observed ")
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["status"] == "FAIL" and verdict["reason"] == manifest["reason"]
    assert "abort condition met" in capsys.readouterr().out
