"""A ``LoadTestShape`` in a locustfile drives the load as under ``locust -f``, or is refused; never ignored.

``two_step_shape.py`` asks for 2 users for 2 s, then 5 users until 4 s, then ends the test. The
users the generator ran each second (``health.parquet``) and the requests that started must follow it.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from support.counting_server import CountingServer
from support.fidelity import LOADKIT, LOCUST, LOCUSTFILES, LoadkitRun, LocustRun, run_loadkit, write_scenario

from loadkit.cli import main

SHAPE_FILE = LOCUSTFILES / "two_step_shape.py"


def _seconds(run: LoadkitRun) -> tuple[pd.DataFrame, pd.Series]:
    """Health rows and sample starts, in seconds from the start of the load."""
    start = pd.Timestamp(run.manifest["start"]).timestamp()
    health = run.health()
    return health.assign(t=health.ts - start), run.samples().ts - start


def _followed_the_two_steps(run: LoadkitRun, end: float) -> None:
    health, starts = _seconds(run)
    first = health[(health.t > 0.5) & (health.t < 1.6)]  # one row a second; the one at 2 s is on the step
    second = health[(health.t > 2.5) & (health.t < end - 0.3)]
    assert len(first) and (first.users == 2).all(), health[["t", "users"]]
    assert len(second) and (second.users == 5).all(), health[["t", "users"]]
    pace = 0.3  # Stepper's constant_pacing
    assert abs((starts < 2.0).sum() - 2 * 2.0 / pace) <= 2 + 2, sorted(starts.round(2))
    assert abs(((starts >= 2.0) & (starts < end)).sum() - 5 * (end - 2.0) / pace) <= 5 + 2, sorted(starts.round(2))
    assert (starts < end + 0.1).all(), sorted(starts.round(2))  # nothing started after the shape ended the test


def test_a_locustfile_shape_drives_a_scenario_without_a_load_section_as_locust_runs_it(
        site: CountingServer, tmp_path: Path) -> None:
    locust = LocustRun(SHAPE_FILE, site.url(LOCUST), 0, 0, "Stepper", own_shape=True)
    path = write_scenario(tmp_path, f"""\
        name: shaped
        target: {{host: {site.url(LOADKIT)}}}
        users: [{{locust: {SHAPE_FILE}:Stepper}}]
        checks: ["rps > 0"]
        """)
    lk = run_loadkit(path, tmp_path / "out")
    lc = locust.result()
    assert lk.code == 0 and lc.code == 0, (lk.stderr, lc.stderr[-2000:])
    manifest = lk.manifest
    assert manifest["status"] == "complete" and manifest["reason"] == ""  # the shape ended it, not a time limit
    assert 3.9 < manifest["duration_s"] < 5.2, manifest["duration_s"]
    _followed_the_two_steps(lk, 4.0)
    lk_n, lc_n = lk.endpoint_counts()["GET /"], lc.endpoint_counts()["GET /"]
    assert abs(lk_n - lc_n) <= 5, (lk_n, lc_n)  # the same shape under locust: within the 5 users' requests in flight
    assert manifest["samples"] == manifest["locust_totals"]["requests"] == sum(site.counts(LOADKIT)["requests"].values())


def test_a_shape_named_in_load_runs_until_its_time_limit(site: CountingServer, tmp_path: Path) -> None:
    path = write_scenario(tmp_path, f"""\
        name: shaped-limit
        target: {{host: {site.url(LOADKIT)}}}
        users: [{{locust: {SHAPE_FILE}:Stepper}}]
        load: {{shape: {SHAPE_FILE}:TwoSteps, duration: 3.5s}}
        checks: ["rps > 0"]
        """)
    lk = run_loadkit(path, tmp_path / "out")
    assert lk.code == 0, lk.stderr
    manifest = lk.manifest
    assert manifest["status"] == "complete" and manifest["reason"] == "the shape ran to its time limit of 3.5s"
    assert 3.4 < manifest["duration_s"] < 4.0
    _followed_the_two_steps(lk, 3.5)


def test_stages_beside_a_locustfile_shape_are_refused_with_one_line(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, f"""\
        name: both
        target: {{host: http://127.0.0.1:9}}
        users: [{{locust: {SHAPE_FILE}:Stepper}}]
        load: {{stages: [{{users: 2, duration: 2s}}]}}
        """)
    err = io.StringIO()
    assert main(["validate", str(path)], stdout=io.StringIO(), stderr=err) == 2
    lines = err.getvalue().splitlines()
    assert lines == [f"loadkit: error: {path}:4: load: {SHAPE_FILE} defines LoadTestShape TwoSteps, which this load "
                     f"would ignore: remove the load: section (or write load: {{shape: {SHAPE_FILE}:TwoSteps}}) to use "
                     "it, or add locust_shape: ignore to load: to run these stages instead"], lines
