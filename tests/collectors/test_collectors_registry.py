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
