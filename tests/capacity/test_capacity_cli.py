"""`loadkit capacity` on a real step-load run: the USL fitted to what Locust measured."""

import json
import textwrap

import pytest
from helpers import only_run

from loadkit.cli import main
from loadkit.standin import StandinConfig, start_standin


def test_capacity_of_a_step_load_run(fixed_latency_url, tmp_path, capsys):
    (tmp_path / "step.yaml").write_text(textwrap.dedent("""\
        name: step
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            wait: {constant: 0}
            requests: [{name: r, path: /}]
        load: {step: {start: 1, step: 1, every: 3s, steps: 4, spawn_rate: 10}}  # 3 s: a median over 3 seconds
        """))
    assert main(["run", str(tmp_path / "step.yaml"), "--host", fixed_latency_url, "--out", str(tmp_path / "r"),
                 "--quiet"]) == 0
    run = only_run(tmp_path / "r")
    capsys.readouterr()
    code = main(["capacity", str(run), "--json", "--peak", "30", "--growth", "1.5", "-o", str(tmp_path / "cap.html")])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, (result.get("reason"), result.get("excluded"), result.get("bottleneck", {}).get("notes"))
    assert list(result)[:6] == ["sigma", "kappa", "lambda", "peak_concurrency", "peak_throughput", "r_squared"]
    # each user waits 50 ms per request and nothing is shared: X(N) ≈ 20·N, no contention to speak of
    assert result["lambda"] == pytest.approx(20, rel=0.15)
    assert result["sigma"] < 0.1 and result["r_squared"] > 0.9
    assert result["headroom"]["target_rps"] == pytest.approx(45)
    html = (tmp_path / "cap.html").read_text()
    assert "data:image/png;base64," in html


def test_capacity_refuses_too_few_points(tmp_path, capsys):
    (tmp_path / "p.csv").write_text("concurrency,throughput\n1,10\n2,19\n4,35\n")
    assert main(["capacity", str(tmp_path / "p.csv"), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False and "4" in result["reason"] and result["sigma"] is None


STEP_SCENARIO = """\
    name: {name}
    target: {{host: http://127.0.0.1:1}}
    users:
      - name: u
        wait: {{constant: 0}}
        requests: [{{name: health, path: /health}}]
    load: {{step: {{start: {start}, step: {step}, every: {every}, steps: {steps}, spawn_rate: 200}}}}
    """


def step_scenario(tmp_path, name: str, **load) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(STEP_SCENARIO.format(name=name, **load)))
    return str(path)


def test_two_back_to_back_step_runs_agree_or_say_they_disagree(tmp_path, capsys):
    """Each stand-in request waits 20 ms (cooperatively) and burns 2 ms of CPU: X(N) ≈ N/22 ms up to ~500/s."""
    scenario = step_scenario(tmp_path, "b2b", start=2, step=2, every="2s", steps=6)
    with start_standin(StandinConfig(cpu_ms=2.0, latency_ms={"*": 20.0})) as target:
        for _ in range(2):
            assert main(["run", scenario, "--host", target.url, "--out", str(tmp_path / "r"), "--quiet",
                         "--target-pid", str(target.pid)]) == 0
    runs = sorted(p for p in (tmp_path / "r").iterdir() if p.is_dir())
    capsys.readouterr()
    main(["capacity", *map(str, runs), "--json"])
    j = json.loads(capsys.readouterr().out)
    rep = j["repeatability"]
    assert rep is not None and [r["run"] for r in rep["runs"]] == [r.name for r in runs]
    assert all(r["n_points"] >= 4 and r["sigma"] is not None for r in rep["runs"]), rep
    one, two = rep["runs"]

    def overlap(name):
        a, b = one[name], two[name]
        inf = float("inf")
        return a["low"] <= (b["high"] if b["high"] is not None else inf) and \
            b["low"] <= (a["high"] if a["high"] is not None else inf)

    names = ("sigma", "kappa", "lambda", "max_throughput")
    if rep["agree"]:
        assert all(overlap(n) for n in names) and rep["verdict"].startswith("the 2 runs agree"), rep
    else:
        assert rep["agree"] is False and rep["verdict"].startswith("the 2 runs disagree"), rep
        named = {d.split(":")[0] for d in rep["disagreements"]}
        assert named == {sym for n, sym in zip(names, ("σ", "κ", "λ", "maximum throughput"), strict=True)
                         if not overlap(n)}
        assert named or rep["p_value"] < 0.05
    steps = j["bottleneck"]["steps"]
    assert all(s["target_cpu"].get("target.cpu") is not None for s in steps)  # --target-pid: the target's CPU per step


BUSY_USER = """\
import time

from locust import FastHttpUser, constant, task


class BusyUser(FastHttpUser):
    \"\"\"Burns 1 ms of the generator's CPU before each request: one core drives at most ~1000 requests/s.\"\"\"
    wait_time = constant(0)

    @task
    def health(self):
        end = time.thread_time() + 0.001
        while time.thread_time() < end:
            pass
        self.client.get("/health", name="health")
"""


@pytest.fixture(scope="module")
def generator_bound_run(tmp_path_factory):
    """A target that only sleeps (50 ms per request, cooperatively) and up to 140 users that never wait but
    each burn 1 ms of the generator's CPU per request: the top steps ask 2000-2800 requests/s, which one core
    cannot give at 1 ms each, whatever the machine; the target stays far from its own limit."""
    tmp = tmp_path_factory.mktemp("genbound")
    (tmp / "busy.py").write_text(BUSY_USER)
    path = tmp / "genbound.yaml"
    path.write_text(textwrap.dedent("""\
        name: genbound
        target: {host: http://127.0.0.1:1}
        users: [{locust: busy.py:BusyUser}]
        load: {step: {start: 20, step: 40, every: 3s, steps: 4, spawn_rate: 200}}
        """))
    with start_standin(StandinConfig(latency_ms={"*": 50.0})) as target:
        assert main(["run", str(path), "--host", target.url, "--out", str(tmp / "r"), "--quiet",
                     "--target-pid", str(target.pid)]) == 0
    return only_run(tmp / "r")


def _capacity(run, capsys) -> dict:
    capsys.readouterr()
    main(["capacity", str(run), "--json"])
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow  # the run is in the fixture, which the automatic marking does not see
def test_a_generator_bound_step_run_is_not_taken_for_the_target(generator_bound_run, capsys):
    """What the run gives today: the top step falls far short of the rate its users ask for (N / 50 ms), and
    without health.parquet the report says the generator's load is unknown instead of guessing."""
    j = _capacity(generator_bound_run, capsys)
    top = j["points"][-1]
    assert top["concurrency"] == 140 and top["throughput"] < 0.6 * 140 / 0.05, top
    if not (generator_bound_run / "health.parquet").exists():
        assert j["bottleneck"]["notes"][0].startswith("generator load unknown (no health.parquet)")
        assert j["excluded"] == []
    else:  # the run engine records the generator's health: the steps it could not drive are named
        assert j["excluded"] and j["excluded"][-1] == "step 4 (140 users)"


@pytest.mark.slow
def test_generator_bound_steps_are_named_and_left_out_of_the_fit(generator_bound_run, capsys):
    """Acceptance: the steps the generator could not drive are named generator-limited and left out, from the
    run engine's health monitor (health.parquet)."""
    from loadkit.runfolder import RunPaths, read_health

    health = read_health(RunPaths(generator_bound_run))
    assert health.num_rows > 0, "the run wrote no health.parquet"
    j = _capacity(generator_bound_run, capsys)
    limited = [s["label"] for s in j["bottleneck"]["steps"] if s["generator_limited"]]
    assert "step 4 (140 users)" in limited  # 2800/s asked of one core
    assert j["excluded"] == limited and j["n_points"] == 4 - len(limited)
    for s in j["bottleneck"]["steps"]:  # named from what the generator recorded, nothing else
        assert s["generator_limited"] == (s["generator_cpu"] >= 90 or s["generator_lag_ms"] >= 50), s
    note = next(n for n in j["bottleneck"]["notes"] if n.startswith("generator-limited"))
    assert "left out of the fit" in note and "step 4 (140 users)" in note


def test_bad_capacity_flags_are_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "p.csv").write_text("concurrency,throughput\n1,10\n2,19\n4,35\n8,60\n")
    for flags, words in ((["--seed", "-1"], "--seed: expected 0 or a positive whole number"),
                         (["--growth", "0"], "--growth: expected a number from 1e-06"),
                         (["--peak", "-5"], "--peak: expected a positive number")):
        capsys.readouterr()
        assert main(["capacity", str(tmp_path / "p.csv"), *flags]) == 2, flags
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
