"""Locust's command-line options under loadkit: the ones it applies (``--tags``, ``--exclude-tags``,
``--stop-timeout`` and the locustfile's own) work as under ``locust``; every other one, given in
``options:``, in a ``LOCUST_*`` environment variable or in a Locust config file, is refused with
one line before anything is sent, never silently ignored."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from support.counting_server import CountingServer
from support.fidelity import LOADKIT, LOCUST, LOCUSTFILES, LocustRun, run_loadkit, write_scenario

from loadkit.cli import main

HOOKS = LOCUSTFILES / "hooks.py"


def _validate(path: Path) -> tuple[int, list[str]]:
    err = io.StringIO()
    code = main(["validate", str(path)], stdout=io.StringIO(), stderr=err)
    return code, err.getvalue().splitlines()


def _scenario(tmp_path: Path, options: str, users: str = "") -> Path:
    return write_scenario(tmp_path, f"""\
        name: opts
        target: {{host: http://127.0.0.1:9}}
        users:
          - locust: {{class: {HOOKS}:Hooked, options: {options}}}
        {users}load: {{users: 1, duration: 1s}}
        """)


@pytest.mark.parametrize("key, value, why", [
    ("users", 10, "--users is Locust's own option, which loadkit does not apply: the load comes from load: "
                  "(users and duration, stages, or a LoadTestShape)"),
    ("spawn_rate", 5, "--spawn-rate is Locust's own option, which loadkit does not apply: the load comes from load:"),
    ("run_time", "1m", "--run-time is Locust's own option, which loadkit does not apply: the load comes from load:"),
    ("host", "http://127.0.0.1:8", "--host is Locust's own option, which loadkit does not apply: the host is "
                                   "target.host (or loadkit run --host)"),
    ("class_picker", True, "--class-picker is Locust's own option, which loadkit does not apply: loadkit always runs "
                           "headless, without Locust's web UI"),
    ("web_port", 8090, "--web-port is Locust's own option, which loadkit does not apply: loadkit always runs headless"),
    ("processes", 4, "--processes is Locust's own option, which loadkit does not apply: loadkit run --workers N"),
    ("csv", "out", "--csv is Locust's own option, which loadkit does not apply: loadkit writes every request to "
                   "samples.parquet"),
    ("reset_stats", True, "--reset-stats is Locust's own option, which loadkit does not apply: loadkit keeps every "
                          "request; load.warmup leaves the start of the load out of the checks"),
    ("exit_code_on_error", 0, "--exit-code-on-error is Locust's own option, which loadkit does not apply: the verdict"),
    ("equal_weights", True, "--equal-weights is Locust's own option, which loadkit does not apply: give each users: "
                            "entry its weight:"),
    ("config", "locust.conf", "--config is Locust's own option, which loadkit does not apply: loadkit reads no "
                              "Locust config file"),
    ("loglevel", "DEBUG", "--loglevel is Locust's own option, which loadkit does not apply: loadkit --debug shows "
                          "Locust's log"),
])
def test_a_locust_option_loadkit_does_not_apply_is_refused_with_one_line(tmp_path: Path, key: str, value: object,
                                                                        why: str) -> None:
    path = _scenario(tmp_path, f"{{{key}: {value}}}")
    code, lines = _validate(path)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"loadkit: error: {path}:4: users.0.locust.options.{key}: {why}"), lines


def test_a_locust_environment_variable_loadkit_does_not_apply_is_refused(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCUST_USERS", "50")
    path = _scenario(tmp_path, "{}")
    code, lines = _validate(path)
    assert code == 2 and lines == [f"loadkit: error: {path}:3: users: the environment variable LOCUST_USERS sets "
                                   "--users, Locust's own option, which loadkit does not apply: the load comes from "
                                   "load: (users and duration, stages, or a LoadTestShape)"], lines


def test_a_locust_config_file_here_is_refused_since_loadkit_does_not_read_it(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "locust.conf").write_text("users = 10\ntags = checkout\n")
    monkeypatch.chdir(tmp_path)
    path = _scenario(tmp_path, "{}")
    code, lines = _validate(path)
    assert code == 2 and lines == [f"loadkit: error: {path}:3: users: {tmp_path}/locust.conf is a Locust config file, "
                                   "which locust -f would read and loadkit does not: give its settings in the scenario "
                                   "(options: of the locust: entries, load:), and move it out of the way"], lines


def test_two_locust_entries_giving_one_option_two_values_are_refused(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "{greeting: hi}", users=f"  - locust: {{class: {HOOKS}:Hooked, options: {{greeting: "
                                                       "ho}}\n        ")
    code, lines = _validate(path)
    assert code == 2 and len(lines) == 1 and lines[0].endswith(
        "users.1.locust.options.greeting: 'ho' differs from 'hi' given in users.0: Locust parses one command line "
        "for all locustfiles, so an option has one value"), lines


def test_an_option_no_locustfile_defines_or_a_bad_value_is_refused(tmp_path: Path) -> None:
    code, lines = _validate(_scenario(tmp_path, "{gretting: hi}"))
    assert code == 2 and len(lines) == 1 and "locust options: no locustfile defines --gretting (their own options: " \
        "greeting, marker_file, pace" in lines[0], lines
    code, lines = _validate(_scenario(tmp_path, "{pace: fast}"))
    assert code == 2 and len(lines) == 1 and "locust options: argument --pace: invalid float value: 'fast'" in lines[0]


@pytest.mark.parametrize("options, endpoints", [
    ({"tags": ["checkout"]}, {"POST /checkout/confirm"}),
    ({"tags": ["browse"], "exclude_tags": ["catalogue"]}, {"GET /"}),
    ({"exclude_tags": ["browse"]}, {"POST /checkout/confirm", "GET /about"}),
])
def test_tags_pick_tasks_as_locust_picks_them(site: CountingServer, tmp_path: Path, options: dict,
                                             endpoints: set[str]) -> None:
    # a copy per case: Locust filters a class's tasks in place, once per process
    file = tmp_path / "tagged.py"
    file.write_text((LOCUSTFILES / "tagged.py").read_text())
    cli = {k: " ".join(v) for k, v in options.items()}
    locust = LocustRun(file, site.url(LOCUST), 2, 2, "Tagged", options=cli)
    yaml_options = ", ".join(f"{k}: [{', '.join(v)}]" for k, v in options.items())
    path = write_scenario(tmp_path, f"""\
        name: tagged
        target: {{host: {site.url(LOADKIT)}}}
        users: [{{locust: {{class: {file}:Tagged, options: {{{yaml_options}}}}}}}]
        load: {{users: 2, spawn_rate: 2, duration: 2s}}
        checks: ["rps > 0"]
        """)
    lk = run_loadkit(path, tmp_path / "out")
    lc = locust.result()
    assert lk.code == 0 and lc.code == 0, (lk.stderr, lc.stderr[-2000:])
    assert set(lk.endpoint_counts()) == set(lc.endpoint_counts()) == endpoints, (lk.endpoint_counts(),
                                                                                lc.endpoint_counts())
    for key, n in lk.endpoint_counts().items():
        assert abs(n - lc.endpoint_counts()[key]) <= 2, (lk.endpoint_counts(), lc.endpoint_counts())
