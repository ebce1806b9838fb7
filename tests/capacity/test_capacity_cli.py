"""`loadkit capacity` on a real step-load run: the USL fitted to what Locust measured."""

import json
import textwrap

import pytest
from helpers import only_run

from loadkit.cli import main


def test_capacity_of_a_step_load_run(fixed_latency_url, tmp_path, capsys):
    (tmp_path / "step.yaml").write_text(textwrap.dedent("""\
        name: step
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            wait: {constant: 0}
            requests: [{name: r, path: /}]
        load: {step: {start: 1, step: 1, every: 2s, steps: 4, spawn_rate: 10}}
        """))
    assert main(["run", str(tmp_path / "step.yaml"), "--host", fixed_latency_url, "--out", str(tmp_path / "r"),
                 "--quiet"]) == 0
    run = only_run(tmp_path / "r")
    capsys.readouterr()
    code = main(["capacity", str(run), "--json", "--peak", "30", "--growth", "1.5", "-o", str(tmp_path / "cap.html")])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
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
