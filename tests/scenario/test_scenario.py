"""Scenario loading: every bad-input case gives one located line, all problems at once, exit 2."""

import textwrap
from pathlib import Path

import pytest

from loadkit.cli import main
from loadkit.errors import ConfigError
from loadkit.scenario import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
name: shop
target:
  host: http://127.0.0.1:8000
users:
  - name: buyer
    wait: {constant: 0.1}
    requests:
      - {name: home, path: /}
      - {name: item, path: "/items/{item}", weight: 3}
    vars:
      item: {randint: [1, 9]}
load:
  stages:
    - {duration: 10s, users: 20, spawn_rate: 10}
    - {duration: 20s, users: 40}
checks:
  - "p95(latency) < 300ms"
"""


def problems(text: str, tmp_path: Path, **kw) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(ConfigError) as exc:
        load_scenario(str(path), env=kw.pop("env", {}), **kw)
    return exc.value.lines()


def test_good_scenario_is_typed_and_frozen(tmp_path):
    s = parse_scenario(GOOD, "s.yaml")
    assert s.name == "shop"
    assert [st.users for st in s.load.stages] == [20, 40]
    assert s.load.stages[1].spawn_rate == 10  # inherited from the previous stage
    assert s.load.duration == 30.0
    assert s.load.warmup_seconds() == 2.0  # 20 users at 10/s
    assert s.target.allowed_hosts == ("127.0.0.1", "localhost", "::1")
    with pytest.raises(AttributeError):
        s.name = "other"  # type: ignore[misc]


def test_bundled_scenarios_validate():
    assert main(["validate", str(ROOT / "scenarios/example.yaml"), str(ROOT / "scenarios/demo.yaml")]) == 0


def test_interpolation_and_defaults():
    text = GOOD.replace("http://127.0.0.1:8000", "${TARGET_URL:-http://localhost:9000}").replace(
        "users: 40", 'users: "${PEAK_USERS}"')
    s = parse_scenario(text, "s.yaml", env={"PEAK_USERS": "70"})
    assert s.target.host == "http://localhost:9000"
    assert s.load.stages[1].users == 70
    s = parse_scenario(text, "s.yaml", env={"PEAK_USERS": "5", "TARGET_URL": "http://127.0.0.1:1"})
    assert s.target.host == "http://127.0.0.1:1"


def test_missing_environment_variable(tmp_path):
    lines = problems(GOOD.replace("users: 40", 'users: "${PEAK_USERS}"'), tmp_path)
    assert any("s.yaml:15: load.stages.1.users: environment variable PEAK_USERS is not set" in line for line in lines)


def test_set_overrides_and_host():
    s = parse_scenario(GOOD, "s.yaml", overrides=["load.stages.1.users=80", "checks.0=error_rate < 2%"],
                       host="http://localhost:7000")
    assert s.load.stages[1].users == 80
    assert s.checks[0].kind == "error_rate"
    assert s.target.host == "http://localhost:7000"


@pytest.mark.parametrize(("override", "message"), [
    ("load.stages.5.users=1", r"load.stages.5: no such list item \(the list has 2\)"),
    ("nonsense", "expected KEY.PATH=VALUE"),
    ("name.x=1", "cannot set a key inside a str"),
])
def test_bad_overrides(override, message):
    with pytest.raises(ConfigError, match=message):
        parse_scenario(GOOD, "s.yaml", overrides=[override])


def test_host_outside_allowed_hosts_is_refused():
    with pytest.raises(ConfigError, match=r"target.host: host '10.1.2.3' is not in target.allowed_hosts"):
        parse_scenario(GOOD, "s.yaml", host="http://10.1.2.3:8000")
    with pytest.raises(ConfigError, match="expected an http"):
        parse_scenario(GOOD, "s.yaml", host="ftp://127.0.0.1")


def test_all_problems_reported_at_once_with_file_line_and_key(tmp_path):
    lines = problems("""\
        name: bad
        target:
          host: http://127.0.0.1:8000
        users:
          - name: c
            wiat: {between: [1, 2]}
            requests:
              - {name: a, method: GETT, path: "/x/{nope}", weight: -1}
              - {name: b, path: no-slash}
          - locust: missing_file.py:User
        load:
          stages:
            - {duration: 10x, users: twenty}
        checks:
          - "p95(latency, zz) < 300ms"
          - "error_rate < 1"
          - "p95(cpu) < 1ms"
        """, tmp_path)
    text = "\n".join(lines)
    expected = [
        "s.yaml:6: users.0.wiat: unknown key 'wiat' (did you mean 'wait'?)",
        "s.yaml:8: users.0.requests.0.method: expected one of DELETE, GET",
        "s.yaml:8: users.0.requests.0.weight: expected a number >= 0",
        "s.yaml:8: users.0.requests.0.path: unknown variable {nope}",
        "s.yaml:9: users.0.requests.1.path: expected a path starting with '/'",
        "s.yaml:10: users.1.locust: Locust file 'missing_file.py' not found",
        "s.yaml:13: load.stages.0.duration: expected a duration such as 30s",
        "s.yaml:13: load.stages.0.users: expected a whole number, got str 'twenty'",
        "s.yaml:17: checks.2: check 'p95(cpu) < 1ms': unknown metric 'cpu'",
    ]
    for e in expected:
        assert e in text, f"missing {e!r} in:\n{text}"
    assert "checks.1: check 'error_rate < 1': expected a percentage" in text
    assert len(lines) >= len(expected) + 1


def test_unknown_endpoint_in_check(tmp_path):
    lines = problems(GOOD.replace('"p95(latency) < 300ms"', '"p95(latency, itme) < 1s"'), tmp_path)
    assert lines == [f"{tmp_path}/s.yaml:17: checks.0: check 'p95(latency, itme) < 1s' names unknown endpoint "
                     "'itme' (known: home, item)"]


def test_wrong_types(tmp_path):
    lines = problems("""\
        name: t
        target: http://127.0.0.1
        users: {name: x}
        load: {stages: [{duration: 0s, users: 1}]}
        checks: "p95(latency) < 1s"
        """, tmp_path)
    text = "\n".join(lines)
    assert "s.yaml:2: target: expected a mapping with keys allowed_hosts, auth, headers, host, got str" in text
    assert "s.yaml:3: users: expected a non-empty list of users, got a mapping" in text
    assert "load.stages.0.duration: expected a duration above 0" in text
    assert "s.yaml:5: checks: expected a list of checks, got str" in text


def test_unparsable_yaml(tmp_path):
    lines = problems("name: x\nusers:\n  - {name: a\n load: 3\n", tmp_path)
    assert len(lines) == 1
    assert lines[0].startswith(f"{tmp_path}/s.yaml:4: invalid YAML:")


def test_not_a_mapping_and_binary(tmp_path):
    assert "expected a mapping with keys name, target" in problems("- just\n- a list\n", tmp_path)[0]
    path = tmp_path / "b.yaml"
    path.write_bytes(b"\x00\x01\x02\xff")
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        load_scenario(str(path))
    with pytest.raises(ConfigError, match="cannot read scenario"):
        load_scenario(str(tmp_path / "none.yaml"))


def test_missing_required_keys(tmp_path):
    lines = problems("name: x\n", tmp_path)
    assert lines == [f"{tmp_path}/s.yaml:1: missing required key 'target'",
                     f"{tmp_path}/s.yaml:1: missing required key 'users'",
                     f"{tmp_path}/s.yaml:1: missing required key 'load' (and no locustfile of the users defines a "
                     "LoadTestShape)"]


def test_locust_class_problems(tmp_path):
    (tmp_path / "u.py").write_text(
        "from locust import HttpUser, task\n"
        "class Real(HttpUser):\n    @task\n    def t(self):\n        pass\n"
        "class NotAUser:\n    pass\n")
    (tmp_path / "broken.py").write_text("import nonexistent_module_xyz\n")
    text = GOOD.replace("load:", "  - locust: u.py:Nope\n  - locust: u.py:NotAUser\n  - locust: broken.py:X\n"
                        "  - locust: u.py:Real\n    weight: 2\nload:", 1)
    lines = problems(text, tmp_path)
    assert any("users.1.locust:" in line and "has no class 'Nope' (classes there: Real, NotAUser)" in line for line in lines)
    assert any("users.2.locust:" in line and "NotAUser in" in line and "is not a locust.User subclass" in line
               for line in lines)
    assert any("users.3.locust:" in line and "ModuleNotFoundError" in line for line in lines)
    assert not any("users.4" in line for line in lines)


def test_csv_vars_and_auth(tmp_path):
    (tmp_path / "accounts.csv").write_text("email,plan\na@x.io,free\nb@x.io,pro\n")
    text = GOOD.replace("item: {randint: [1, 9]}", "item: {randint: [1, 9]}\n      acct: {csv: accounts.csv, order: sequential}")
    text = text.replace("{name: home, path: /}", '{name: home, path: "/?u={acct.email}"}')
    text = text.replace("    wait:", "    auth: {bearer: {token_env: SHOP_TOKEN}}\n    wait:")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    s = load_scenario(str(path), env={"SHOP_TOKEN": "t0k"})
    acct = s.users[0].vars[1]
    assert acct.kind == "csv" and acct.order == "sequential" and acct.values[1]["plan"] == "pro"
    assert s.users[0].auth.secret == "t0k" and "t0k" not in repr(s.users[0].auth)
    lines = problems(text.replace("acct.email", "acct.mail"), tmp_path)
    assert any("has no column 'mail' (columns: email, plan)" in line for line in lines)
    assert any("environment variable SHOP_TOKEN is not set" in line for line in lines)


def test_validate_command_exit_code_and_lines(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("wait:", "wiat:").replace("300ms", "300"))
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    assert main(["validate", str(good), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert "good.yaml: ok (shop: 1 users, 30s, 1 checks)" in out
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"loadkit: error: {bad}:") for line in lines)
    assert "Traceback" not in err


def test_run_with_bad_scenario_exits_2_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("20, spawn_rate", "-3, spawn_rate"))
    assert main(["run", str(bad), "--out", str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err
    assert "load.stages.0.users: expected a number >= 0" in err and "Traceback" not in err
    assert not (tmp_path / "res").exists()


def test_usage_error_is_one_line_exit_2(capsys):
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the following arguments are required: scenario" in err
