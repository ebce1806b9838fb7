"""The baseline store: promotion rules, atomic and locked writes, pruning, size."""

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loadkit.analysis import summarize
from loadkit.baseline import BaselineStore, record_from_run
from loadkit.cli import main
from loadkit.errors import ConfigError, DiskFullError
from loadkit.runfolder import SCHEMA


def fake_run(root, run_id, *, status="complete", verdict="PASS", n=2000, seconds=20.0, p=10.0, seed=0,
             scenario="shop", endpoints=("home", "item")):
    """A run folder as loadkit writes it, from synthetic samples."""
    rng = np.random.default_rng(seed)
    run = root / run_id
    run.mkdir(parents=True)
    ts = np.sort(rng.uniform(1000.0, 1000.0 + seconds, n))
    ep = rng.choice(list(endpoints), n).astype(object)
    lat = rng.lognormal(np.log(p), 0.3, n)
    err = np.where(rng.random(n) < 0.01, "HTTPError", None).astype(object)
    table = pa.table({"ts": ts, "endpoint": ep, "method": ["GET"] * n, "latency_ms": lat, "bytes": [10] * n,
                      "status": [200] * n, "error": err, "worker": ["local"] * n,
                      "intended_ts": [None] * n}, schema=SCHEMA)
    pq.write_table(table, run / "samples.parquet")
    s = summarize(ts, ep, lat, err, 1000.0, 1000.0 + seconds).to_json()
    (run / "summary.json").write_text(json.dumps(s))
    (run / "manifest.json").write_text(json.dumps({
        "run_id": run_id, "scenario": {"name": scenario}, "status": status, "reason": "",
        "start": f"2026-11-26T00:00:{seed:02d}Z", "end": "2026-11-26T00:01:00Z"}))
    (run / "verdict.json").write_text(json.dumps({"status": verdict, "reason": "x", "checks": []}))
    (run / "environment.json").write_text(json.dumps({"hash": "h", "values": {"cfg#cache": "true"}, "errors": []}))
    return run


def test_promote_list_show_remove(tmp_path, capsys):
    run = fake_run(tmp_path / "results", "r1")
    base = tmp_path / "baselines"
    assert main(["baseline", "promote", str(run), "--baselines", str(base)]) == 0
    assert "promoted r1 to shop/staging" in capsys.readouterr().out
    stored = json.loads((base / "shop" / "staging" / "r1.json").read_text())
    assert stored["schema"] == 1 and stored["aggregates"]["p95(latency, GET home)"] > 0
    assert stored["fingerprint"]["values"] == {"cfg#cache": "true"}
    assert main(["baseline", "list", "--baselines", str(base)]) == 0
    assert "shop/staging: 1 run(s)" in capsys.readouterr().out
    assert main(["baseline", "show", "shop", "--baselines", str(base)]) == 0
    assert capsys.readouterr().out.startswith("r1  start 2026-11-26T00:00:00Z  p95 ")
    assert main(["baseline", "promote", str(run), "--baselines", str(base)]) == 2
    assert "already in the shop/staging baseline" in capsys.readouterr().err
    assert main(["baseline", "remove", "shop", "nope", "--baselines", str(base)]) == 2
    assert "nope is not in the shop/staging baseline (runs: r1)" in capsys.readouterr().err
    assert main(["baseline", "remove", "shop", "r1", "--baselines", str(base)]) == 0
    assert not (base / "shop" / "staging" / "r1.json").exists()


@pytest.mark.parametrize(("status", "verdict", "message"), [
    ("interrupted", "ERROR", "the run is 'interrupted'"),
    ("aborted", "FAIL", "the run is 'aborted'"),
    ("error", "ERROR", "the run is 'error'"),
    ("complete", "FAIL", "the verdict is FAIL"),
])
def test_promotion_refuses_bad_runs_unless_forced(tmp_path, status, verdict, message):
    run = fake_run(tmp_path / "results", "bad", status=status, verdict=verdict)
    store = BaselineStore(tmp_path / "baselines")
    with pytest.raises(ConfigError, match=message):
        store.promote(run, "staging", 0.0)
    assert store.runs("shop", "staging") == []
    record, _ = store.promote(run, "staging", 0.0, force=True)
    assert record.forced and len(store.runs("shop", "staging")) == 1


def test_keeps_the_newest_k(tmp_path):
    store = BaselineStore(tmp_path / "baselines", keep=3)
    for i in range(5):
        _, pruned = store.promote(fake_run(tmp_path / "results", f"r{i}", seed=i), "ci", float(i))
        assert pruned == ([] if i < 3 else [f"r{i - 3}"])
    assert [r.run_id for r in store.runs("shop", "ci")] == ["r2", "r3", "r4"]


def test_concurrent_promotions_lose_nothing(tmp_path):
    runs = [fake_run(tmp_path / "results", f"c{i}", seed=i) for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-m", "loadkit", "baseline", "promote", str(r), "--keep", "10",
                               "--baselines", str(tmp_path / "baselines")], stdout=subprocess.PIPE) for r in runs]
    assert [p.wait(timeout=60) for p in procs] == [0] * 4
    assert sorted(r.run_id for r in BaselineStore(tmp_path / "baselines").runs("shop", "staging")) == \
        [f"c{i}" for i in range(4)]


def test_a_crash_mid_write_leaves_the_previous_baseline_intact(tmp_path, monkeypatch):
    store = BaselineStore(tmp_path / "baselines")
    store.promote(fake_run(tmp_path / "results", "good"), "staging", 0.0)
    before = (tmp_path / "baselines" / "shop" / "staging" / "good.json").read_bytes()

    def crash(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(DiskFullError, match="the disk is full"):
        store.promote(fake_run(tmp_path / "results", "next", seed=1), "staging", 1.0)
    monkeypatch.undo()
    assert [r.run_id for r in store.runs("shop", "staging")] == ["good"]  # the half-written temp file is ignored
    assert (tmp_path / "baselines" / "shop" / "staging" / "good.json").read_bytes() == before


def test_a_ten_minute_run_at_1000_rps_stays_well_under_1mb(tmp_path):
    run = fake_run(tmp_path / "results", "big", n=600_000, seconds=600.0,
                   endpoints=("faq-search", "ticket-create", "ticket-get", "agent-queue", "agent-ticket"))
    record = record_from_run(run, "staging", 0.0)
    size = len(json.dumps(record.to_json(), separators=(",", ":")))
    assert size < 250_000, size
    assert len(record.windows) == 60
    merged = record.histograms["faq-search"].merge(record.histograms["ticket-get"])
    assert merged.total == record.histograms["faq-search"].total + record.histograms["ticket-get"].total
    exact = np.percentile(pq.read_table(run / "samples.parquet").column("latency_ms").to_numpy(), 95)
    assert record.histograms[""].quantile(0.95) == pytest.approx(exact, rel=0.01)


def test_bad_names_and_unreadable_files(tmp_path):
    store = BaselineStore(tmp_path / "b")
    with pytest.raises(ConfigError, match="environment name '../x'"):
        store.runs("shop", "../x")
    folder = tmp_path / "b" / "shop" / "staging"
    folder.mkdir(parents=True)
    (folder / "r.json").write_text("{not json")
    from loadkit.errors import ResultsError

    with pytest.raises(ResultsError, match="unreadable baseline run"):
        store.runs("shop", "staging")
