"""Each rule of the comparison on literal data: median/MAD, floors, within-run noise, Bonferroni, tolerance
and significance, what it could detect, too few runs, NODATA, improvements, *."""

import math

import numpy as np
import pytest

from loadkit.analysis import summarize
from loadkit.fingerprint import Change
from loadkit.scenario.checks import metric_key, parse_check, parse_compare, se_key
from loadkit.verdict import evaluate
from loadkit.verdict.compare import ALPHA, SD_FLOOR_LOG, Noise, compare_all, noise, predicted_sd, z_critical

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
    assert r.status == "FAIL" and r.p_value < 0.01 and r.blocking
    assert r.reason.startswith("p95 rose from 212 ms (median of 8 baseline runs, noise ±1.") and \
        "to 268 ms (+27%, tolerance +15%; beyond noise, p=" in r.reason
    assert r.delta == pytest.approx(268 / 211.5 - 1)
    lo, hi = r.interval
    assert lo < 211.5 < hi < 268


def test_the_centre_is_the_median_and_the_spread_the_mad():
    """Rule: one burst run in the baseline (3x slower) neither moves the centre nor widens the spread."""
    calm = [100.0, 101.0, 99.0, 100.5, 99.5, 100.0, 101.0, 99.0, 100.2]
    n_calm = noise(np.log(calm))
    n_burst = noise(np.log(calm + [300.0]))
    assert math.exp(n_burst.center) == pytest.approx(100.1, abs=0.2)
    assert n_burst.sd == pytest.approx(n_calm.sd, rel=0.35) and n_burst.sd < 0.02
    # so a +25 % change still fails with a +10 % tolerance (a mean and sd would have hidden it)
    r = one("p95(latency) <= +10%", {P95: 125.0}, runs(calm + [300.0]))
    assert r.status == "FAIL", r.reason
    mean, sd = np.mean(np.log(calm + [300.0])), np.std(np.log(calm + [300.0]), ddof=1)
    assert (math.log(125.0) - mean) / sd < 1  # the old mean/sd rule: not even one sd away


def test_the_spread_has_a_floor_and_is_never_below_the_runs_own_noise():
    """Rule: identical baselines do not make a tiny change significant; a run's own within-run se bounds
    the spread from below."""
    assert noise(np.log([100.0] * 5)).sd == SD_FLOOR_LOG
    n = noise(np.log([100.0] * 5), ses=[0.04, 0.05, 0.06, 0.05, 0.05])
    assert n.sd == pytest.approx(0.05) and n.typical_se == pytest.approx(0.05)
    r = one("p95(latency) <= +10%", {P95: 112.0},
            [{P95: 100.0, se_key(P95): 0.05} for _ in range(5)])
    assert r.status == "WARN" and "inconclusive" in r.reason  # 12 % is within 5 % per-run noise at z > 2.3


def test_a_current_run_noisier_than_usual_widens_its_own_interval():
    """Rule: the current run's within-run se beyond the baseline's typical se adds to the predicted spread."""
    base = [{P95: 100.0 + d, se_key(P95): 0.01} for d in (-1, 0, 1, 0.5, -0.5)]
    quiet = one("p95(latency) <= +10%", {P95: 118.0, se_key(P95): 0.01}, base)
    noisy = one("p95(latency) <= +10%", {P95: 118.0, se_key(P95): 0.08}, base)
    assert quiet.status == "FAIL" and noisy.status == "WARN"
    assert noisy.interval[1] > quiet.interval[1] and noisy.detectable > quiet.detectable
    assert predicted_sd(Noise(0.0, 0.01, 0.01, 5), 0.08) == pytest.approx(
        math.sqrt(0.01 ** 2 * (1 + math.pi / 10) + 0.08 ** 2 - 0.01 ** 2))


def test_bonferroni_over_the_blocking_comparisons():
    """Rule: z grows with the number of comparisons, so a change significant alone is not among many."""
    assert z_critical(1) == pytest.approx(2.326, abs=1e-3) and z_critical(10) == pytest.approx(3.09, abs=1e-2)
    base = [{"p95(latency)": 100.0 + d, **{f"p95(latency, e{i})": 100.0 + d for i in range(9)}}
            for d in (-2, -1, 0, 1, 2)]
    checks = [parse_compare("p95(latency) <= +3%")]  # +5 %: z = 2.9, between z(1) = 2.33 and z(10) = 3.09
    single = compare_all(checks, {P95: 105.0}, [{P95: b[P95]} for b in base])[0]
    many = compare_all(checks + [parse_compare(f"p95(latency, e{i}) <= +3%") for i in range(9)],
                       {P95: 105.0, **{f"p95(latency, e{i})": 100.0 for i in range(9)}}, base)[0]
    assert single.status == "FAIL" and many.status == "WARN"
    assert single.p_value < ALPHA <= many.p_value


def test_beyond_noise_within_tolerance_passes_with_a_note():
    base = runs([200.0, 200.5, 199.5, 200.2, 199.8])
    r = one("p95(latency) <= +10%", {P95: 210.0}, base)
    assert r.status == "PASS" and "beyond noise" in r.reason and "within tolerance" in r.reason


def test_unchanged_passes_and_says_what_it_could_detect():
    base = runs([200, 205, 195, 202, 198])
    r = one("p95(latency) <= +10%", {P95: 201.0}, base)
    assert r.status == "PASS" and "within noise" in r.reason
    # the smallest failing change: the tolerance, or z * sd_pred when the noise is larger
    n = noise(np.log([200, 205, 195, 202, 198]))
    expect = max(0.10, math.exp(z_critical(1) * predicted_sd(n, None)) - 1)
    assert r.detectable == pytest.approx(expect)
    assert f"it could detect +{expect * 100:.0f}% or more" in r.reason


def test_noisy_baseline_makes_the_same_change_inconclusive_and_says_so():
    base = runs([150, 280, 200, 320, 170, 260, 190, 240])  # ±25% run to run
    r = one("p95(latency) <= +15%", {P95: 268.0}, base)
    assert r.status == "WARN" and "inconclusive" in r.reason and r.p_value > ALPHA
    assert r.detectable > 0.5 and "it could detect +" in r.reason


def test_improvement_is_reported():
    base = runs([200, 205, 195, 202, 198])
    r = one("p95(latency) <= +10%", {P95: 120.0}, base)
    assert r.status == "PASS" and r.improvement and "improvement beyond noise" in r.reason


def test_rps_is_worse_down():
    base = runs([100.0, 101.0, 99.0, 100.5, 99.5], key="rps")
    assert one("rps >= -10%", {"rps": 80.0}, base).status == "FAIL"
    assert one("rps >= -10%", {"rps": 130.0}, base).improvement


def test_fewer_than_three_runs_report_but_never_block():
    """Rule: with 1 or 2 baseline runs the noise is unknown: reported, WARN at most, never blocking."""
    r = one("p95(latency) <= +10%", {P95: 230.0}, runs([200, 201]))
    assert r.status == "WARN" and not r.blocking and r.p_value is None
    assert "2 baseline runs, 3 needed to know the noise, so this comparison does not block" in r.reason
    r = one("p95(latency) <= +10%", {P95: 215.0}, runs([200]))
    assert r.status == "PASS" and not r.blocking and "1 baseline run, 3 needed" in r.reason
    summary = summarize(np.linspace(0, 9, 10), np.array(["a"] * 10, dtype=object), np.full(10, 5.0),
                        np.array([None] * 10, dtype=object), 0, 10)
    v = evaluate((parse_check("p95(latency) < 10ms"),), summary, "complete",
                 comparisons=[one("p95(latency) <= +10%", {P95: 900.0}, runs([200]))])
    assert v.status == "WARN"  # the build is not failed on one run's noise


def test_no_baseline_is_nodata_that_does_not_block_and_absolute_checks_decide():
    r = one("p95(latency) <= +10%", {P95: 230.0}, [])
    assert r.status == "NODATA" and not r.blocking and "loadkit baseline promote" in r.reason
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
    # baseline runs with few requests have a wide binomial se: 2 failures in 100 is not proof of +1pp
    few = one("error_rate <= +0.5pp", {key: 0.02}, [{key: 0.005, se_key(key): 0.007} for _ in range(5)])
    assert few.status == "WARN" and "inconclusive" in few.reason


def test_every_endpoint_with_star():
    base = [{"p95(latency, a)": 10.0 + i * 0.1, "p95(latency, b)": 20.0 + i * 0.1} for i in range(5)]
    cur = {"p95(latency, a)": 10.2, "p95(latency, b)": 40.0}
    results = compare_all([parse_compare("p95(latency, *) <= +20%")], cur, base, ["a", "b"])
    assert [(r.key, r.status) for r in results] == [("p95(latency, a)", "PASS"), ("p95(latency, b)", "FAIL")]
    assert "p95 of b rose" in results[1].reason


def test_verdict_carries_drift_and_comparisons():
    summary = summarize(np.linspace(0, 9, 10), np.array(["a"] * 10, dtype=object), np.full(10, 5.0),
                        np.array([None] * 10, dtype=object), 0, 10)
    r = one("p95(latency) <= +10%", {P95: 300.0}, runs([200, 201, 199, 200]))
    v = evaluate((), summary, "complete", comparisons=[r], drift=[Change("cfg#cache", "true", "false")])
    data = v.to_json()
    assert v.status == "FAIL" and data["drift"] == [{"key": "cfg#cache", "old": "true", "new": "false"}]
    rel = next(c for c in data["checks"] if c["kind"] == "relative")
    assert rel["kind"] == "relative" and rel["baseline"] == 200.0 and rel["p_value"] is not None
    assert set(rel) >= {"check", "observed", "baseline", "delta", "spread", "p_value", "interval", "status", "reason"}
