"""The comparison rules on literal data: noise vs change, NODATA, too few runs, improvements, *."""

import pytest

from loadkit.analysis import summarize
from loadkit.fingerprint import Change
from loadkit.scenario.checks import metric_key, parse_check, parse_compare
from loadkit.verdict import evaluate
from loadkit.verdict.compare import compare_all

P95 = "p95(latency)"


def runs(values, key=P95):
    return [{key: v} for v in values]


def one(check, current, baseline, endpoints=()):
    [result] = compare_all([parse_compare(check)], current, baseline, endpoints)
    return result


def test_parse_forms_and_errors():
    c = parse_compare("p99(latency, ticket-create) <= +15%")
    assert (c.stat, c.metric, c.endpoint, c.worse, c.tolerance, c.unit) == ("p99", "latency", "ticket-create", "up", 0.15, "%")
    c = parse_compare("rps >= -5%")
    assert (c.metric, c.worse, c.tolerance) == ("rps", "down", 0.05)
    c = parse_compare("error_rate <= +0.5pp")
    assert (c.unit, c.tolerance) == ("pp", 0.5)
    assert parse_compare("per_request(db.tps) <= +10%").metric == "db.tps"
    assert parse_compare("p95(latency, *) <= +20%").endpoint == "*"
    for bad, msg in [("p95(latency) <= 10%", "cannot parse"), ("p95(latency) <= -10%", "needs a \\+ tolerance"),
                     ("rps >= +5%", "needs a - tolerance"), ("p95(latency) <= +1pp", "pp .* is for error_rate"),
                     ("p75(latency) <= +1%", "unknown statistic"), ("rps <= +2pp", "rps takes a relative")]:
        with pytest.raises(ValueError, match=msg):
            parse_compare(bad)
    assert metric_key("p95", "latency", "a") == "p95(latency, a)"


def test_real_change_beyond_noise_and_tolerance_fails_with_a_readable_reason():
    base = runs([210, 212, 214, 208, 211, 213, 209, 212])
    r = one("p95(latency) <= +15%", {P95: 268.0}, base)
    assert r.status == "FAIL" and r.p_value < 0.01
    assert r.reason.startswith("p95 rose from 212 ms (baseline: 8 runs, ±1%) to 268 ms (+27%, tolerance +15%")
    assert r.delta == pytest.approx(268 / 211.5 - 1)
    lo, hi = r.interval
    assert lo < 211.5 < hi < 268


def test_noisy_baseline_makes_the_same_change_inconclusive():
    base = runs([150, 280, 200, 320, 170, 260, 190, 240])  # ±25% run to run
    r = one("p95(latency) <= +15%", {P95: 268.0}, base)
    assert r.status == "WARN" and "inconclusive" in r.reason and r.p_value > 0.05


def test_change_beyond_noise_within_tolerance_warns():
    base = runs([200.0, 200.5, 199.5, 200.2, 199.8])
    r = one("p95(latency) <= +10%", {P95: 210.0}, base)
    assert r.status == "WARN" and "changed beyond noise" in r.reason and "within tolerance" in r.reason


def test_unchanged_passes():
    base = runs([200, 205, 195, 202, 198])
    assert one("p95(latency) <= +10%", {P95: 201.0}, base).status == "PASS"


def test_improvement_is_reported_with_a_hint():
    base = runs([200, 205, 195, 202, 198])
    r = one("p95(latency) <= +10%", {P95: 120.0}, base)
    assert r.status == "PASS" and r.improvement and "consider promoting" in r.reason


def test_fewer_than_three_runs_uses_the_tolerance_alone_and_says_so():
    r = one("p95(latency) <= +10%", {P95: 230.0}, runs([200, 201]))
    assert r.status == "FAIL" and "tolerance only: 2 baseline runs, 3 needed to measure noise" in r.reason
    r = one("p95(latency) <= +10%", {P95: 215.0}, runs([200]))
    assert r.status == "PASS" and r.p_value is None and "tolerance only: 1 baseline run," in r.reason


def test_no_baseline_is_nodata_that_does_not_block_and_absolute_checks_decide():
    r = one("p95(latency) <= +10%", {P95: 230.0}, [])
    assert r.status == "NODATA" and not r.blocking and "loadkit baseline promote" in r.reason
    import numpy as np

    summary = summarize(np.linspace(0, 9, 10), np.array(["a"] * 10, dtype=object), np.full(10, 5.0),
                        np.array([None] * 10, dtype=object), 0, 10)
    v = evaluate((parse_check("p95(latency) < 10ms"),), summary, "complete", comparisons=[r])
    assert v.status == "PASS"
    v = evaluate((parse_check("p95(latency) < 1ms"),), summary, "complete", comparisons=[r])
    assert v.status == "FAIL"


def test_missing_value_in_this_run_is_blocking_nodata():
    r = one("p95(latency, gone) <= +10%", {P95: 1.0}, runs([1, 1, 1], key="p95(latency, gone)"))
    assert r.status == "NODATA" and r.blocking


def test_error_rate_in_percentage_points():
    key = "error_rate"
    base = runs([0.001, 0.002, 0.0015, 0.001], key=key)
    assert one("error_rate <= +0.5pp", {key: 0.004}, base).status in ("PASS", "WARN")
    r = one("error_rate <= +0.5pp", {key: 0.02}, base)
    assert r.status == "FAIL" and "+1.88pp" in r.reason
    # identical baseline runs: a tiny change is not "beyond noise" thanks to the spread floor
    assert one("error_rate <= +0.5pp", {key: 0.0002}, runs([0.0] * 5, key=key)).status == "PASS"


def test_every_endpoint_with_star():
    base = [{"p95(latency, a)": 10.0 + i * 0.1, "p95(latency, b)": 20.0 + i * 0.1} for i in range(5)]
    cur = {"p95(latency, a)": 10.2, "p95(latency, b)": 40.0}
    results = compare_all([parse_compare("p95(latency, *) <= +20%")], cur, base, ["a", "b"])
    assert [(r.key, r.status) for r in results] == [("p95(latency, a)", "PASS"), ("p95(latency, b)", "FAIL")]
    assert "p95 of b rose" in results[1].reason


def test_multiple_checks_are_holm_adjusted():
    base = [{"k1": 100.0 + d, "k2": 100.0 + d} for d in (-2, -1, 0, 1, 2)]
    # one check alone: significant at 0.05; among many checks the adjusted p-value is larger
    checks = [parse_compare("p95(latency) <= +50%")]
    single = compare_all(checks, {P95: 105.5}, [{P95: b["k1"]} for b in base])[0]
    many = compare_all(checks + [parse_compare(f"p95(latency, e{i}) <= +50%") for i in range(5)],
                       {P95: 105.5, **{f"p95(latency, e{i})": 100.0 for i in range(5)}},
                       [{P95: b["k1"], **{f"p95(latency, e{i})": b["k2"] for i in range(5)}} for b in base])[0]
    assert single.p_value < 0.05 <= many.p_value
    assert single.status == "WARN" and many.status == "PASS"


def test_verdict_carries_drift_and_comparisons():
    import numpy as np

    summary = summarize(np.linspace(0, 9, 10), np.array(["a"] * 10, dtype=object), np.full(10, 5.0),
                        np.array([None] * 10, dtype=object), 0, 10)
    r = one("p95(latency) <= +10%", {P95: 300.0}, runs([200, 201, 199, 200]))
    v = evaluate((), summary, "complete", comparisons=[r], drift=[Change("cfg#cache", "true", "false")])
    data = v.to_json()
    assert v.status == "FAIL" and data["drift"] == [{"key": "cfg#cache", "old": "true", "new": "false"}]
    rel = next(c for c in data["checks"] if c["kind"] == "relative")
    assert rel["kind"] == "relative" and rel["baseline"] == 200.0 and rel["p_value"] is not None
    assert set(rel) >= {"check", "observed", "baseline", "delta", "spread", "p_value", "interval", "status", "reason"}
