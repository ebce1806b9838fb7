"""Several step runs of one scenario: points pooled, each run fitted alone, agreement judged and said.
Synthetic run folders (tests/capacity/conftest.py), no load."""

import json

import numpy as np
import pytest

from loadkit.capacity import usl_throughput
from loadkit.cli import main

USERS = [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]


def rates(seed: int, lam: float = 50.0) -> list[float]:
    noise = 1 + 0.01 * np.random.default_rng(seed).standard_normal(len(USERS))
    return list(usl_throughput(np.array(USERS, dtype=float), 0.03, 5e-4, lam) * noise)


def capacity_json(capsys, *args) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["capacity", *map(str, args), "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))


def test_runs_of_the_same_system_agree(step_run, capsys):
    a, b = step_run("run-a", USERS, rates(1)), step_run("run-b", USERS, rates(2))
    code, j = capacity_json(capsys, a, b)
    assert code == 0 and j["n_points"] == 20
    assert j["points"][0]["label"] == "run-a: step 1 (2 users)" and j["points"][10]["run"] == "run-b"
    rep = j["repeatability"]
    assert rep["agree"] is True and rep["verdict"].startswith("the 2 runs agree") and rep["p_value"] > 0.05
    one, two = rep["runs"]
    assert (one["run"], two["run"]) == ("run-a", "run-b") and one["n_points"] == 10
    for name in ("sigma", "kappa", "lambda", "max_throughput"):  # what "agree" promises
        x, y = one[name], two[name]
        assert x["low"] <= (y["high"] if y["high"] is not None else np.inf)
        assert y["low"] <= (x["high"] if x["high"] is not None else np.inf)
    capsys.readouterr()
    main(["capacity", str(a), str(b)])
    text = capsys.readouterr().out
    assert "Repeatability:" in text and "run-a: σ" in text and "run-b: σ" in text


def test_runs_of_different_systems_disagree_and_say_what_differs(step_run, capsys):
    a, b = step_run("run-a", USERS, rates(1)), step_run("run-b", USERS, rates(2, lam=65.0), sha="def")
    code, j = capacity_json(capsys, a, b)
    rep = j["repeatability"]
    assert rep["agree"] is False and rep["verdict"].startswith("the 2 runs disagree")
    assert rep["p_value"] < 0.05 and "one curve does not fit all runs" in rep["verdict"]
    assert any(d.startswith("λ: run-a") and d.endswith("do not overlap") for d in rep["disagreements"])
    assert "the scenario file differs between the runs (sha256)" in rep["notes"]
    assert "The pooled figures mix systems that behaved differently" in rep["verdict"]


def test_a_run_without_a_fit_cannot_be_compared(step_run, capsys):
    a = step_run("run-a", USERS, rates(1))
    b = step_run("run-b", USERS[:3], rates(2)[:3])  # three levels: no fit of its own
    _, j = capacity_json(capsys, a, b)
    rep = j["repeatability"]
    assert rep["agree"] is None and rep["verdict"].startswith("cannot compare the runs: run-b: no USL fit")


@pytest.mark.parametrize("second, words", [
    ({"scenario": "other"}, "step runs of different scenarios (other, shop) cannot be pooled"),
])
def test_runs_of_different_scenarios_are_refused(step_run, capsys, second, words):
    a, b = step_run("run-a", USERS, rates(1)), step_run("run-b", USERS, rates(2), **second)
    capsys.readouterr()
    assert main(["capacity", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_step_and_level_runs_are_not_mixed(step_run, tmp_path, capsys):
    a = step_run("run-a", USERS, rates(1))
    level = tmp_path / "level"
    level.mkdir()
    (level / "manifest.json").write_text(json.dumps({"run_id": "level", "users": 10, "load": "stages",
                                                     "stages": [{"users": 10, "start": 1.0, "end": 2.0}]}))
    capsys.readouterr()
    assert main(["capacity", str(a), str(level)]) == 2
    assert "run-a are step runs and the others are not" in capsys.readouterr().err
