"""USL capacity planning: reference fits from the literature, refusals, headroom, inputs, reports.

Pure numbers and synthetic run folders in tmp: no load is generated, the module runs in about a second.
"""

import json
import math
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loadkit.capacity import (
    Point,
    analyze,
    chart_png,
    fit_usl,
    load_points,
    points_from_run,
    points_from_runs,
    read_points_csv,
    report_html,
    report_markdown,
    usl_throughput,
    write_report,
)
from loadkit.errors import ConfigError

DATA = Path(__file__).resolve().parents[1] / "data"


def sig3(value: float) -> float:
    return float(f"{value:.3g}")


def fit_csv(name: str):
    pts = read_points_csv(DATA / f"usl_{name}.csv")
    return fit_usl([p.concurrency for p in pts], [p.throughput for p in pts])


# --- reference fits ---------------------------------------------------------------------------------------


def test_specsdm91_matches_the_r_usl_package():
    """Gunther (2007) SPEC SDM91 data; R usl 2.x default method (nlxb), tests/summary.Rout.save and
    tests/usl-nlxb.Rout.save in github.com/smoeding/usl: σ 0.0277285, κ 0.0001044, λ 89.9952330,
    SEs 9.122e-03, 1.988e-05, 1.421e+01, residual SE 82.85 on 4 df, R² 0.9896, peak 97."""
    f = fit_csv("specsdm91")
    assert f.ok, f.reason
    assert (sig3(f.sigma), sig3(f.kappa), sig3(f.lam)) == (0.0277, 0.000104, 90.0)
    assert f.sigma == pytest.approx(0.0277285, rel=1e-4)
    assert f.kappa == pytest.approx(0.0001044, rel=1e-3)
    assert f.lam == pytest.approx(89.9952330, rel=1e-5)
    assert (sig3(f.sigma_se), sig3(f.kappa_se), sig3(f.lam_se)) == (0.00912, 1.99e-05, 14.2)
    assert sig3(f.residual_se) == 82.8 and round(f.r_squared, 4) == 0.9896
    assert float(f"{f.peak_concurrency:.2g}") == 97  # signif(peak.scalability(u), 2) in peak-scalability.Rout.save
    assert np.round(f.throughput_at(f.concurrency)).tolist() == [90, 1078, 1541, 1850, 1879, 1822, 1646]  # fitted.Rout


def test_raytracer_matches_the_r_usl_package():
    """Gunther (2007) ray tracer data; R usl tests/confint.Rout.save: σ 0.0578, κ 0.0000, λ 21.8488 and
    confint σ 0.033677..0.081864, λ 17.868380..25.829306, which the package computes as coef ± qt(0.95, df)·SE."""
    f = fit_csv("raytracer")
    assert f.ok, f.reason
    assert sig3(f.sigma) == 0.0578 and f.lam == pytest.approx(21.8488, abs=5e-5)
    assert f.kappa == pytest.approx(0.0, abs=1e-12)
    assert f.peak_concurrency is None and "κ estimated 0" in f.peak_note  # no retrograde region in the curve
    assert f.peak_throughput == pytest.approx(f.lam / f.sigma)  # Amdahl ceiling
    assert sig3(f.sigma_se) == sig3((0.081864 - 0.033677) / 2 / 1.812461)  # qt(0.95, 10)
    assert sig3(f.lam_se) == sig3((25.829306 - 17.868380) / 2 / 1.812461)
    assert f.kappa_ci[0] == 0.0  # clipped to the bound, unlike R's symmetric interval


def test_cisco_matches_usl4j_and_the_book():
    """Schwartz, Practical Scalability Analysis with the USL (2015), as checked by usl4j's ModelTest:
    σ 0.02671591, κ 7.690945e-4, λ 995.6486, N max 35, X max 12341 (within 0.02 %)."""
    f = fit_csv("cisco")
    assert f.ok, f.reason
    assert f.sigma == pytest.approx(0.02671591, rel=2e-4)
    assert f.kappa == pytest.approx(7.690945e-4, rel=2e-4)
    assert f.lam == pytest.approx(995.6486, rel=2e-4)
    assert math.floor(f.peak_concurrency) == 35
    assert float(f.throughput_at(35)) == pytest.approx(12341, rel=2e-4)


# --- no fit -----------------------------------------------------------------------------------------------


def assert_no_fit(f, words: str):
    assert not f.ok and words in f.reason
    assert f.sigma is None and f.kappa is None and f.lam is None and f.peak_concurrency is None
    with pytest.raises(ValueError, match="no USL fit"):
        f.throughput_at(10)


def test_fewer_than_four_levels_is_no_fit():
    assert_no_fit(fit_usl([1, 2, 4], [10, 19, 35]), "at least 4 distinct concurrency levels")
    assert_no_fit(fit_usl([1, 1, 2, 2, 4, 4], [10, 10, 19, 19, 35, 35]), "got 3")


def test_non_convergence_is_no_fit():
    n = np.array([1, 2, 4, 8, 16, 32])
    assert_no_fit(fit_usl(n, usl_throughput(n, 0.05, 0.001, 100), max_nfev=1), "did not converge")


def test_random_noise_is_no_fit():
    rng = np.random.default_rng(7)
    n = np.arange(1, 21)
    assert_no_fit(fit_usl(n, rng.uniform(50, 150, n.size)), "does not describe this data")


def test_decreasing_throughput_is_no_fit():
    assert_no_fit(fit_usl([1, 2, 4, 8, 16], [100, 90, 80, 60, 40]), "never rises")


def test_flat_throughput_is_no_fit():
    n = np.array([1, 2, 4, 8, 16, 32])
    assert_no_fit(fit_usl(n, [100, 100.5, 100.2, 100.4, 100.3, 100.1]), "does not describe this data")
    # a good r² but σ pinned at 1: throughput that does not grow is not scalability
    assert_no_fit(fit_usl(n, [100, 100.2, 100, 99.8, 99.5, 99]), "at its bound of 1")


def test_non_positive_throughput_is_no_fit():
    assert_no_fit(fit_usl([1, 2, 4, 8], [10, 0, 30, 40]), "non-positive throughput at N=2")


def test_no_fit_report_says_so_and_draws_no_curve(tmp_path):
    r = analyze([Point(1, 10), Point(2, 19), Point(4, 35)], peak_rps=30)
    assert r.headroom is None and r.predictions == ()
    j = r.to_json()
    assert j["sigma"] is None and j["peak_concurrency"] is None and not j["ok"] and "at least 4" in j["reason"]
    assert "No USL fit" in report_markdown(r) and "No USL fit" in report_html(r)
    assert chart_png(r).startswith(b"\x89PNG")


# --- headroom on an exact USL curve -----------------------------------------------------------------------

SIGMA, KAPPA, LAM = 0.05, 0.001, 100.0  # λ in requests/s per user: R(1) = 10 ms


@pytest.fixture(scope="module")
def exact():
    n = np.arange(1, 41, dtype=float)
    x = usl_throughput(n, SIGMA, KAPPA, LAM)
    lat = n / x * 1000.0
    return [Point(a, b, c) for a, b, c in zip(n, x, lat, strict=True)]


def test_exact_dataset_recovers_parameters_and_peak(exact):
    f = fit_usl([p.concurrency for p in exact], [p.throughput for p in exact])
    assert (f.sigma, f.kappa, f.lam) == pytest.approx((SIGMA, KAPPA, LAM), rel=1e-6)
    n_star = math.sqrt((1 - SIGMA) / KAPPA)
    assert f.peak_concurrency == pytest.approx(n_star, rel=1e-6)
    assert f.peak_throughput == pytest.approx(LAM * n_star / (1 + SIGMA * (n_star - 1) + KAPPA * n_star * (n_star - 1)))
    assert f.r_squared == pytest.approx(1.0)


def test_headroom_numbers_are_the_analytic_ones(exact):
    r = analyze(exact, peak_rps=400, growth=2.0, latency_limit_ms=30.0)
    h, f = r.headroom, r.fit
    # exact points: the intervals collapse onto the estimates, so each is checked through .estimate and its bounds
    target = 800.0
    # X(N) = target  ⇔  target·κ·N² + (target(σ − κ) − λ)·N + target(1 − σ) = 0, smaller root
    a, b, c = target * KAPPA, target * (SIGMA - KAPPA) - LAM, target * (1 - SIGMA)
    n_target = (-b - math.sqrt(b * b - 4 * a * c)) / (2 * a)
    assert h.target_rps == target
    assert h.concurrency_at_target.estimate == pytest.approx(n_target, rel=1e-6)
    assert h.concurrency_at_target.low == pytest.approx(n_target, rel=1e-4) == h.concurrency_at_target.high
    assert float(usl_throughput(h.concurrency_at_target.estimate, SIGMA, KAPPA, LAM)) == pytest.approx(target)
    assert h.utilisation.estimate == pytest.approx(target / f.peak_throughput, rel=1e-9)
    assert h.latency_at_target_ms.estimate == pytest.approx(n_target / target * 1000, rel=1e-6)
    # R(N) = (1 + σ(N−1) + κN(N−1))/λ s > 30 ms  ⇔  κN² + (σ−κ)N + (1−σ) − 3 > 0: N > 26.98, so N = 27
    edge = (-(SIGMA - KAPPA) + math.sqrt((SIGMA - KAPPA) ** 2 - 4 * KAPPA * (1 - SIGMA - 3))) / (2 * KAPPA)
    assert math.floor(edge) + 1 == 27 == h.latency_break_concurrency
    assert h.latency_break.estimate == pytest.approx(edge, rel=1e-6)
    assert h.latency_break_throughput.estimate == pytest.approx(float(usl_throughput(edge, SIGMA, KAPPA, LAM)))
    assert f.latency_ms_at(26) <= 30 < f.latency_ms_at(27)
    assert n_target == pytest.approx(15.77, abs=0.01) and "but R(N) exceeds" not in h.verdict
    # a 15 ms limit: 0.001N² + 0.049N − 0.55 > 0 ⇔ N > 9.42, below N at target: the verdict says so
    tight = analyze(exact, peak_rps=400, growth=2.0, latency_limit_ms=15.0).headroom
    assert tight.latency_break_concurrency == 10 and "R(N) exceeds 15 ms from N ≈ 9.42" in tight.verdict
    assert "before the target is reached" in tight.verdict
    # Little's law with the exact latencies: no error, no think time
    assert r.latency.mean_abs_pct_error == pytest.approx(0, abs=1e-6)
    assert r.latency.implied_think_time_s == pytest.approx(0, abs=1e-9)


def test_headroom_beyond_capacity(exact):
    f = analyze(exact).fit
    h = analyze(exact, peak_rps=f.peak_throughput, growth=1.1).headroom
    assert h.concurrency_at_target.estimate is None and not math.isfinite(h.concurrency_at_target.high)
    assert h.utilisation.estimate == pytest.approx(1.1)
    assert "exceeds the maximum" in h.verdict and "even at its upper bound" in h.verdict


def test_latency_view_finds_the_think_time(exact):
    """Users that wait 8 ms between requests: measured R = N/X − 0.008 s, so R(N) with Z = 0 is 8 ms too high."""
    pts = [Point(p.concurrency, p.throughput, p.latency_ms - 8.0) for p in exact]
    view = analyze(pts).latency
    assert view.implied_think_time_s == pytest.approx(0.008)
    assert "think time of 8 ms, not the 0 ms assumed (pass --think-time 0.008)" in view.note
    assert not any(p.inside for p in view.points)  # 8 ms off: outside the (collapsed) band everywhere
    right = analyze(pts, think_time_s=0.008).latency
    assert all(p.inside for p in right.points) and "think time of" not in right.note


def test_think_time_shifts_latency(exact):
    f = analyze(exact).fit
    assert float(f.latency_ms_at(10, think_time_s=0.002)) == pytest.approx(float(f.latency_ms_at(10)) - 2.0)


def test_bad_flags_are_config_errors(exact):
    for kw in ({"peak_rps": -1}, {"growth": 0}, {"latency_limit_ms": float("nan")}):
        with pytest.raises(ConfigError):
            analyze(exact, **kw)


def test_json_has_the_headline_keys(exact):
    j = analyze(exact, peak_rps=500).to_json()
    assert list(j)[:6] == ["sigma", "kappa", "lambda", "peak_concurrency", "peak_throughput", "r_squared"]
    assert j["n_points"] == 40 and j["stderr"]["sigma"] is not None and j["predictions"]
    json.dumps(j, allow_nan=False)  # plain JSON types only, no NaN or Infinity


# --- inputs -----------------------------------------------------------------------------------------------


def test_csv_with_latency_and_comments(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("# source: a test\nconcurrency,throughput,latency_ms\n1,10,100\n\n2,19,105.5\n")
    assert read_points_csv(p) == [Point(1, 10, 100, "m.csv:3"), Point(2, 19, 105.5, "m.csv:5")]


@pytest.mark.parametrize("text, words", [
    ("users,rps\n1,2\n", "expected the header"),
    ("concurrency,throughput\n1,x\n", ":2: not a number"),
    ("concurrency,throughput\n1\n", ":2: expected 2 values"),
    ("concurrency,throughput\n0,5\n", "concurrency must be positive"),
    ("# nothing\n", "no data"),
])
def test_bad_csv_is_a_config_error(tmp_path, text, words):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ConfigError, match=words):
        read_points_csv(p)


def write_run(root: Path, manifest: dict, rows: list[tuple[float, float, str | None]], summary: dict | None = None):
    root.mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps({"schema": 1, "run_id": root.name, **manifest}))
    (root / "summary.json").write_text(json.dumps(summary or {"requests": {"rps": 0.0}}))
    ts, lat, err = zip(*rows, strict=True) if rows else ((), (), ())
    pd.DataFrame({"ts": np.array(ts, dtype=float), "endpoint": "e", "method": "GET",
                  "latency_ms": np.array(lat, dtype=float), "bytes": 0, "status": 200,
                  "error": pd.Series(err, dtype=object), "worker": "local"}).to_parquet(root / "samples.parquet")


def test_points_from_step_run_use_stages_and_skip_the_ramp(tmp_path):
    t0, users, rates = 1_800_000_000.0, [10, 20, 40, 80], [50, 90, 140, 160]
    stages, rows = [], []
    for i, (u, rate) in enumerate(zip(users, rates, strict=True)):
        start, end = t0 + 10 * i, t0 + 10 * (i + 1)
        stages.append({"start": start, "end": end, "users": u})
        rows += [(start + k / 100, 999.0, None) for k in range(200)]  # first 2 s (the ramp): a burst of slow ones
        steady = np.arange(start + 2, end, 1 / rate)
        rows += [(t, 10.0 * (i + 1), None) for t in steady]
        rows += [(start + 3, 1.0, "ConnectionRefusedError")] * 7  # failures: not throughput, not latency
    run = tmp_path / "step"
    write_run(run, {"stages": stages}, rows)
    pts = points_from_run(run)
    assert [p.concurrency for p in pts] == users
    assert [p.throughput for p in pts] == pytest.approx(rates, rel=0.01)
    assert [p.latency_ms for p in pts] == pytest.approx([10, 20, 30, 40])
    assert pts[0].label == "step 1 (10 users)"
    assert load_points([run]) == pts
    p95 = points_from_run(run, latency="p95")
    assert [p.latency_ms for p in p95] == pytest.approx([10, 20, 30, 40])


def test_points_from_run_without_stages_use_littles_law_windows(tmp_path):
    t0 = 1_800_000_000.0
    rows = [(t0 + k / 20, 100.0, None) for k in range(20 * 30)]  # 20 req/s of 100 ms for 30 s: 2 in flight
    run = tmp_path / "flat"
    write_run(run, {}, rows)
    pts = points_from_run(run, window_s=10)
    assert len(pts) == 2  # the partial third window is dropped
    assert all(p.concurrency == pytest.approx(2.0) and p.throughput == pytest.approx(20.0) for p in pts)


def test_bad_stages_are_config_errors(tmp_path):
    run = tmp_path / "bad"
    write_run(run, {"stages": [{"start": 5, "end": 1, "users": 3}]}, [(1.0, 1.0, None)])
    with pytest.raises(ConfigError, match="ends before it starts"):
        points_from_run(run)


def test_one_point_per_run(tmp_path):
    runs = []
    for u in (10, 20, 40, 80, 160):
        x = float(usl_throughput(u, SIGMA, KAPPA, LAM / 10))
        run = tmp_path / f"run-{u}"
        write_run(run, {"users": u}, [], {"requests": {"rps": x / 0.9, "error_rate": 0.1,
                                                        "latency_ms": {"mean": 12.5, "p95": 30.0}}})
        runs.append(run)
    pts = points_from_runs(runs)
    assert [p.concurrency for p in pts] == [10, 20, 40, 80, 160]
    assert pts[0].throughput == pytest.approx(float(usl_throughput(10, SIGMA, KAPPA, LAM / 10)))
    assert pts[0].latency_ms == 12.5 and pts[0].label == "run-10"
    assert points_from_runs(runs, latency="p95")[0].latency_ms == 30.0
    assert load_points(runs) == pts
    f = analyze(pts).fit
    assert f.ok and f.sigma == pytest.approx(SIGMA, rel=1e-4)
    (runs[0] / "manifest.json").write_text("{}")
    with pytest.raises(ConfigError, match="no positive 'users'"):
        points_from_runs(runs)


def test_load_points_refuses_mixed_or_missing_sources(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f.csv").write_text("concurrency,throughput\n1,1\n")
    with pytest.raises(ConfigError, match="not both"):
        load_points([tmp_path / "d", tmp_path / "f.csv"])
    with pytest.raises(ConfigError, match="no such file"):
        load_points([tmp_path / "nope.csv"])


# --- outputs ----------------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_chart_is_a_png(tmp_path, exact):
    r = analyze(exact, peak_rps=500, growth=1.5)
    out = write_report(r, tmp_path / "chart.png")
    data = out.read_bytes()
    assert png_size(data) == (800, 800)
    assert 10_000 < len(data) < 1_000_000


def test_html_is_escaped_and_self_contained(tmp_path, exact):
    name = "<script>alert('x')</script>"
    pts = [Point(p.concurrency, p.throughput, p.latency_ms, name) for p in exact]
    r = analyze(pts, peak_rps=500, growth=1.5, latency_limit_ms=30, title=f"run {name}")
    out = write_report(r, tmp_path / "report.html")
    text = out.read_text()
    assert "<script" not in text and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "data:image/png;base64," in text
    assert "http://" not in text and "https://" not in text  # nothing fetched from the network
    md = write_report(r, tmp_path / "report.md")
    assert "![throughput and latency with the USL fit](report.png)" in md.read_text()
    assert (tmp_path / "report.png").is_file()
    assert json.loads(write_report(r, tmp_path / "r.json").read_text())["sigma"] == pytest.approx(SIGMA)
    with pytest.raises(ConfigError, match="unknown report type"):
        write_report(r, tmp_path / "r.txt")
