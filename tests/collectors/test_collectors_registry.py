"""SOURCES, option checking and redaction: what the scenario validator builds on."""

from __future__ import annotations

import time

import pytest

from loadkit.collectors import SOURCES, MetricSpec, check_spec, make_collector
from loadkit.errors import ConfigError
from loadkit.redact import redact


def test_every_source_says_its_options_and_fields():
    assert set(SOURCES) == {"process", "host", "postgres", "mysql", "scrape", "prometheus"}
    assert SOURCES["postgres"].required == ("dsn",)
    assert SOURCES["postgres"].metrics("db")[:3] == ("db.tps", "db.rows_read", "db.rows_written")
    assert SOURCES["process"].one_of == ("pid", "pid_file", "port")
    assert SOURCES["prometheus"].metrics("api_cpu") == ("api_cpu",)
    assert SOURCES["scrape"].open_fields and not SOURCES["host"].open_fields
    assert {"token_env", "username_env", "password_env"} <= SOURCES["prometheus"].option_keys


def test_options_are_typed_and_problems_listed():
    spec, problems = check_spec(MetricSpec("api", "prometheus", {"url": "http://p:9090", "query": "up", "step": "15s"}))
    assert problems == [] and spec.options["step"] == 15.0
    _, problems = check_spec(MetricSpec("t", "process", {"port": "http", "pid": 3, "colour": 1}))
    assert sorted(problems) == ["metrics t: give exactly one of pid, pid_file, port",
                               "metrics t: port must be int (TCP port the server listens on (pre-fork servers: master "
                               "and every worker))", "metrics t: unknown option 'colour' for source process"]
    _, problems = check_spec(MetricSpec("db", "postgress", {}))
    assert problems == ["metrics db: unknown source 'postgress' (did you mean 'postgres'?)"]
    with pytest.raises(ConfigError, match="dsn is required"):
        make_collector(MetricSpec("db", "postgres", {}), {}, time.time)


@pytest.mark.parametrize("text", [
    "cannot connect to postgresql://app:hunter2@db:5432/x: timeout",
    "host=db password=hunter2 dbname=x",
    "mysql://root:hunter2@127.0.0.1/test",
])
def test_redact_masks_passwords(text):
    assert "hunter2" not in redact(text)


def test_redact_masks_given_secrets():
    assert redact("Bearer tok-xyz failed", ("tok-xyz",)) == "Bearer *** failed"


@pytest.mark.parametrize("dsn", [
    "postgresql:/app:hunter2@127.0.0.1:5432/test",  # one slash short
    "postgresql//app:hunter2@127.0.0.1:5432/test",
    "postgresql:app:hunter2@127.0.0.1:5432/test",
    "postgresql://app:hun ter2@127.0.0.1:5432/test",  # libpq echoes the password itself
    "host=127.0.0.1 password=hunter2 dbname",
])
def test_a_dsn_typo_is_a_config_problem_that_never_shows_the_password(dsn):
    _, problems = check_spec(MetricSpec("db", "postgres", {"dsn": dsn}))
    assert len(problems) == 1 and problems[0].startswith("metrics db: dsn '"), problems
    assert "is not a libpq connection string or postgresql:// URL" in problems[0]
    assert "hunter2" not in problems[0] and "hun ter2" not in problems[0], problems
    with pytest.raises(ConfigError) as exc:
        make_collector(MetricSpec("db", "postgres", {"dsn": dsn}), {}, time.time)
    assert "hunter2" not in str(exc.value)


@pytest.mark.parametrize("dsn", ["mysql//root:hunter2@127.0.0.1/test", "mysql:/root:hunter2@127.0.0.1/test",
                                 "postgres://root:hunter2@127.0.0.1/test"])
def test_a_mysql_dsn_typo_is_a_config_problem_without_the_password(dsn):
    _, problems = check_spec(MetricSpec("m", "mysql", {"dsn": dsn}))
    assert len(problems) == 1 and "is not mysql://user:password@host:port/database" in problems[0]
    assert "hunter2" not in problems[0] and ":***@" in problems[0], problems


@pytest.mark.parametrize("source, options", [
    ("scrape", {"url": "file:///proc/self/environ"}),
    ("scrape", {"url": "ftp://u:hunter2@127.0.0.1/metrics"}),
    ("prometheus", {"url": "file:///etc/passwd", "query": "up"}),
    ("prometheus", {"url": "127.0.0.1:9090", "query": "up"}),
])
def test_metric_urls_must_be_http(source, options):
    _, problems = check_spec(MetricSpec("m", source, options))
    assert len(problems) == 1 and problems[0].startswith("metrics m: url expected an http(s) URL"), problems
    assert "hunter2" not in problems[0]


SCENARIO = """\
name: s
target: {{host: "http://127.0.0.1:8000", allowed_hosts: [127.0.0.1, metrics.internal]}}
metrics:
  - {metric}
users: [{{name: u, requests: [{{name: h, path: /}}]}}]
load: {{users: 1, duration: 1s}}
"""


@pytest.mark.parametrize("metric, message", [
    ('{name: p, source: prometheus, url: "http://u:hunter2@prometheus:9090", query: up}',
     "s.yaml:4: metrics.0.url: metrics p: host 'prometheus' is not in target.allowed_hosts (127.0.0.1, "
     "metrics.internal)"),
    ('{name: a, source: scrape, url: "http://10.0.0.8:9100/metrics"}',
     "s.yaml:4: metrics.0.url: metrics a: host '10.0.0.8' is not in target.allowed_hosts"),
    ('{name: a, source: scrape, url: "file:///proc/self/environ"}',
     "s.yaml:4: metrics.0.url: metrics a: url expected an http(s) URL such as http://127.0.0.1:8000, got "
     "'file:///proc/self/environ'"),
])
def test_metric_urls_are_held_to_the_allowed_hosts_at_load(metric, message):
    from loadkit.scenario import parse_scenario

    with pytest.raises(ConfigError) as exc:
        parse_scenario(SCENARIO.format(metric=metric), "s.yaml")
    assert len(exc.value.lines()) == 1 and exc.value.lines()[0].startswith(message), exc.value.lines()
    assert "hunter2" not in str(exc.value)


def test_metric_urls_on_allowed_hosts_load():
    from loadkit.scenario import parse_scenario

    s = parse_scenario(SCENARIO.format(metric='{name: a, source: scrape, url: "http://metrics.internal/m"}'), "s.yaml")
    assert [m.name for m in s.metrics] == ["a"]


def test_the_collector_set_holds_metric_urls_to_its_allow_list(tmp_path):
    from loadkit.collectors import CollectorSet

    spec = MetricSpec("p", "prometheus", {"url": "http://prometheus:9090", "query": "up"})
    with pytest.raises(ConfigError, match="metrics p: url host 'prometheus' is not in target.allowed_hosts"):
        CollectorSet([spec], {}, tmp_path / "m.parquet", allowed_hosts=("127.0.0.1",))
    with pytest.raises(ConfigError, match="not in target.allowed_hosts \\(127.0.0.1, localhost, ::1\\)"):
        CollectorSet([spec], {}, tmp_path / "m.parquet")  # loopback only, unless told
    assert CollectorSet([spec], {}, None, allowed_hosts=("prometheus",)).specs


def test_a_wrong_value_is_one_error_not_one_more_per_check_on_the_source():
    from loadkit.scenario import parse_scenario

    text = SCENARIO.format(metric='{name: db, source: postgres, dsn: "postgresql:/u:hunter2@h/db"}')
    with pytest.raises(ConfigError) as exc:
        parse_scenario(text + 'checks: ["per_request(db.tps) < 3"]\n', "s.yaml")
    assert len(exc.value.lines()) == 1 and "metrics.0.dsn: metrics db: dsn 'postgresql:/u:***@h/db'" in str(exc.value)
