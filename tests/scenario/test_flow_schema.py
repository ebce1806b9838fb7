"""Flow validation: steps, extractions, expectations and groups, each problem one located line, before a request."""

import textwrap

import pytest

from loadkit.cli import main
from loadkit.errors import ConfigError
from loadkit.scenario import load_scenario, parse_scenario
from loadkit.scenario.model import Expect, ExtractFrom, Repeat, Request, Think

HEAD = """\
name: f
target: {host: http://127.0.0.1:8000}
users:
  - name: u
    vars: {who: {choice: [ann]}}
    flow:
"""
TAIL = "load: {users: 1, spawn_rate: 1, duration: 1s}\n"


def flow(steps: str) -> str:
    return HEAD + textwrap.indent(textwrap.dedent(steps).rstrip("\n") + "\n", "      ") + TAIL


def problems(text: str, tmp_path) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_scenario(str(path), env={})
    return [line.replace(str(path), "s.yaml") for line in exc.value.lines()]


def test_a_flow_is_read_into_steps_in_order():
    s = parse_scenario(flow("""\
        - {name: login, method: POST, path: /login, json: {user: "{who}"}, extract: {token: "json:$.token"},
           expect: {status: [200, 201], json: {"$.token": non-empty}, max_latency: 500ms}}
        - {think: {between: [1s, 3s]}}
        - {think: 2s}
        - repeat: 3
          group: shop
          steps:
            - {name: cart, path: /cart, headers: {Authorization: "Bearer {token}"}, timeout: 2s,
               expect: {body_contains: price, body_not_contains: [error, fail]}}
        """), "s.yaml")
    user = s.users[0]
    assert user.requests == ()
    login, think, think2, rep = user.flow
    assert isinstance(login, Request) and login.extract[0].source is ExtractFrom.JSON
    assert login.expect == Expect((200, 201), (), (), (("$.token", "non-empty"),), 0.5)
    assert isinstance(think, Think) and (think.wait.kind, think.wait.low, think.wait.high) == ("between", 1, 3)
    assert isinstance(think2, Think) and (think2.wait.kind, think2.wait.low) == ("constant", 2)
    assert isinstance(rep, Repeat) and rep.count == 3
    cart = rep.steps[0]
    assert (cart.group, cart.timeout, cart.expect.contains, cart.expect.not_contains) == (
        "shop", 2.0, ("price",), ("error", "fail"))
    assert s.endpoint_names == {"login", "cart"} and s.groups == {"cart": "shop"}


@pytest.mark.parametrize(("steps", "line"), [
    ('- {path: "/x/{nope}"}',
     "s.yaml:7: users.0.flow.0.path: unknown variable {nope} (vars of this user: who; extracted by earlier steps: none)"),
    ('- {path: "/a/{tok}"}\n- {path: /login, extract: {tok: "json:$.t"}}',
     "s.yaml:7: users.0.flow.0.path: {tok} is used before it is extracted: step '/login' (users.0.flow.1.extract.tok) "
     "defines it later in the flow"),
    ('- {path: "/login?x={tok}", extract: {tok: "json:$.t"}}',
     "s.yaml:7: users.0.flow.0.path: {tok} is used before it is extracted: step '/login?x={tok}' "
     "(users.0.flow.0.extract.tok) defines it later in the flow"),
    ('- {path: /a, extract: {tok: "json:$.items["}}',
     "s.yaml:7: users.0.flow.0.extract.tok: bad JSONPath '$.items[': Parse error near the end of string!"),
    ('- {path: /a, extract: {tok: "json:items"}}',
     "s.yaml:7: users.0.flow.0.extract.tok: JSONPath 'items' must start with '$' (e.g. $.items[0].id)"),
    ('- {path: /a, extract: {tok: "regex:value=\\"([^\\""}}',
     "s.yaml:7: users.0.flow.0.extract.tok: bad regular expression 'value=\"([^\"': unterminated character set "
     "at position 8"),
    ('- {path: /a, extract: {tok: "regex:(a)(b)"}}',
     "s.yaml:7: users.0.flow.0.extract.tok: regular expression '(a)(b)' has 2 groups; give one (its value is "
     "extracted) or none (the whole match); write (?:...) for the others"),
    ('- {path: /a, extract: {tok: "xpath://a"}}',
     "s.yaml:7: users.0.flow.0.extract.tok: unknown source 'xpath': expected json:$.PATH, header:NAME, "
     "regex:PATTERN or cookie:NAME"),
    ('- {path: /a, extract: {who: "header:X"}}',
     "s.yaml:7: users.0.flow.0.extract.who: 'who' is already a variable of this user (vars:); give the extracted "
     "value another name"),
    ('- {path: /a, expect: {json: {"$.a[": 1}}}',
     "s.yaml:7: users.0.flow.0.expect.json.$.a[: bad JSONPath '$.a[': Parse error near the end of string!"),
    ('- {path: /a, expect: {status: two}}',
     "s.yaml:7: users.0.flow.0.expect.status: expected an HTTP status code or a list of them, got 'two'"),
    ('- {path: /a, expect: {max_latency: 0s}}',
     "s.yaml:7: users.0.flow.0.expect.max_latency: expected a timeout above 0 and at most 24h, got '0s'"),
    ('- {path: /a, weight: 2}',
     "s.yaml:7: users.0.flow.0.weight: flow steps run in order, each once: 'weight' applies to requests: lists"),
    ('- {think: {pacing: 2}}',
     "s.yaml:7: users.0.flow.0.think.pacing: a think time is a pause: expected between: [MIN, MAX] or constant: SECONDS"),
    ('- {repeat: 0, steps: [{path: /a}]}', "s.yaml:7: users.0.flow.0.repeat: expected a number >= 1, got 0"),
    ('- {path: /a, group: "no spaces"}',
     "s.yaml:7: users.0.flow.0.group: expected a group name of letters, digits, '-', '_' or '.', got 'no spaces'"),
    ('- {name: x, path: /a, group: g1}\n- {name: x, path: /a, group: g2}',
     "s.yaml:6: users.0.flow: steps named 'x' belong to different groups (g1 and g2); give them different names"),
    ("- {think: 1s}", "s.yaml:6: users.0.flow: a flow needs at least one request"),
])
def test_flow_problems_are_one_located_line(steps, line, tmp_path):
    assert problems(flow(steps), tmp_path) == [line]


def test_requests_and_flow_are_exclusive_and_extract_is_for_flows(tmp_path):
    text = flow("- {path: /a}").replace("    flow:\n", "    requests: [{path: /b, extract: {t: 'header:X'}}]\n    flow:\n")
    assert problems(text, tmp_path) == [
        "s.yaml:4: users.0: expected exactly one of 'requests' (one picked at random per iteration) or 'flow' "
        "(steps in order, once per iteration)"]
    text = flow("- {path: /a}").replace("    flow:\n      - {path: /a}\n", "    requests: [{path: /b, extract: {t: 'header:X'}}]\n")
    assert problems(text, tmp_path)[0].startswith("s.yaml:6: users.0.requests.0.extract: unknown key 'extract'")


def test_an_open_model_load_refuses_flows(tmp_path):
    text = flow("- {path: /a}").replace(TAIL, "load: {arrival: {rate: 5/s, duration: 2s}, concurrency: 2}\n")
    assert problems(text, tmp_path) == [
        "s.yaml:8: load.arrival: open-model loads (arrival, replay) start single requests; user 'u' has a flow "
        "(steps that depend on each other), so use stages for it"]


def test_checks_may_target_a_flow_group_and_validate_exits_2_on_problems(tmp_path, capsys):
    good = flow("- {name: a, path: /a, group: checkout}") + 'checks: ["p95(latency, group=checkout) < 800ms"]\n'
    (tmp_path / "g.yaml").write_text(good)
    assert main(["validate", str(tmp_path / "g.yaml")]) == 0
    (tmp_path / "b.yaml").write_text(good.replace("group=checkout", "group=pay"))
    assert main(["validate", str(tmp_path / "b.yaml")]) == 2
    err = capsys.readouterr().err
    assert "b.yaml:9: checks.0:" in err and "group=pay" in err and "Traceback" not in err
