"""``environment: {reference, must_match, scale, map, parity}``: read at validation, bad input one line each, exit 2."""

import io
import json

from helpers import ROOT, scenario_file

from loadkit.cli import main
from loadkit.parity import ParityMode
from loadkit.scenario import load_scenario

HEAD = """\
name: p
target: {host: "http://127.0.0.1:9", allowed_hosts: [127.0.0.1]}
users:
  - name: u
    requests: [{name: home, path: /}]
load: {users: 1, duration: 1s}
environment:
  urls: [/config]
"""


def _reference(tmp_path, values=None, fmt=1, name="prod.json"):
    (tmp_path / name).write_text(json.dumps({"format": fmt, "values": values or {
        "https://api.prod/config#pool_size": "20", "https://api.prod/config#cache": "true"},
        "sources": {"https://api.prod/config": "url"}}))


def _validate(path) -> tuple[int, list[str]]:
    err = io.StringIO()
    code = main(["validate", path], stdout=io.StringIO(), stderr=err)
    return code, err.getvalue().splitlines()


def test_a_valid_section_is_read_with_the_reference():
    s = load_scenario(str(ROOT / "scenarios/parity-demo.yaml"))
    p = s.environment.parity
    assert p is not None and p.reference.name == "envs/production.json" and p.must_match == ("*#pool_size",)
    assert p.mode == ParityMode.FAIL and dict(p.reference.values)["https://helpdesk.example.com/config#pool_size"] == "20"


def test_scale_map_and_warn(tmp_path):
    _reference(tmp_path)
    f = scenario_file(tmp_path, HEAD + '  reference: prod.json\n  scale: {"*#pool_size": 0.5}\n'
                                       '  map: {"https://api.prod/config": /config}\n  parity: warn\n')
    p = load_scenario(f).environment.parity
    assert p.scale == (("*#pool_size", 0.5),) and p.map == (("https://api.prod/config", "/config"),)
    assert p.mode == ParityMode.WARN


def test_unreadable_reference_is_one_line(tmp_path):
    f = scenario_file(tmp_path, HEAD + "  reference: nowhere.json\n")
    code, lines = _validate(f)
    assert code == 2 and len(lines) == 1
    assert lines[0] == (f"loadkit: error: {f}:9: environment.reference: reference 'nowhere.json' not found (beside "
                        "the scenario, in a folder above it, or in the current directory)")
    (tmp_path / "broken.json").write_text("{")
    f = scenario_file(tmp_path, HEAD + "  reference: broken.json\n", "b.yaml")
    code, lines = _validate(f)
    assert code == 2 and len(lines) == 1 and f"{f}:9: environment.reference: broken.json: not JSON" in lines[0]


def test_reference_of_another_format_version_is_one_line(tmp_path):
    _reference(tmp_path, fmt=2)
    f = scenario_file(tmp_path, HEAD + "  reference: prod.json\n")
    code, lines = _validate(f)
    assert code == 2 and len(lines) == 1
    assert f"{f}:9: environment.reference: prod.json: fingerprint format 2, this loadkit reads format 1" in lines[0]


def test_a_must_match_glob_matching_nothing_is_one_line(tmp_path):
    _reference(tmp_path)
    f = scenario_file(tmp_path, HEAD + '  reference: prod.json\n  must_match: ["*#pool_size", "db#max_connections"]\n')
    code, lines = _validate(f)
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"loadkit: error: {f}:10: environment.must_match.1: 'db#max_connections' matches no "
                               "key of the reference prod.json (its keys look like /config#cache, /config#pool_size)")


def test_parity_keys_without_a_reference_and_bad_values(tmp_path):
    f = scenario_file(tmp_path, HEAD + '  must_match: ["*#pool_size"]\n')
    code, lines = _validate(f)
    assert code == 2 and len(lines) == 1 and "must_match compares with a reference: add reference: FILE" in lines[0]
    _reference(tmp_path)
    f = scenario_file(tmp_path, HEAD + '  reference: prod.json\n  scale: {"*#pool_size": -1}\n  parity: maybe\n',
                      "c.yaml")
    code, lines = _validate(f)
    assert code == 2 and len(lines) == 2
    assert any(":10: environment.scale.*#pool_size: expected a number >=" in x for x in lines)
    assert any(":11: environment.parity: expected fail or warn, got 'maybe'" in x for x in lines)
