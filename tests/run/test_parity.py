"""Staging–production parity end to end: a "production" and a "staging" stand-in with different settings,
``loadkit env capture`` from the first, runs against the second (must_match, listed only, another reference),
``loadkit env diff`` between captures, and secrets masked in the captured reference."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from helpers import only_run, read, scenario_file

from loadkit.cli import main
from loadkit.standin import StandinConfig, start_standin

FILE_PW, URL_PW, ENV_PW = "s3cret-file-pw-81c2", "s3cret-url-pw-5e0a", "s3cret-env-pw-9d4f"


@pytest.fixture(scope="module")
def envs():
    """Production runs a pool of 20 connections, staging 5; otherwise the same stand-in."""
    with start_standin(StandinConfig(pool_size=20)) as prod, start_standin(StandinConfig(pool_size=5)) as staging:
        yield prod, staging


def _main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _capture(tmp_path, url: str, name: str = "production.json") -> str:
    app = tmp_path / "app.yaml"
    app.write_text(json.dumps({"db": {"password": FILE_PW, "pool": 20},
                               "conn": f"postgresql://svc:{URL_PW}@db.prod/helpdesk"}))
    out = tmp_path / "envs" / name
    out.parent.mkdir(exist_ok=True)
    code, stdout, stderr = _main("env", "capture", "--url", f"{url}/config", "--file", str(app),
                                 "--env-var", "HELPDESK_DB_PASSWORD", "--ignore", "*#port", "-o", str(out))
    assert code == 0, stderr
    assert f"into {out}" in stdout
    return str(out)


def _scenario(tmp_path, host: str, extra: str, name: str = "s.yaml") -> str:
    return scenario_file(tmp_path, f"""\
        name: parity-e2e
        target: {{host: "{host}", allowed_hosts: [127.0.0.1]}}
        users:
          - name: u
            wait: {{constant: 0.05}}
            requests: [{{name: faq, path: "/faq/search?q=refund"}}]
        load: {{users: 2, spawn_rate: 10, duration: 2s}}
        checks: ["error_rate < 1%", "p95(latency) < 2000ms"]
        environment:
          urls: [/config]
          ignore: ["*#port"]
          reference: envs/production.json
          {extra}""", name)


def test_capture_masks_secrets_in_config_values_and_variables(envs, tmp_path, monkeypatch):
    monkeypatch.setenv("HELPDESK_DB_PASSWORD", ENV_PW)
    prod, _ = envs
    ref = _capture(tmp_path, prod.url)
    text = Path(ref).read_text()
    for secret in (FILE_PW, URL_PW, ENV_PW):
        assert secret not in text
    doc = json.loads(text)
    v = doc["values"]
    assert doc["format"] == 1 and v[f"{prod.url}/config#pool_size"] == "20"
    assert v[f"{tmp_path}/app.yaml#db.password"].startswith("***")
    assert v["env#HELPDESK_DB_PASSWORD"].startswith("***")
    assert v[f"{tmp_path}/app.yaml#conn"] == "postgresql://svc:***@db.prod/helpdesk"
    assert doc["sources"][f"{prod.url}/config"] == "url" and not doc["errors"]


def test_must_match_on_the_differing_key_fails_naming_it_and_both_values(envs, tmp_path, monkeypatch):
    monkeypatch.setenv("HELPDESK_DB_PASSWORD", ENV_PW)
    prod, staging = envs
    ref = _capture(tmp_path, prod.url)
    s = _scenario(tmp_path, staging.url, 'must_match: ["*#pool_size"]')
    junit, md = tmp_path / "j.xml", tmp_path / "s.md"
    code, out, err = _main("run", s, "--out", str(tmp_path / "out"), "--junit", str(junit), "--markdown", str(md),
                           "--baselines", str(tmp_path / "b"), "--quiet")
    assert code == 1, out + err
    line = "/config#pool_size differs: reference 20, this run 5"
    assert line in out and "verdict: FAIL" in out
    run = only_run(tmp_path / "out")
    verdict = read(run, "verdict.json")
    assert verdict["status"] == "FAIL" and "parity must_match *#pool_size" in verdict["reason"]
    [check] = [c for c in verdict["checks"] if c["kind"] == "parity"]
    assert check["status"] == "FAIL" and line in check["reason"]
    parity = verdict["parity"]
    assert parity["reference"] == "envs/production.json"
    entries = {e["key"]: e for e in parity["entries"]}
    assert entries["/config#pool_size"] == {"key": "/config#pool_size", "reference": "20", "here": "5",
                                            "gap": "different", "must_match": True, "note": ""}
    assert "/config#cache" not in entries  # aligned by path: production's http://host:port/config is /config
    assert entries["env#HELPDESK_DB_PASSWORD"]["gap"] == "only in reference"
    manifest = read(run, "manifest.json")
    assert manifest["parity"]["reference"] == "envs/production.json"
    assert manifest["parity"]["hash"] == parity["reference_hash"] == json.loads(Path(ref).read_text())["hash"]
    assert read(run, "reference.json")["values"] == json.loads(Path(ref).read_text())["values"]
    assert line in junit.read_text() and "/config#pool_size" in md.read_text() and "reference" in md.read_text()
    html = (run / "report.html").read_text()
    assert "Parity with <code>envs/production.json</code>" in html and "<code>/config#pool_size</code>" in html
    for f in run.iterdir():  # the secrets of the reference reach no output
        if f.is_file() and f.suffix in (".json", ".html"):
            assert not any(x in f.read_text() for x in (FILE_PW, URL_PW, ENV_PW)), f
    # loadkit compare re-judges from the run folder (the reference as the run read it): the same verdict
    code, out2, _ = _main("compare", str(run), "--baselines", str(tmp_path / "b"))
    assert code == 1 and line in out2


def test_a_listed_difference_is_shown_and_the_run_judged_on_performance(envs, tmp_path, monkeypatch):
    monkeypatch.setenv("HELPDESK_DB_PASSWORD", ENV_PW)
    prod, staging = envs
    _capture(tmp_path, prod.url)
    s = _scenario(tmp_path, staging.url, "")
    base = str(tmp_path / "b")
    code, out, err = _main("run", s, "--out", str(tmp_path / "out"), "--baselines", base, "--promote-on-pass", "--quiet")
    assert code == 0, out + err
    assert "verdict: PASS" in out
    assert "/config#pool_size differs: reference 20, this run 5" in out
    verdict = read(only_run(tmp_path / "out"), "verdict.json")
    assert not [c for c in verdict["checks"] if c["kind"] == "parity"]
    assert {e["key"]: e["must_match"] for e in verdict["parity"]["entries"]}["/config#pool_size"] is False
    [record] = (tmp_path / "b" / "parity-e2e" / "staging").glob("*.json")
    assert json.loads(record.read_text())["reference"]["name"] == "envs/production.json"

    # a run held to another reference is not compared with that baseline run, and says why
    _capture(tmp_path, staging.url, "staging.json")
    other = _scenario(tmp_path, staging.url, "", "other.yaml")
    Path(other).write_text(Path(other).read_text().replace("envs/production.json", "envs/staging.json"))
    code, out, err = _main("run", other, "--out", str(tmp_path / "out2"), "--baselines", base, "--quiet")
    assert code == 0, out + err
    assert "1 baseline run(s) left out of the comparison: recorded against reference envs/production.json" in out
    notes = read(only_run(tmp_path / "out2"), "verdict.json")["notes"]
    assert any("this run against reference envs/staging.json" in n for n in notes)


def test_env_diff_between_two_captures(envs, tmp_path, monkeypatch):
    monkeypatch.setenv("HELPDESK_DB_PASSWORD", ENV_PW)
    prod, staging = envs
    a = _capture(tmp_path, prod.url, "a.json")
    b = _capture(tmp_path, staging.url, "b.json")
    code, out, _ = _main("env", "diff", a, b)
    assert code == 1
    assert f"/config#pool_size differs: reference 20, {b} 5" in out
    assert "1 of" in out.splitlines()[0]  # nothing else differs: keys aligned by path, not host
    assert _main("env", "diff", a, a)[0] == 0
    code, _, err = _main("env", "diff", a, str(tmp_path / "none.json"))
    assert code == 2 and err.count("\n") == 1 and "cannot read the fingerprint" in err


def test_commands_are_read_as_json_or_key_value_lines_and_a_failing_one_is_one_line(tmp_path):
    import sys

    py = sys.executable
    out = tmp_path / "cmd.json"
    code, stdout, err = _main(
        "env", "capture", "--command", f"""db={py} -c "print('max_connections=100'); print('password=pw-7c1e9a')" """,
        "--command", f"""{py} -c "import json; print(json.dumps({{'spec': {{'replicas': 3}}}}))" """, "-o", str(out))
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert doc["values"]["db#max_connections"] == "100" and doc["values"]["db#password"].startswith("***")
    assert "pw-7c1e9a" not in out.read_text()
    [unnamed] = [k for k in doc["values"] if k.endswith("#spec.replicas")]
    assert unnamed.startswith("$ ") and doc["values"][unnamed] == "3" and doc["sources"]["db"] == "command"
    code, _, err = _main("env", "capture", "--command", f"{py} -c 'import sys; sys.exit(4)'",
                         "--command", "no-such-command-lk", "-o", str(tmp_path / "none.json"))
    assert code == 2 and not (tmp_path / "none.json").exists()
    lines = err.splitlines()
    assert len(lines) == 2 and "cannot capture: exit status 4" in lines[0] and "No such file" in lines[1]


def test_a_scenario_reads_its_commands_before_the_load(tmp_path):
    import sys

    from loadkit.run.preflight import read_environment
    from loadkit.scenario import load_scenario

    s = load_scenario(scenario_file(tmp_path, f"""\
        name: c
        target: {{host: "http://127.0.0.1:9", allowed_hosts: [127.0.0.1]}}
        users: [{{name: u, requests: [{{name: h, path: /}}]}}]
        load: {{users: 1, duration: 1s}}
        environment:
          commands: {{db: "{sys.executable} -c 'print(\\"max_connections=50\\")'"}}
        """))
    fp = read_environment(s, {}, {})
    assert fp.values == {"db#max_connections": "50"} and fp.sources == {"db": "command"}


def test_an_unreachable_target_is_an_error_and_parity_is_not_claimed(tmp_path):
    from loadkit.run import LoadRun
    from loadkit.scenario import load_scenario

    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "production.json").write_text(json.dumps({"format": 1, "values": {"/config#pool_size": "20"}}))
    s = load_scenario(_scenario(tmp_path, "http://127.0.0.1:1", 'must_match: ["*#pool_size"]'))
    outcome = LoadRun(s, tmp_path / "out", preflight_timeout=0.3, report=False).execute()
    assert outcome.status == "error" and outcome.verdict.status == "ERROR" and "unreachable" in outcome.verdict.reason
    assert outcome.verdict.parity is None and not outcome.verdict.parity_checks
    assert any("parity with envs/production.json not checked" in n for n in outcome.verdict.notes)
    assert read(only_run(tmp_path / "out"), "reference.json")["values"] == {"/config#pool_size": "20"}


def test_the_parity_demo_fails_on_the_stand_ins_pool_size(tmp_path):
    from helpers import ROOT

    code, out, err = _main("demo", "--scenario", str(ROOT / "scenarios/parity-demo.yaml"), "--out", str(tmp_path),
                           "--set", "load.stages.1.duration=1s", "--quiet")
    assert code == 1, out + err
    assert "FAIL   parity must_match *#pool_size" in out
    assert "/config#pool_size differs: reference 20, this run 8" in out
    assert "1 of 7 key(s) differ" in out  # production's https://helpdesk.example.com/config aligns with /config
