import pytest

from loadkit.scenario.checks import parse_check
from loadkit.units import parse_duration, parse_latency_ms, parse_percent


@pytest.mark.parametrize(("text", "kind", "stat", "endpoint", "op", "threshold"), [
    ("p95(latency) < 300ms", "latency", "p95", None, "<", 300.0),
    ("p99(latency, ticket-create) < 800ms", "latency", "p99", "ticket-create", "<", 800.0),
    ("p99.9(latency)<=1.5s", "latency", "p99.9", None, "<=", 1500.0),
    ("mean(latency, GET /x) > 2ms", "latency", "mean", "GET /x", ">", 2.0),
    ("avg(latency) < 10ms", "latency", "mean", None, "<", 10.0),
    ("error_rate < 1%", "error_rate", None, None, "<", 0.01),
    ("error_rate(faq-search) <= 0.5%", "error_rate", None, "faq-search", "<=", 0.005),
    ("rps >= 50/s", "rps", None, None, ">=", 50.0),
    ("rps(ticket-get) > 2.5", "rps", None, "ticket-get", ">", 2.5),
    ("requests > 100", "requests", None, None, ">", 100.0),
    ("failures(x) < 3", "failures", None, "x", "<", 3.0),
    ("p95(latency, GET /faq/search?q={topic}) < 1s", "latency", "p95", "GET /faq/search?q={topic}", "<", 1000.0),
])
def test_parse_valid(text, kind, stat, endpoint, op, threshold):
    c = parse_check(text)
    assert (c.kind, c.stat, c.endpoint, c.op) == (kind, stat, endpoint, op)
    assert c.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(("text", "message"), [
    ("p95(latncy) < 300ms", "unknown metric 'latncy'"),
    ("p101(latency) < 300ms", "unknown statistic 'p101'"),
    ("p75(latency) < 300ms", "unknown statistic 'p75'"),
    ("p95(latency) < 3m", "expected a latency with its unit, such as 300ms"),
    ("p95(latency) < 300", "expected a latency with its unit"),
    ("p95(latency) < fast", "expected a latency"),
    ("error_rate < 1", "expected a percentage such as 1%"),
    ("rps > many", "expected a rate"),
    ("requests > 1.5", "expected a whole number"),
    ("p95(latency) = 3ms", "cannot parse check"),
    ("latency is low", "cannot parse check"),
    ("", "expected a check"),
])
def test_parse_invalid(text, message):
    with pytest.raises(ValueError, match=message):
        parse_check(text)


def test_unknown_endpoint_is_refused_with_known_names():
    with pytest.raises(ValueError, match=r"unknown endpoint 'tickt-get' \(known: faq, ticket-get\)"):
        parse_check("p95(latency, tickt-get) < 1s", endpoints={"faq", "ticket-get"})
    assert parse_check("p95(latency, faq) < 1s", endpoints={"faq"}).endpoint == "faq"


def test_quantile_and_comparison():
    c = parse_check("p99.9(latency) < 100ms")
    assert c.quantile == pytest.approx(0.999)
    assert c.holds(99.9) and not c.holds(100.0)
    assert parse_check("median(latency) < 1ms").quantile == 0.5
    assert parse_check("rps >= 10").holds(10.0)


def test_units():
    assert parse_duration("1m30s") == 90.0
    assert parse_duration("250ms") == 0.25
    assert parse_duration(2) == 2.0
    assert parse_latency_ms("1.5s") == 1500.0
    assert parse_percent("0.5%") == 0.005
    for bad in ("10x", "-1", "s", True):
        with pytest.raises(ValueError):
            parse_duration(bad)
    with pytest.raises(ValueError):
        parse_percent(0.01)
