"""The HTML run report: opened in a real headless Chromium, escaped, complete with missing inputs.

Run folders are built synthetically with ``benchmarks/report_size.py``'s ``make_run`` (the
real file formats, judged by ``judge_run`` against a real ``BaselineStore``) and once from a
real short Locust run against the bundled stand-in. Chromium (``report_helpers``) reports
console errors, exceptions, scripts and every image's ``naturalWidth`` from the browser itself.
"""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import ROOT, only_run
from report_helpers import XSS, assert_renders, make_run, open_in_chromium

from loadkit.baseline import BaselineStore
from loadkit.cli import main
from loadkit.report import write_report
from loadkit.report.data import MAX_BINS, _percentiles, bin_width, load_report_data

# --- synthetic folders --------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path) -> BaselineStore:
    """Three promoted baseline runs of the synthetic scenario, 60 s each."""
    s = BaselineStore(tmp_path / "baselines")
    for i in range(3):
        run = make_run(tmp_path / "base", f"base-{i}", seed=10 + i, t0=1_700_000_000.0 + i * 3600)
        s.promote(run, "staging", time.time(), force=True)
    return s


def test_full_report_with_baseline(tmp_path, store):
    run = make_run(tmp_path / "runs", "current", seed=1, slowdown=1.5, store=store,
                   config={"/config#cache": "off", "/config#pool_size": "20"})
    out = tmp_path / "share" / "pr-42.html"
    out.parent.mkdir()
    files = write_report(run, out, baselines=store, now=1_800_000_000.0)
    assert files.html == out and files.missing == ()
    assert [p.name for p in files.charts] == [f"pr-42-{n}.png" for n in
                                              ("latency", "distribution", "rate", "errors", "metrics")]
    page = out.read_text()
    assert "<script" not in page and "http://" not in page.replace("http://127.0.0.1:8000", "")
    assert page.count('src="data:image/png;base64,') == 5
    assert "Latency distribution against the baseline" in page
    assert "FAIL" in page and "relative" in page and "absolute" in page  # a 50% slowdown fails the compare check
    assert "baseline p95" in page and "median of 3 baseline run(s)" in page
    assert "<code>/config#cache</code>" in page and "<code>off</code>" in page  # the drift table
    assert "2027-01-15T08:00:00.000Z" in page  # ``now`` stamps the page
    assert files.total_bytes < 2_500_000
    assert_renders(files, tmp_path, images=5)
    # the distribution is drawn over the baseline runs' band: the 1.5x slower run lies above it at p50 and p95
    data = load_report_data(run, store, "staging")
    whole = data.distributions[0]
    assert whole.name == "all requests" and whole.runs == 3 and len(data.distributions) == 4
    for q in (0.5, 0.95):
        i = list(whole.p).index(q)
        assert whole.current[i] > whole.high[i] >= whole.median[i] >= whole.low[i] > 0


def test_user_strings_are_escaped(tmp_path, store):
    weird = "$\\frac{1}{0$ & co"  # mathtext would choke on this if it were parsed
    run = make_run(tmp_path / "runs", "xss", seed=2, store=store, error_rate=0.05,
                   endpoints=("faq-search", XSS, weird), errors=(XSS, "expected status 200, got 503", weird),
                   config={"/config#cache": "on", "/config#pool_size": "say \"hi\" & 'bye'"})
    files = write_report(run, baselines=store)
    page = files.html.read_text()
    assert XSS not in page and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "say &quot;hi&quot; &amp; &#x27;bye&#x27;" in page and "say \"hi\"" not in page
    assert "$\\frac{1}{0$ &amp; co" in page
    seen = assert_renders(files, tmp_path, images=5)
    assert XSS in seen["text"]  # shown as text, not run


def test_missing_inputs_still_give_a_report(tmp_path):
    run = make_run(tmp_path, "empty", rps=0.0, metrics=False, environment=False, status="interrupted", health=False)
    files = write_report(run)
    page = files.html.read_text()
    assert files.charts == () and "ERROR" in page
    for said in ("no collector metrics recorded", "no baseline folder given", "no environment.json",
                 "no request was recorded", "No request was recorded."):
        assert said in page, said
    assert_renders(files, tmp_path, images=0)


def test_unfinished_run_uses_sample_parts(tmp_path):
    run = make_run(tmp_path, "killed", duration_s=20, metrics=False, judge=False, status="running", health=False)
    (run / "summary.json").unlink()
    (run / "samples.parts").mkdir()
    (run / "samples.parquet").rename(run / "samples.parts" / "part-00000.parquet")
    files = write_report(run, baselines=BaselineStore(tmp_path / "none"))
    page = files.html.read_text()
    assert "no summary.json" in page and "no verdict.json" in page and "samples.parts" in page
    assert "no baseline runs for synthetic/staging" in page
    assert [p.name for p in files.charts] == ["report-latency.png", "report-rate.png", "report-errors.png"]


def test_long_run_is_binned_and_rate_parquet_is_plotted(tmp_path):
    run = make_run(tmp_path, "long", duration_s=3600, rps=20, seed=3)
    ts = 1_800_000_000.0 + np.arange(0, 3600, 10.0)
    pq.write_table(pa.table({"ts": ts, "interval_s": np.full(ts.size, 10.0), "intended": np.full(ts.size, 20.0),
                             "achieved": np.full(ts.size, 19.5)}), run / "rate.parquet")
    data = load_report_data(run, None, "staging")
    assert data.timeline is not None and data.timeline.x.size <= MAX_BINS and data.timeline.bin_s == 10.0
    assert data.rate is not None and data.rate.source == "rate.parquet" and data.rate.x[0] == 5.0
    assert {p.group for p in data.metrics} == {"db", "target", "generator"}  # generator: health.parquet
    files = write_report(run)
    assert files.total_bytes < 1_500_000


def test_bin_percentiles_equal_numpy():
    rng = np.random.default_rng(0)
    bins = rng.integers(0, 7, 5000)
    bins[bins == 3] = 4  # an empty bin
    lat = rng.lognormal(3, 1, bins.size)
    got = _percentiles(bins, lat, 8, (0.5, 0.95, 0.99))
    for q, series in zip((50, 95, 99), got, strict=True):
        for b in range(8):
            if (bins == b).any():
                assert series[b] == pytest.approx(np.percentile(lat[bins == b], q), rel=1e-12)
            else:
                assert np.isnan(series[b])
    assert (bin_width(20), bin_width(100), bin_width(600), bin_width(3600), bin_width(7200)) == (1, 2, 5, 10, 30)


# --- a real run -------------------------------------------------------------------------------------

def test_report_of_a_real_run(standin, tmp_path):
    out = tmp_path / "res"
    code = main(["run", str(ROOT / "scenarios/example.yaml"), "--host", standin.url, "--out", str(out), "--quiet",
                 "--set", "load.stages.0.duration=2s", "--set", "load.stages.1.duration=2s"])
    assert code == 0
    run = only_run(out)
    report = run / "report.html"
    report.unlink(missing_ok=True)  # once `run` writes it itself, write it again here
    files = write_report(run)
    page = files.html.read_text()
    assert "helpdesk-peak" in page and "faq-search" in page and "ticket-create" in page
    assert {p.name for p in files.charts} >= {"report-latency.png", "report-rate.png"}
    seen = assert_renders(files, tmp_path, images=len(files.charts))
    assert "Latency over time" in seen["text"]


def test_the_browser_check_sees_errors_and_broken_images(tmp_path):
    """The harness itself: a page with a script error, a console error and a broken image must fail it."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img alt="x" src="missing.png">'
                    "<script>console.error('boom'); undefined_function();</script></body></html>")
    seen = open_in_chromium(page, tmp_path)
    assert len(seen["errors"]) >= 2
    assert seen["images"] and seen["images"][0]["width"] == 0


# --- what the page says, from synthetic folders judged by the real judge --------------------------------

def test_a_failed_run_is_never_suggested_as_a_baseline_in_the_report(tmp_path, store):
    """Twice as fast as its baseline (an improvement beyond noise), but its absolute check fails."""
    run = make_run(tmp_path / "runs", "faster-but-failing", seed=4, slowdown=0.5, store=store,
                   checks=("p95(latency) < 1ms",))
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["status"] == "FAIL" and any(c.get("improvement") for c in verdict["checks"])
    assert not any("promot" in c["reason"] for c in verdict["checks"])  # only the outputs advise, after the verdict
    page = write_report(run, baselines=store).html.read_text()
    assert "promot" not in page
    passing = make_run(tmp_path / "runs", "faster", seed=5, slowdown=0.5, store=store, checks=("p95(latency) < 10s",),
                       error_rate=0.0)
    assert json.loads((passing / "verdict.json").read_text())["status"] == "PASS"
    assert "consider <code>loadkit baseline promote" in write_report(passing, baselines=store).html.read_text()


def test_checks_on_an_endpoint_named_without_its_method_show_on_its_row(tmp_path):
    """``p99(latency, ticket-create)`` is about ``POST ticket-create``: its FAIL must be on that row."""
    run = make_run(tmp_path, "named", seed=6, checks=("p99(latency, ticket-create) < 5ms", "error_rate < 50%"))
    page = write_report(run).html.read_text()
    rows = {r.split("</td>", 1)[0]: r for r in re.findall(r"<tr><td>(.*?)</tr>", page) if r.count("<td") >= 12}
    assert 'class="b FAIL"' in rows["POST ticket-create"]
    assert 'class="b PASS"' not in rows["GET faq-search"]  # 1 % of its requests failed: WARN, not PASS


def test_the_checks_table_lists_built_in_checks_first(tmp_path):
    run = make_run(tmp_path, "order", seed=7)
    path = run / "verdict.json"
    verdict = json.loads(path.read_text())
    verdict["checks"] = [c for c in verdict["checks"] if c["kind"] != "built-in"] + [
        c for c in verdict["checks"] if c["kind"] == "built-in"]  # as a verdict.json could list them
    path.write_text(json.dumps(verdict))
    page = write_report(run).html.read_text()
    table = page[page.index("<h2>Checks</h2>"):page.index("<h2>Latency")]
    kinds = re.findall(r"<td>(built-in|absolute|relative)(?:<br>|</td>)", table)
    assert kinds == sorted(kinds, key=("built-in", "absolute", "relative").index) and kinds[0] == "built-in"


def test_drift_stands_beside_the_verdict(tmp_path, store):
    run = make_run(tmp_path / "runs", "drifted", seed=8, store=store, config={"/config#cache": "off"})
    page = write_report(run, baselines=store).html.read_text()
    assert page.index("Configuration drift") < page.index("<h2>Checks</h2>")
    assert "<i class=muted>(absent)</i>" in page  # /config#pool_size went away
