"""Locust's global event hooks fire under loadkit as under ``locust``, custom options arrive in
``environment.parsed_options`` with the values the scenario's ``options:`` gives, and a hook that makes
a ``locust`` run fail makes the loadkit run fail.

``hooks.py`` writes one JSON line per hook to ``--marker-file``; the same file runs through
``locust --headless`` and through loadkit, and both must leave the same hooks, in the same order,
having seen the same options and counted the requests Locust counted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.counting_server import CountingServer
from support.fidelity import LOADKIT, LOCUST, LOCUSTFILES, LocustRun, run_loadkit, write_scenario

EVENTS = ["init", "test_start", "spawning_complete", "test_stopping", "test_stop", "quitting", "quit"]


def _marks(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_hook_fires_in_order_and_custom_options_arrive_typed(site: CountingServer, tmp_path: Path) -> None:
    lc_marks, lk_marks = tmp_path / "locust.jsonl", tmp_path / "loadkit.jsonl"
    locust = LocustRun(LOCUSTFILES / "hooks.py", site.url(LOCUST), 3, 2, "Hooked",
                       options={"greeting": "bonjour", "pace": 0.35, "stop_timeout": 4, "marker_file": lc_marks})
    path = write_scenario(tmp_path, f"""\
        name: hooks
        target: {{host: {site.url(LOADKIT)}}}
        users:
          - locust: {{class: {LOCUSTFILES}/hooks.py:Hooked, options: {{marker_file: {lk_marks}, greeting: bonjour,
                      pace: 0.35, stop_timeout: 4}}}}
        load: {{users: 3, spawn_rate: 3, duration: 2s}}
        checks: ["rps > 0"]
        """)
    lk = run_loadkit(path, tmp_path / "out")
    lc = locust.result()
    assert lc.code == 0 and lk.code == 0, (lc.stderr[-2000:], lk.stderr)
    for marks, url, requests in ((_marks(lc_marks), site.url(LOCUST), sum(lc.endpoint_counts().values())),
                                 (_marks(lk_marks), site.url(LOADKIT), lk.manifest["samples"])):
        assert [m["event"] for m in marks] == EVENTS, marks
        init = marks[0]
        assert (init["greeting"], init["pace"], init["host"], init["runner"]) == ("bonjour", 0.35, url, "LocalRunner")
        assert init["stop_timeout"] == 4.0  # Locust's own --stop-timeout, applied
        assert marks[2]["user_count"] == 3
        stop = marks[4]
        assert stop["requests"] == stop["locust_requests"] == requests > 0
        assert marks[-1]["exit_code"] == 0
    # the custom pace (0.35 s, not the default 0.3 s) paced both runs: 6 tasks per user in 2 s
    assert sum(lc.endpoint_counts().values()) <= 3 * 6 and lk.manifest["samples"] <= 3 * 6 + 3


@pytest.mark.parametrize("fail_in, locust_code, reason", [
    ("init", 1, "an event hook raised RuntimeError: no test data for this run at broken_hooks.py:17 in _init in init, "
                "where locust -f stops with exit code 1"),
    ("test_start", 2, "an event hook raised RuntimeError: test data service down at broken_hooks.py:23 in _test_start "
                      "during the run, for which locust -f exits with code 2"),
    ("quitting", 1, "the locustfile set environment.process_exit_code = 1 (its own pass/fail rule, which loadkit does "
                    'not apply as a verdict): write the rule as a check, e.g. "error_rate < 1%"'),
])
def test_a_hook_that_fails_the_locust_run_fails_the_loadkit_run(site: CountingServer, tmp_path: Path, fail_in: str,
                                                                locust_code: int, reason: str) -> None:
    locust = LocustRun(LOCUSTFILES / "broken_hooks.py", site.url(LOCUST), 1, 1, "Fragile", options={"fail_in": fail_in})
    path = write_scenario(tmp_path, f"""\
        name: broken-{fail_in}
        target: {{host: {site.url(LOADKIT)}}}
        users: [{{locust: {{class: {LOCUSTFILES}/broken_hooks.py:Fragile, options: {{fail_in: {fail_in}}}}}}}]
        load: {{users: 1, spawn_rate: 1, duration: 1s}}
        checks: ["rps > 0"]
        """)
    lk = run_loadkit(path, tmp_path / "out")
    lc = locust.result()
    assert lc.code == locust_code, lc.stderr[-2000:]
    assert lk.code == 3, lk.stderr
    assert lk.manifest["status"] == "error" and lk.manifest["reason"] == reason, lk.manifest["reason"]
    assert f"loadkit: error: {reason}" in lk.stderr
    if fail_in == "init":  # as under locust, nothing is sent
        assert site.counts(LOADKIT)["requests"] == {} and lc.stats == []
