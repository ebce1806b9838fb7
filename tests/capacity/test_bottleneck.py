"""What limited each step: generator-limited steps named and left out, a plateau with an idle target called
out, missing generator data said. Synthetic run folders (tests/capacity/conftest.py), no load."""

import json

import numpy as np
import pytest

from loadkit.capacity import analyze, load_input, read_step_loads, usl_throughput
from loadkit.cli import main

USERS = [2, 4, 6, 8, 10, 12, 14, 16]
SIGMA, KAPPA, LAM = 0.03, 5e-4, 50.0


def curve(n: float) -> float:
    return float(usl_throughput(n, SIGMA, KAPPA, LAM))


def capacity_json(capsys, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["capacity", *args, "--json"])
    return code, json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))


@pytest.fixture
def generator_bound(step_run):
    """Steps 7 and 8: the generator at 97-98 % of one core could not go beyond step 6's rate."""
    rates = [curve(u) for u in USERS[:6]] + [curve(12) * 1.01, curve(12) * 0.99]
    return step_run("gen", USERS, rates, generator_cpu=[20, 30, 40, 50, 60, 70, 97, 98],
                    target_cpu=[10, 20, 30, 40, 45, 50, 50, 50])


def test_generator_limited_steps_are_named_and_left_out(generator_bound, capsys):
    code, j = capacity_json(capsys, str(generator_bound))
    assert code == 0
    assert j["excluded"] == ["step 7 (14 users)", "step 8 (16 users)"]
    assert j["n_points"] == 6 and [p["excluded"] for p in j["points"]] == [False] * 6 + [True] * 2
    note = next(n for n in j["bottleneck"]["notes"] if n.startswith("generator-limited"))
    assert "left out of the fit" in note
    assert "step 7 (14 users): generator CPU 97 % of one core (≥ 90 %)" in note and "step 8 (16 users)" in note
    steps = j["bottleneck"]["steps"]
    assert [s["generator_limited"] for s in steps] == [False] * 6 + [True] * 2
    assert steps[0]["generator_cpu"] == pytest.approx(20) and steps[0]["target_cpu"] == {"app.cpu": pytest.approx(10)}
    # without the two capped steps the fit recovers the curve the target follows
    assert (j["sigma"], j["kappa"], j["lambda"]) == pytest.approx((SIGMA, KAPPA, LAM), rel=0.02)
    capsys.readouterr()
    assert main(["capacity", str(generator_bound)]) == 0
    text = capsys.readouterr().out
    assert "2 more left out: generator-limited" in text and "step 8 (16 users): generator CPU 98 %" in text


def test_generator_limited_steps_can_be_kept(generator_bound, capsys):
    _, j = capacity_json(capsys, str(generator_bound), "--include-generator-limited")
    assert j["excluded"] == [] and j["n_points"] == 8
    assert any(n.startswith("generator-limited, kept in the fit") for n in j["bottleneck"]["notes"])
    assert j["sigma"] != pytest.approx(SIGMA, rel=0.02)  # the capped steps bend the curve: that is why they go


def test_event_loop_lag_marks_a_step_generator_limited(step_run):
    run = step_run("lag", USERS, [curve(u) for u in USERS], generator_cpu=[40] * 8,
                   lag_ms=[2, 2, 3, 3, 4, 5, 120, 300])
    data = load_input([run])
    loads = read_step_loads(data)
    assert [s.generator_limited for s in loads] == [False] * 6 + [True] * 2
    assert loads[6].reason == "event-loop lag 120 ms (median per-second worst, ≥ 50 ms)"
    assert analyze(data.points, loads=loads).excluded == (6, 7)


def test_a_run_without_health_says_the_generator_load_is_unknown(step_run, capsys):
    run = step_run("old", USERS, [curve(u) for u in USERS])
    _, j = capacity_json(capsys, str(run))
    assert j["excluded"] == [] and j["n_points"] == 8
    assert j["bottleneck"]["notes"][0].startswith("generator load unknown (no health.parquet)")
    assert all(s["generator_unknown"] == "no health.parquet" and s["generator_cpu"] is None
               for s in j["bottleneck"]["steps"])


PLATEAU = [100.0, 190.0, 260.0, 300.0, 305.0, 302.0, 306.0, 304.0]


def test_a_plateau_with_the_target_idle_says_the_limit_lies_elsewhere(step_run, capsys):
    run = step_run("flat", USERS, PLATEAU, generator_cpu=[30] * 8, target_cpu=[20, 35, 50, 55, 56, 55, 54, 55])
    _, j = capacity_json(capsys, str(run))
    note = next(n for n in j["bottleneck"]["notes"] if n.startswith("plateau"))
    assert "from N = 8 to N = 16" in note and "stayed low (55 % of one core (app.cpu))" in note
    assert "the limit lies elsewhere: the network, a lock or a connection pool, not the target's CPU" in note
    assert any(n.startswith("the generator kept up in every step it recorded: CPU at most 30 %")
               for n in j["bottleneck"]["notes"])
    unrecorded = step_run("unrecorded", USERS, PLATEAU, target_cpu=[20, 35, 50, 55, 56, 55, 54, 55])
    _, j = capacity_json(capsys, str(unrecorded))
    note = next(n for n in j["bottleneck"]["notes"] if n.startswith("plateau"))
    assert "the limit lies elsewhere: the load generator (its load was not recorded), the network" in note
    busy = step_run("busy", USERS, PLATEAU, generator_cpu=[30] * 8, target_cpu=[30, 60, 85, 98, 99, 99, 99, 99])
    _, j = capacity_json(capsys, str(busy))
    note = next(n for n in j["bottleneck"]["notes"] if n.startswith("plateau"))
    assert "consistent with a CPU limit in the target" in note and "elsewhere" not in note
    blind = step_run("blind", USERS, PLATEAU, generator_cpu=[30] * 8)
    _, j = capacity_json(capsys, str(blind))
    note = next(n for n in j["bottleneck"]["notes"] if n.startswith("plateau"))
    assert "the target's CPU is unknown (no process or host metric source" in note


def test_a_saturated_machine_is_called_out(step_run, capsys):
    run = step_run("host", USERS, [curve(u) for u in USERS], generator_cpu=[30] * 8,
                   host_cpu=[40, 50, 60, 70, 80, 95, 97, 99])
    _, j = capacity_json(capsys, str(run))
    note = next(n for n in j["bottleneck"]["notes"] if n.startswith("the machine was saturated"))
    assert "the steps at N = 12, 14, 16" in note
    assert j["excluded"] == []  # the machine is named, not the generator: nothing is left out


def test_csv_input_has_no_generator_data(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("concurrency,throughput\n" + "".join(f"{u},{curve(u)}\n" for u in USERS))
    data = load_input([p])
    loads = read_step_loads(data)
    assert all(s.unknown == "CSV input: not measured by loadkit" for s in loads)
    r = analyze(data.points, loads=loads)
    assert r.bottleneck[0].startswith("generator load unknown (CSV input")
    assert np.isclose(r.fit.sigma, SIGMA, rtol=1e-3)
