"""loadkit as a library: LoadRun has no side effect until execute(), and execute() writes every output."""

from __future__ import annotations

import html
import re

from helpers import ROOT, own_checks, read, scenario_file

import loadkit
from loadkit.baseline import BaselineStore
from loadkit.units import format_value


def test_constructing_a_run_touches_no_disk(tmp_path):
    scenario = loadkit.load_scenario(str(ROOT / "scenarios/example.yaml"))
    out = tmp_path / "results"
    run = loadkit.LoadRun(scenario, out, run_id="never-run")
    assert run.paths is None
    assert not out.exists()


def test_execute_from_python_writes_report_junit_and_markdown(standin, tmp_path):
    path = scenario_file(tmp_path, """\
        name: lib
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            wait: {constant: 0.01}
            requests: [{name: health, path: /health}]
        load: {users: 2, spawn_rate: 2, duration: 2s}
        checks: ["p95(latency) < 0.001ms", "error_rate < 1%"]
        """)
    scenario = loadkit.load_scenario(path, host=standin.url)
    junit, md = tmp_path / "ci" / "junit.xml", tmp_path / "ci" / "summary.md"
    outcome = loadkit.LoadRun(scenario, tmp_path / "res", junit=junit, markdown=md,
                              baselines=BaselineStore(tmp_path / "baselines")).execute()
    root = outcome.paths.root
    assert outcome.verdict.status == "FAIL"
    for f in ("manifest.json", "samples.parquet", "summary.json", "verdict.json", "report.html"):
        assert (root / f).is_file(), f
    assert junit.is_file() and md.is_file()
    assert set(outcome.files) == {root / "report.html", junit, md}

    # one formatter: the number in the reason is the number in the report and the Markdown
    check = own_checks(read(root, "verdict.json"))[0]
    shown = format_value("latency", check["observed"])
    reason = check["reason"]
    assert reason == f"observed {shown}, limit < {format_value('latency', 0.001)}"
    page = html.unescape(re.sub(r"<[^>]+>", " ", (root / "report.html").read_text()))
    assert f"observed {shown}" in page and f" {shown} " in page  # the reason and the observed cell
    assert f"observed {shown}" in md.read_text()
