"""Summaries and verdicts on literal data: no I/O, no clock."""

import numpy as np
import pytest

from loadkit.analysis import summarize
from loadkit.scenario.checks import parse_check
from loadkit.verdict import evaluate


def make(latencies, errors=None, endpoints=None, ts=None):
    n = len(latencies)
    return summarize(
        np.asarray(ts if ts is not None else np.linspace(0, 9.99, n), dtype=float),
        np.asarray(endpoints or ["a"] * n, dtype=object),
        np.asarray(latencies, dtype=float),
        np.asarray(errors or [None] * n, dtype=object),
        0.0, 10.0,
    )


def test_exact_percentiles_and_rates():
    s = make(list(range(1, 101)))
    lat = s.requests.latency_ms
    assert (lat.min, lat.max, lat.mean) == (1.0, 100.0, 50.5)
    assert lat.p50 == pytest.approx(np.percentile(np.arange(1, 101), 50))
    assert lat.p99 == pytest.approx(99.01)
    assert s.requests.rps == pytest.approx(10.0)
    assert s.requests.total == 100 and s.requests.failures == 0


def test_window_excludes_warmup_and_latency_uses_successes_only():
    ts = [0.5, 1.5, 2.5, 3.5, 4.5]
    lat = [900.0, 10.0, 20.0, 0.1, 30.0]
    errors = [None, None, None, "ConnectionRefusedError", None]
    s = summarize(np.array(ts), np.array(["a"] * 5, dtype=object), np.array(lat), np.array(errors, dtype=object), 1.0, 5.0)
    assert s.requests.total == 4  # the 900 ms request at 0.5 s is in the warmup
    assert s.requests.failures == 1 and s.requests.error_rate == 0.25
    assert s.requests.latency_ms.min == 10.0  # the failed 0.1 ms request is not latency
    assert s.run_total == 5 and s.run_failures == 1
    assert s.errors == (("GET a", "ConnectionRefusedError", 1),)


def test_per_endpoint():
    s = make([1, 2, 3, 100, 200], endpoints=["a", "a", "a", "b", "b"], errors=[None, None, "x", None, None])
    assert set(s.endpoints) == {"GET a", "GET b"}  # keyed as Locust keys them: method and name
    assert s.endpoints["GET a"].total == 3 and s.endpoints["GET a"].failures == 1
    assert s.endpoints["GET b"].latency_ms.max == 200.0 and s.endpoints["GET b"].name == "b"


def checks(*texts, severity="fail"):
    return tuple(parse_check(t, severity=severity) for t in texts)


def test_pass_and_fail_with_reasons():
    s = make([10.0] * 99 + [500.0])
    v = evaluate(checks("p50(latency) < 20ms", "max(latency) < 100ms"), s, "complete")
    assert v.status == "FAIL"
    assert [c.status for c in v.checks] == ["PASS", "FAIL"]
    assert v.checks[1].reason == "observed 500 ms, limit < 100 ms"
    assert v.checks[1].observed == 500.0 and v.checks[1].limit == 100.0
    assert evaluate(checks("p50(latency) < 20ms"), s, "complete").status == "PASS"


def test_warn_severity_and_no_checks():
    s = make([10.0] * 10)
    v = evaluate(checks("p50(latency) < 5ms", severity="warn"), s, "complete")
    assert v.status == "WARN" and v.checks[0].status == "WARN"
    v = evaluate((), s, "complete")
    assert v.status == "WARN" and "nothing was asserted" in v.reason


def test_nodata_fails_the_verdict():
    s = make([10.0] * 10)
    v = evaluate(checks("p95(latency, other) < 1s", "error_rate < 1%"), s, "complete")
    assert v.checks[0].status == "NODATA"
    assert v.checks[0].reason == "no requests to endpoint 'other' in the run"
    assert v.status == "FAIL"


def test_no_success_is_error_never_pass():
    s = make([0.1] * 5, errors=["ConnectionRefusedError: refused"] * 5)
    v = evaluate(checks("error_rate < 100%"), s, "complete")
    assert v.status == "ERROR" and "no request succeeded (5 failed; e.g. ConnectionRefusedError" in v.reason
    empty = make([])
    assert evaluate(checks("p95(latency) < 1s"), empty, "complete").status == "ERROR"


def test_interrupted_and_error_runs_are_not_pass():
    s = make([10.0] * 10)
    assert evaluate(checks("p50(latency) < 20ms"), s, "interrupted", "interrupted by SIGINT").status == "ERROR"
    v = evaluate(checks("p50(latency) < 20ms"), s, "error", "target unreachable")
    assert (v.status, v.reason) == ("ERROR", "target unreachable")


def test_error_rate_and_rps_checks():
    s = make([5.0] * 100, errors=[None] * 98 + ["e", "e"])
    v = evaluate(checks("error_rate < 1%", "rps >= 10", "requests > 50", "failures < 3"), s, "complete")
    assert [c.status for c in v.checks] == ["FAIL", "PASS", "PASS", "PASS"]
    assert v.checks[0].reason == "observed 2.00%, limit < 1.00%"


def test_failures_no_check_looks_at_are_a_warning_not_a_pass():
    s = make([5.0] * 100, errors=[None] * 60 + ["ConnectionResetError"] * 40)
    v = evaluate(checks("p95(latency) < 10ms"), s, "complete")
    assert v.status == "WARN" and "40 of 100 checked requests failed and no check looks at errors" in v.reason
    assert evaluate(checks("p95(latency) < 10ms", "error_rate < 50%"), s, "complete").status == "PASS"
