"""Intervals: the R usl package's standard errors, coverage of a known truth, and what the data cannot tell.

Pure numbers, no load. The coverage tests fit 200 seeded synthetic data sets each (about 10 s).
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import t as student_t

from loadkit.capacity import (
    Point,
    analyze,
    chart_png,
    draw_parameters,
    figures,
    fit_usl,
    judge,
    read_points_csv,
    usl_throughput,
)
from loadkit.capacity.uncertainty import concurrency_at_latency, concurrency_at_throughput, spread

DATA = Path(__file__).resolve().parents[1] / "data"


def sig2(value: float) -> float:
    return float(f"{value:.2g}")


def fit_csv(name: str):
    pts = read_points_csv(DATA / f"usl_{name}.csv")
    return fit_usl([p.concurrency for p in pts], [p.throughput for p in pts]), pts


# --- the published standard errors -----------------------------------------------------------------------


def test_specsdm91_intervals_use_the_r_usl_standard_errors():
    """SPEC SDM91 (Gunther 2007, ch. 5). summary(usl(throughput ~ load, specsdm91)) in the R usl package
    (README of github.com/smoeding/usl and tests/summary.Rout.save): Std. Error alpha 0.0091217,
    beta 0.0000199 (1.988e-05), gamma 14.2134894 on 4 degrees of freedom."""
    f, _ = fit_csv("specsdm91")
    assert (sig2(f.sigma_se), sig2(f.kappa_se), sig2(f.lam_se)) == (0.0091, 2.0e-05, 14.0)
    assert f.sigma_se == pytest.approx(0.0091217, rel=5e-4) and f.lam_se == pytest.approx(14.2134894, rel=5e-4)
    g = figures(f, draw_parameters(f, np.random.default_rng(0)))
    q = student_t.ppf(0.975, 4)
    for iv, est, se in ((g.sigma, f.sigma, 0.0091217), (g.kappa, f.kappa, 1.988e-05), (g.lam, f.lam, 14.2134894)):
        assert iv.estimate == est
        assert (iv.low, iv.high) == pytest.approx((max(0.0, est - q * se), est + q * se), rel=2e-3)
    # the derived figures get intervals too, around the published peak: tests/peak-scalability.R checks
    # all.equal(peak.scalability(u), 96.51956, 0.0001), summary.Rout.save "peak: throughput 1884 at load 96.52"
    assert g.peak_concurrency.estimate == pytest.approx(96.51956, rel=1e-4)
    assert g.peak_concurrency.contains(96.52) and g.peak_concurrency.low > 72 and g.peak_concurrency.high < 216
    assert g.max_throughput.contains(1884) and g.max_throughput.ratio < 1.3


def test_raytracer_intervals_use_the_r_usl_standard_errors():
    """Ray tracer (Gunther 2007, ch. 5), data(raytracer) in the R usl package. tests/confint.Rout.save prints
    confint(u): alpha 0.033677..0.081864, beta -0.000214..0.000214, gamma 17.868380..25.829306, which R/confint.R
    computes as coef ± SE · qt(0.95, n − 1) with n = 11: so SE = half-width / qt(0.95, 10)."""
    f, _ = fit_csv("raytracer")
    q_r = student_t.ppf(0.95, 10)
    published = {"sigma": (0.033677, 0.081864), "kappa": (-0.000214, 0.000214), "lambda": (17.868380, 25.829306)}
    ours = {"sigma": f.sigma_se, "kappa": f.kappa_se, "lambda": f.lam_se}
    for name, (lo, hi) in published.items():
        assert sig2(ours[name]) == sig2((hi - lo) / 2 / q_r), name
    # and R's own interval back from our SE, to the digits it prints
    assert round(f.sigma - q_r * f.sigma_se, 6) == 0.033677 and round(f.sigma + q_r * f.sigma_se, 6) == 0.081864
    assert round(f.lam - q_r * f.lam_se, 4) == 17.8684 and round(f.lam + q_r * f.lam_se, 4) == 25.8293
    r = analyze(read_points_csv(DATA / "usl_raytracer.csv"))
    g = r.figures
    assert g.kappa.low == 0.0 and g.kappa.high == pytest.approx(student_t.ppf(0.975, 8) * f.kappa_se)  # clipped at 0
    assert r.judgement.limit == "ceiling" and r.to_json()["peak_concurrency"] is None  # κ undecided: no N*
    assert not math.isfinite(g.peak_concurrency.high)  # if there is a peak at all, the data cannot bound it


# --- coverage of a known truth ----------------------------------------------------------------------------

TRUE = (0.05, 0.001, 100.0)  # N* = √(0.95/0.001) = 30.8, X(N*) = 903.8
LEVELS = np.array([1, 5, 10, 15, 20, 25, 30, 35, 40], dtype=float)


def test_intervals_contain_the_truth_in_at_least_90_percent_of_200_trials():
    s, k, lam = TRUE
    n_star = math.sqrt((1 - s) / k)
    x_max = float(usl_throughput(n_star, *TRUE))
    target, limit_ms = 600.0, 200.0
    a, b, c = target * k, target * (s - k) - lam, target * (1 - s)
    n_target = (-b - math.sqrt(b * b - 4 * a * c)) / (2 * a)
    a, b, c = k, s - k, 1 - s - lam * limit_ms / 1000
    n_limit = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    truth = {"σ": s, "κ": k, "λ": lam, "N*": n_star, "maximum": x_max, "N at target": n_target,
             "N at the latency limit": n_limit}
    hits = dict.fromkeys(truth, 0)
    for seed in range(200):
        rng = np.random.default_rng(seed)
        x = usl_throughput(LEVELS, *TRUE) + 0.03 * x_max * rng.standard_normal(LEVELS.size)
        f = fit_usl(LEVELS, x)
        assert f.ok, f.reason
        d = draw_parameters(f, rng, 4000)
        g = figures(f, d)
        got = {"σ": g.sigma, "κ": g.kappa, "λ": g.lam, "N*": g.peak_concurrency, "maximum": g.max_throughput,
               "N at target": spread(None, d, lambda v: concurrency_at_throughput(v, target)),
               "N at the latency limit": spread(None, d, lambda v: concurrency_at_latency(v, limit_ms, 0.0))}
        for name, iv in got.items():
            hits[name] += iv.contains(truth[name])
    coverage = {name: h / 200 for name, h in hits.items()}
    assert min(coverage.values()) >= 0.90, coverage
    assert max(coverage.values()) <= 0.99, coverage  # not so wide that they say nothing


def test_without_coherency_the_peak_stays_open_and_the_ceiling_is_covered():
    """Truth κ = 0 (Amdahl): the ceiling λ/σ = 2000 is covered, and an N* interval must stay open."""
    s, lam = 0.05, 100.0
    levels = np.array([1, 4, 8, 16, 24, 32, 48, 64], dtype=float)
    hits = {"σ": 0, "λ": 0, "ceiling": 0, "N* open": 0}
    for seed in range(200):
        rng = np.random.default_rng(seed)
        x = usl_throughput(levels, s, 0.0, lam) + 0.02 * 1000 * rng.standard_normal(levels.size)
        f = fit_usl(levels, x)
        g = figures(f, draw_parameters(f, rng, 4000))
        hits["σ"] += g.sigma.contains(s)
        hits["λ"] += g.lam.contains(lam)
        hits["ceiling"] += g.max_throughput.contains(lam / s)
        hits["N* open"] += not math.isfinite(g.peak_concurrency.high)
    assert min(h / 200 for h in hits.values()) >= 0.90, hits


# --- what the data cannot tell ----------------------------------------------------------------------------


def test_linear_points_claim_no_limit():
    n = np.arange(2, 34, 2, dtype=float)
    exact = analyze([Point(a, 50 * a) for a in n], peak_rps=3000)
    assert exact.judgement.limit == "none"
    j = exact.to_json()
    assert j["peak_concurrency"] is None and j["peak_throughput"] is None
    assert any("no limit within the measured range" in line for line in j["statements"])
    assert any(line.startswith("higher steps") for line in j["recommendations"])
    assert "cannot carry" not in exact.headroom.verdict and "no limit within the measured range" in \
        exact.headroom.verdict and "a forecast" in exact.headroom.verdict
    said = {"none": 0, "peak": 0}
    for seed in range(100):  # with 2 % noise: no peak ever, "no limit" at least 90 times in 100
        rng = np.random.default_rng(seed)
        x = 50 * n * (1 + 0.02 * rng.standard_normal(n.size))
        f = fit_usl(n, x)
        j = judge(f, figures(f, draw_parameters(f, rng, 4000)), [Point(a, b) for a, b in zip(n, x, strict=True)])
        said["none"] += j.limit == "none"
        said["peak"] += j.claims_peak
    assert said["peak"] == 0 and said["none"] >= 90, said


def test_lambda_interval_including_zero_decides_nothing():
    """Five levels far from N = 1 with 1 % noise: λ is not determined (its interval includes 0)."""
    n = np.array([10, 12, 14, 16, 18], dtype=float)
    x = usl_throughput(n, 0.2, 0.0, 100) * (1 + 0.01 * np.random.default_rng(1).standard_normal(n.size))
    r = analyze([Point(a, b) for a, b in zip(n, x, strict=True)], peak_rps=420)
    assert r.fit.ok and r.figures.lam_raw.low < 0
    assert r.judgement.limit == "undetermined"
    assert "λ's interval" in r.judgement.statements[0] and "includes 0" in r.judgement.statements[0]
    assert r.to_json()["peak_throughput"] is None and r.to_json()["peak_concurrency"] is None
    assert "cannot carry" not in r.headroom.verdict and r.headroom.verdict.startswith("cannot tell")
    assert any(line.startswith("more steps") for line in r.judgement.recommendations)


def test_a_target_inside_the_interval_of_the_maximum_is_undecided():
    rng = np.random.default_rng(5)
    x = usl_throughput(LEVELS, *TRUE) + 25 * rng.standard_normal(LEVELS.size)
    r = analyze([Point(a, b) for a, b in zip(LEVELS, x, strict=True)], rng=rng)
    xm = r.figures.max_throughput
    target = (xm.estimate + xm.high) / 2  # above the estimate, below its upper bound, above every measured point
    assert target > max(x)
    h = analyze([Point(a, b) for a, b in zip(LEVELS, x, strict=True)], peak_rps=target).headroom
    assert h.verdict.startswith("cannot tell") and "cannot carry" not in h.verdict
    assert 0 < h.share_beyond < 1
    far = analyze([Point(a, b) for a, b in zip(LEVELS, x, strict=True)], peak_rps=xm.high * 1.05).headroom
    assert "cannot carry it at any concurrency" in far.verdict


def test_a_peak_beyond_the_measured_range_says_how_far():
    n = np.arange(5, 55, 5, dtype=float)  # truth N* = 100, twice the largest measured N
    x = usl_throughput(n, 0.0, 1e-4, 100) * (1 + 0.002 * np.random.default_rng(2).standard_normal(n.size))
    r = analyze([Point(a, b) for a, b in zip(n, x, strict=True)])
    assert r.judgement.limit == "peak" and r.figures.peak_concurrency.contains(100)
    said = " ".join(r.judgement.statements)
    ratio = r.fit.peak_concurrency / 50
    assert f"{ratio:.1f}× the largest measured N = 50" in said and "beyond the measured range" in said
    assert any(line.startswith("higher steps") for line in r.judgement.recommendations)
    assert chart_png(r).startswith(b"\x89PNG")  # N* drawn beyond the measured points


def test_the_seed_makes_the_report_repeatable():
    pts = read_points_csv(DATA / "usl_specsdm91.csv")
    one = json.dumps(analyze(pts, peak_rps=1500, rng=np.random.default_rng(7)).to_json())
    assert one == json.dumps(analyze(pts, peak_rps=1500, rng=np.random.default_rng(7)).to_json())
    a = analyze(pts, rng=np.random.default_rng(1)).figures.peak_concurrency
    b = analyze(pts, rng=np.random.default_rng(2)).figures.peak_concurrency
    assert a != b and abs(a.high - b.high) < 0.03 * (a.high - a.low)  # Monte Carlo error is small
