"""Promotion refuses an outlier among the runs it would join (worse direction only), with the keys and
distances; an improvement joins. Synthetic run folders in the real formats (``benchmarks/report_size.py``)."""

import importlib.util
import time

import pytest
from helpers import ROOT

from loadkit.baseline import BaselineStore
from loadkit.errors import ConfigError
from loadkit.status import Outcome
from loadkit.verdict.compare import OUTLIER_Z, Comparison, outliers
from loadkit.verdict.promote import promote_run

_spec = importlib.util.spec_from_file_location("report_size", ROOT / "benchmarks" / "report_size.py")
_report_size = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_report_size)
make_run = _report_size.make_run


def comparison(delta: float, spread: float, key: str = "p95(latency)", improvement: bool = False) -> Comparison:
    return Comparison("c", key, Outcome.PASS, "", 100 * (1 + delta), 100.0, delta, spread, 0.5, (90.0, 110.0), 5,
                      improvement=improvement)


def test_the_outlier_rule_on_literal_comparisons():
    assert outliers([comparison(0.05, 0.02)]) == []  # 2.4 noise widths: an ordinary run
    [why] = outliers([comparison(0.08, 0.02)])  # log(1.08) / 0.02 = 3.8 > 3.5
    assert why.startswith("p95(latency) 108 ms is 3.8 noise widths from the baseline median 100 ms")
    assert outliers([comparison(-0.3, 0.02, improvement=True)]) == []  # a speed-up may join
    assert outliers([comparison(0.006, 0.001, key="error_rate")])  # pp: 0.6pp over a 0.1pp noise
    assert OUTLIER_Z == 3.5


WIDE = ("p95(latency) <= +30%", "error_rate <= +1pp")


@pytest.fixture
def store(tmp_path) -> BaselineStore:
    s = BaselineStore(tmp_path / "baselines")
    for i in range(3):
        s.promote(make_run(tmp_path / "base", f"base-{i}", seed=10 + i, t0=1_700_000_000.0 + i * 3600, rps=400.0),
                  "staging", time.time(), force=True)
    return s


def test_a_run_far_outside_the_baseline_is_refused_with_its_keys(tmp_path, store):
    # +22 %: within the +30 % tolerance (a PASS), but beyond 3.5 noise widths (these runs' noise is ~5 %, from
    # the slow spell every synthetic run has mid-way)
    slower = make_run(tmp_path / "runs", "slower", seed=1, slowdown=1.22, store=store, rps=400.0, compare=WIDE)
    import json

    assert json.loads((slower / "verdict.json").read_text())["status"] == "PASS"  # it is not refused as a FAIL
    with pytest.raises(ConfigError, match=r"an outlier among the 3 runs of the synthetic/staging baseline "
                                          r"\(more than 3\.5 noise widths from their median\): .*p95\(latency\)"):
        promote_run(store, slower, "staging", time.time())
    assert len(store.runs("synthetic", "staging")) == 3
    record, _ = promote_run(store, slower, "staging", time.time(), force=True)  # --force accepts it, marked
    assert record.forced


def test_an_ordinary_or_a_faster_run_joins(tmp_path, store):
    same = make_run(tmp_path / "runs", "same", seed=4, store=store, rps=400.0, compare=WIDE)
    promote_run(store, same, "staging", time.time())
    faster = make_run(tmp_path / "runs", "faster", seed=5, slowdown=0.7, store=store, rps=400.0, compare=WIDE)
    promote_run(store, faster, "staging", time.time())
    assert len(store.runs("synthetic", "staging")) == 5
