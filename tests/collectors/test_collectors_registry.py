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
