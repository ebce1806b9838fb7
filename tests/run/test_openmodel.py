"""The open model: schedules on literal data, then real runs against loopback targets."""

import random
import textwrap

import numpy as np
import pandas as pd
import pytest
from helpers import only_run, read

from loadkit.analysis import OpenModelSummary
from loadkit.analysis.health import GeneratorHealth
from loadkit.cli import main
from loadkit.run.openmodel import Schedule, check_interval, intended_counts, schedule_times
from loadkit.scenario.model import OpenLoad, Segment
from loadkit.standin import StandinConfig, start_standin
from loadkit.status import Outcome
from loadkit.verdict.truth import BuiltIn, builtin_checks


def test_uniform_schedule_has_exact_counts_and_ramps_linearly():
    times = np.array(list(schedule_times([Segment(2, 50, 50), Segment(2, 50, 150)])))
    assert len(times) == 300 and np.all(np.diff(times) > 0)
    counts = np.bincount(times.astype(int))
    assert counts.tolist() == [50, 50, 75, 125]
    assert intended_counts(OpenLoad((Segment(2, 50, 50), Segment(2, 50, 150)), 10), 1.0, 4.0).tolist() == [50, 50, 75, 125]


def test_poisson_schedule_has_the_right_mean_and_is_seeded():
    seg = [Segment(100, 20, 20)]
    a = list(schedule_times(seg, "poisson", random.Random(3)))
    assert abs(len(a) - 2000) < 4 * np.sqrt(2000)
    assert a == list(schedule_times(seg, "poisson", random.Random(3)))
    gaps = np.diff(a)
    assert gaps.std() == pytest.approx(gaps.mean(), rel=0.15)  # exponential gaps: sd ≈ mean


def test_streams_partition_the_schedule():
    load = OpenLoad((Segment(1, 10, 10),), 5)
    shares = []
    for stream in range(3):
        s = Schedule(load, stream, 3, default_mix=[("r", 1.0)])
        s.begin(100.0)
        shares.append([t for t, _ in iter(s.next, None)])
    merged = sorted(t for share in shares for t in share)
    assert len(merged) == 10 and merged[0] == pytest.approx(100.05) and [len(x) for x in shares] == [4, 3, 3]


def _om(late: int, started: int, scheduled: int = 1000) -> OpenModelSummary:
    return OpenModelSummary(1.0, (100,) * 10, (100,) * 10, scheduled, started, late, 0.4, 0.9, 4, 0.05)


def _schedule_check(om, gen=None):
    from loadkit.analysis import summarize

    s = summarize(np.array([1.0, 2.0]), np.array(["a", "a"], dtype=object), np.array([1.0, 1.0]),
                  np.array([None, None], dtype=object), 0.0, 3.0)
    s = type(s)(**{**s.__dict__, "open_model": om})
    return next((st, why) for name, st, why in builtin_checks(s, [], {}, gen) if name == BuiltIn.SCHEDULE)


def test_schedule_rules_tell_the_target_from_the_generator():
    assert _schedule_check(_om(late=10, started=1000))[0] == Outcome.PASS  # 1 % late: within the 2 % allowed
    status, why = _schedule_check(_om(late=300, started=900))
    assert status == Outcome.FAIL and "300 of 1000 scheduled starts were late" in why and "100 never started" in why
    assert "Little's law needs" in why and "load.concurrency" in why
    busy = GeneratorHealth(10, 99.0, 100.0, 80.0, 120.0, 0.0, 60.0, 8, 6)
    status, why = _schedule_check(_om(late=300, started=900), busy)
    assert status == Outcome.ERROR and "load generator could not keep the schedule" in why and "--workers" in why
    assert check_interval(200) == 1.0 and check_interval(20) == 5.0 and check_interval(1) == 10.0


def write(tmp_path, body):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_arrival_rate_is_held_against_the_standin(standin, tmp_path):
    path = write(tmp_path, """\
        name: open
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            requests:
              - {name: faq, path: "/faq/search?q=refund", weight: 3}
              - {name: ticket, path: /tickets/7}
        load:
          arrival: {rate: 200/s, duration: 10s}
          concurrency: 100
        checks: ["error_rate < 1%"]
        """)
    assert main(["run", path, "--host", standin.url, "--out", str(tmp_path / "r"), "--quiet"]) == 0
    run = only_run(tmp_path / "r")
    rate = pd.read_parquet(run / "rate.parquet")
    assert len(rate) == 10 and (rate.intended == 200).all()
    assert ((rate.achieved - 200).abs() <= 10).all(), rate.achieved.tolist()
    assert rate.achieved.sum() / len(rate) == pytest.approx(200, rel=0.05)  # the 10 s window
    samples = pd.read_parquet(run / "samples.parquet")
    assert samples.intended_ts.notna().all()
    assert samples.endpoint.value_counts()["faq"] == pytest.approx(0.75 * len(samples), rel=0.1)
    assert read(run, "manifest.json")["open_model"]["concurrency"] == 100


def test_a_stall_shows_in_p99_when_latency_counts_from_the_intended_start(tmp_path):
    path = write(tmp_path, """\
        name: stall
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            requests: [{name: health, path: /health}]
        load:
          arrival: {rate: 50/s, duration: 6s}
          concurrency: 200
        checks: ["p99(latency) < 100ms"]
        """)
    with start_standin(StandinConfig(stall=(3.0, 4.0))) as target:  # one 1 s stall, seconds after it starts
        code = main(["run", path, "--host", target.url, "--out", str(tmp_path / "r"), "--quiet"])
    run = only_run(tmp_path / "r")
    summary = read(run, "summary.json")["requests"]["latency_ms"]
    assert summary["p50"] < 50 and summary["p99"] > 500, summary
    assert code == 1 and read(run, "verdict.json")["status"] == "FAIL"
    rate = pd.read_parquet(run / "rate.parquet")
    assert ((rate.achieved - rate.intended).abs() <= 5).all()  # sent on time: the target, not the generator


def test_a_cap_too_small_for_a_slow_target_fails_with_the_late_starts_explained(fixed_latency_url, tmp_path, capsys):
    path = write(tmp_path, """\
        name: capped
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            requests: [{name: slow, path: /}]
        load:
          arrival: {rate: 200/s, duration: 4s}
          concurrency: 4
        checks: ["error_rate < 1%"]
        """)
    assert main(["run", path, "--host", fixed_latency_url, "--out", str(tmp_path / "r"), "--quiet"]) == 1
    run = only_run(tmp_path / "r")
    verdict = read(run, "verdict.json")
    assert verdict["status"] == "FAIL"
    assert "the target was too slow for the planned rate" in verdict["reason"]
    assert "all 4 users were busy waiting on it" in verdict["reason"] and "Little's law needs" in verdict["reason"]
    om = read(run, "summary.json")["open_model"]
    assert om["late"] > 100 and om["scheduled"] == 800
    assert read(run, "manifest.json")["status"] == "complete"  # the target was slow, the run itself was valid


@pytest.mark.parametrize(("load", "message"), [
    ("{arrival: {rate: fast, duration: 5s}}", "expected a rate such as 200/s"),
    ("{arrival: {rate: 10/s}}", "expected rate and duration"),
    ("{arrival: {rate: 10/s, duration: 5s}, arrivals: bursty}", "expected uniform or poisson"),
    ("{arrival: {rate: 10/s, duration: 5s}, concurrency: 0}", "expected a number >= 1"),
    ("{stages: [{duration: 5s, users: 1}], concurrency: 5}", "'concurrency' applies to arrival or replay"),
    ("{spike: {base: 1, peak: 5, at: 9s, hold: 5s, duration: 10s}}", r"at \+ hold < duration"),
    ("{step: {start: 1, step: 1, every: 0s, steps: 3}}", "every > 0"),
    ("{replay: missing.csv}", "profile 'missing.csv' not found"),
])
def test_bad_load_sections(tmp_path, load, message):
    path = write(tmp_path, f"""\
        name: bad
        target: {{host: http://127.0.0.1:1}}
        users:
          - name: u
            requests: [{{name: r, path: /}}]
        load: {load}
        """)
    from loadkit.errors import ConfigError
    from loadkit.scenario import load_scenario

    with pytest.raises(ConfigError, match=message):
        load_scenario(path)


def test_closed_shapes_become_stages(tmp_path):
    from loadkit.scenario import load_scenario

    base = """\
        name: shapes
        target: {{host: http://127.0.0.1:1}}
        users:
          - name: u
            requests: [{{name: r, path: /}}]
        load: {load}
        """
    spike = load_scenario(write(tmp_path, base.format(load="{spike: {base: 5, peak: 50, at: 10s, hold: 5s, duration: 30s}}"))).load
    assert [(s.duration, s.users) for s in spike.stages] == [(10, 5), (5, 50), (15, 5)]
    step = load_scenario(write(tmp_path, base.format(load="{step: {start: 2, step: 3, every: 10s, steps: 4}}"))).load
    assert [s.users for s in step.stages] == [2, 5, 8, 11] and step.duration == 40
    soak = load_scenario(write(tmp_path, base.format(load="{soak: {users: 7, duration: 1h}}"))).load
    assert soak.stages[0].users == 7 and soak.duration == 3600
    ramp = load_scenario(write(tmp_path, base.format(
        load="{arrival: {start_rate: 0, stages: [{rate: 50/s, duration: 1m}, {rate: 400/s, duration: 2m}]}}"))).load
    assert [(s.rate_start, s.rate_end) for s in ramp.open.segments] == [(0, 50), (50, 400)]
    assert ramp.open.concurrency == 400 and ramp.warmup_seconds() == 0.0


def test_replay_of_an_imported_profile_scaled_and_time_compressed(standin, tmp_path):
    from datetime import datetime, timezone

    from loadkit.profiles import profile_from_logs, save_profile

    rng = np.random.default_rng(5)
    t0 = datetime(2026, 11, 20, 18, 0, 0, tzinfo=timezone.utc).timestamp()
    lines = []
    for second in range(60):  # 20 req/s rising to 79 req/s over a minute
        for _ in range(20 + second):
            u = rng.random()
            req = ("GET /faq/search?q=refund" if u < 0.7 else f"GET /tickets/{rng.integers(1, 500)}" if u < 0.9
                   else "POST /tickets")
            stamp = datetime.fromtimestamp(t0 + second, timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
            lines.append(f'10.0.0.1 - - [{stamp}] "{req} HTTP/1.1" 200 512 "-" "curl/8"')
    (tmp_path / "access.log").write_text("\n".join(lines) + "\n")
    save_profile(profile_from_logs([str(tmp_path / "access.log")]), tmp_path / "peak.csv", chart=False)
    path = write(tmp_path, """\
        name: replay
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            requests:
              - {name: faq, path: "/faq/search?q=refund"}
              - {name: ticket, path: /tickets/7}
        load:
          replay: peak.csv
          window: full
          scale: 1.5
          speedup: 10
          map: {"GET /faq/search?q={q}": faq, "GET /tickets/{id}": ticket}
          unmapped: redistribute               # POST /tickets (10 %) has no request
        checks: ["error_rate < 1%"]
        """)
    assert main(["run", path, "--host", standin.url, "--out", str(tmp_path / "r"), "--quiet"]) == 0
    run = only_run(tmp_path / "r")
    manifest = read(run, "manifest.json")
    assert manifest["planned_duration_s"] == pytest.approx(6.0)
    assert manifest["open_model"]["unmapped"][0]["endpoint"] == "POST /tickets"
    assert any("POST /tickets" in w for w in manifest["warnings"])
    rate = pd.read_parquet(run / "rate.parquet")
    # each second of the replay plays 10 s of the log at 1.5x its rate; intervals hold w seconds
    w = int(rate.interval_s[0])
    expected = [1.5 * np.mean([20 + s for s in range(10 * w * i, 10 * w * (i + 1))]) for i in range(len(rate))]
    assert rate.intended.tolist() == pytest.approx(expected, abs=1.0)
    assert ((rate.achieved - rate.intended).abs() <= 0.05 * rate.intended + 1).all()
    samples = pd.read_parquet(run / "samples.parquet")
    share = (samples.endpoint == "faq").mean()
    assert share == pytest.approx(0.7 / 0.9, abs=0.05)  # the profile's mix, unmapped share left out


def test_open_model_schedule_is_shared_between_workers(standin, tmp_path):
    path = write(tmp_path, """\
        name: open-workers
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            requests: [{name: health, path: /health}]
        load:
          arrival: {rate: 100/s, duration: 4s}
          concurrency: 50
        checks: ["error_rate < 1%"]
        """)
    assert main(["run", path, "--host", standin.url, "--out", str(tmp_path / "r"), "--quiet", "--workers", "2"]) == 0
    run = only_run(tmp_path / "r")
    samples = pd.read_parquet(run / "samples.parquet")
    assert samples.worker.nunique() == 2 and abs(len(samples) - 400) <= 4  # each worker its half, not both all
    rate = pd.read_parquet(run / "rate.parquet")
    assert ((rate.achieved - rate.intended).abs()[1:] <= 5).all()
