"""summarize_metrics on literal rows: totals taken at the window's edges, not at the samples nearest them."""

from __future__ import annotations

import numpy as np
import pytest

from loadkit.analysis.metrics import summarize_metrics, without_failed_sources

UNITS = {"t.cpu": "percent of one core", "t.cpu_seconds": "s", "t.rss_bytes": "bytes", "db.tps": "1/s"}


def summarize(rows: list[tuple[float, str, float]], start: float, end: float, requests: int) -> dict[str, dict]:
    ts, key, value = (np.array(c, dtype=object if i == 1 else float) for i, c in enumerate(zip(*rows, strict=True)))
    return summarize_metrics(ts, key, value, UNITS, start, end, requests)


# One core busy from 0 to 3 s, sampled every second; the start row holds the baseline (0 CPU seconds).
PROCESS = [(0.0, "t.cpu_seconds", 0.0), (0.0, "t.rss_bytes", 5.0),
           (1.0, "t.cpu", 100.0), (1.0, "t.cpu_seconds", 1.0), (1.0, "t.rss_bytes", 7.0),
           (2.0, "t.cpu", 50.0), (2.0, "t.cpu_seconds", 1.5), (2.0, "t.rss_bytes", 9.0),
           (3.0, "t.cpu", 100.0), (3.0, "t.cpu_seconds", 2.5), (3.0, "t.rss_bytes", 6.0)]


def test_cumulative_seconds_are_interpolated_at_the_window_edges():
    # 0.5 → 2.5 s: 0.5 s at 100 %, 1 s at 50 %, 0.5 s at 100 % = 1.5 CPU seconds. The first and last
    # samples inside the window (1 s and 2 s) differ by 0.5 only: a third of the truth.
    m = summarize(PROCESS, 0.5, 2.5, 10)
    assert m["t.cpu_seconds"]["per_request"] == pytest.approx(0.15)


def test_rates_count_the_part_of_each_span_inside_the_window():
    m = summarize(PROCESS, 0.5, 2.5, 10)["t.cpu"]
    assert m["per_request"] == pytest.approx(0.15)  # the same 1.5 CPU seconds, from the rates
    assert m["mean"] == pytest.approx(75.0)  # over the 2 s of the window, time-weighted
    assert (m["min"], m["max"], m["samples"]) == (50.0, 100.0, 2)  # statistics of the samples inside


def test_a_window_on_sample_times_counts_exactly_those_spans():
    m = summarize(PROCESS, 1.0, 3.0, 3)
    assert m["t.cpu"]["per_request"] == pytest.approx(1.5 / 3)
    assert m["t.cpu_seconds"]["per_request"] == pytest.approx(1.5 / 3)


def test_a_series_born_mid_run_covers_from_its_source_s_previous_sample():
    rows = [(t, "db.active_connections", 1.0) for t in (0.0, 1.0, 2.0, 3.0)]
    rows += [(2.0, "db.tps", 4.0), (3.0, "db.tps", 2.0)]  # the first row covers (1, 2], not (0, 2]
    assert summarize(rows, 0.0, 3.0, 6)["db.tps"]["per_request"] == pytest.approx(1.0)


def test_the_first_row_of_a_source_covers_one_typical_interval():
    rows = [(1.0, "db.tps", 10.0), (2.0, "db.tps", 10.0), (3.0, "db.tps", 10.0)]
    assert summarize(rows, 0.0, 3.0, 30)["db.tps"]["per_request"] == pytest.approx(1.0)


def test_a_row_after_the_window_end_covers_its_part_of_the_window():
    # the final row is read 0.4 s after the load stopped: its span (2, 3.4] has 1 s inside the window
    rows = [(0.0, "db.active_connections", 0.0), (1.0, "db.tps", 10.0), (2.0, "db.tps", 10.0), (3.4, "db.tps", 5.0)]
    m = summarize(rows, 0.0, 3.0, 25)["db.tps"]
    assert m["per_request"] == pytest.approx(1.0)
    assert m["samples"] == 2 and m["mean"] == pytest.approx(25 / 3)


def test_gauges_have_no_per_request_and_plain_statistics():
    m = summarize(PROCESS, 0.5, 2.5, 10)["t.rss_bytes"]
    assert m["per_request"] is None and m["mean"] == pytest.approx(8.0) and m["samples"] == 2


def test_scraped_counters_are_rates_by_their_name():
    rows = [(0.0, 'app.up{job="x"}', 1.0), (1.0, 'app.http_requests_total{code="200"}', 20.0),
            (2.0, 'app.http_requests_total{code="200"}', 30.0)]
    m = summarize(rows, 0.0, 2.0, 50)
    assert m['app.http_requests_total{code="200"}']["per_request"] == pytest.approx(1.0)
    assert m['app.up{job="x"}']["per_request"] is None


def test_no_sample_inside_the_window_is_no_summary():
    assert summarize(PROCESS, 3.5, 4.0, 10) == {}


def test_failed_sources_are_left_out():
    m = summarize(PROCESS + [(1.0, "db.tps", 3.0)], 0.0, 3.0, 10)
    kept = without_failed_sources(m, {"db": "cannot reach the database"})
    assert set(kept) == {"t.cpu", "t.cpu_seconds", "t.rss_bytes"}
    assert without_failed_sources({'api{pod="a"}': {}, "apis.x": {}}, {"api": "down"}) == {"apis.x": {}}
