"""Time and size of ``write_report`` on a long, busy run: one hour at 500 RPS (1.8 M samples).

A synthetic run folder is built with the real formats (samples.parquet with
``loadkit.runfolder.SCHEMA``, summary.json from ``loadkit.analysis.summarize`` with its per-bin
timeline over the whole run, health.parquet and the generator's summary, verdict.json from
``loadkit.verdict.judge_run`` against a real ``BaselineStore`` holding a few promoted runs),
then the report is written and timed. The report reads the summary's timeline, never the
samples: ``--samples-fallback`` times a run summarised without a timeline (an older loadkit),
which makes the report read samples.parquet. ``make_run`` is also what tests/report use.

Usage: ``python benchmarks/report_size.py [--duration 3600] [--rps 500] [--baseline-runs 3]``
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from loadkit.analysis import summarize
from loadkit.analysis.health import summarize_health
from loadkit.baseline import BaselineStore
from loadkit.runfolder import HEALTH_SCHEMA, SCHEMA, iso, write_json, write_metrics
from loadkit.verdict import checks_from_manifest, judge_run

ENDPOINTS = ("faq-search", "ticket-get", "ticket-create", "agent-queue")
ERRORS = ("expected status 200/201, got 400", "LocustBadStatusCode: URL http://127.0.0.1:8000/nope/1: code=404",
          "HTTPConnectionClosed: connection closed.", "ConnectTimeout: timed out after 5s",
          "LocustBadStatusCode: URL http://127.0.0.1:8000/nope/2: code=404", "RemoteDisconnected: no response",
          "expected status 200, got 503")
CHECKS = ("p95(latency) < 300ms", "error_rate < 2%", "p99(latency, ticket-create) < 800ms")
COMPARE = ("p95(latency) <= +10%", "p95(latency, *) <= +20%", "error_rate <= +0.5pp")


def _strings(idx: np.ndarray, names: Sequence[str], mask: np.ndarray | None = None) -> pa.Array:
    """A string column from small integer codes, built without 1.8 M Python strings."""
    indices = pa.array(idx.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(names), pa.string())).cast(pa.string())


def make_run(parent: Path, run_id: str, *, duration_s: float = 60.0, rps: float = 50.0, seed: int = 0,
             warmup_s: float | None = None, endpoints: Sequence[str] = ENDPOINTS, errors: Sequence[str] = ERRORS,
             error_rate: float = 0.01, slowdown: float = 1.0, metrics: bool = True, environment: bool = True,
             config: dict[str, str] | None = None, status: str = "complete", t0: float = 1_800_000_000.0,
             store: BaselineStore | None = None, env_name: str = "staging", judge: bool = True,
             checks: Sequence[str] = CHECKS, compare: Sequence[str] = COMPARE, timeline: bool = True,
             health: bool = True) -> Path:
    """A complete run folder with Poisson arrivals, log-normal latencies and a mid-run slow spell.

    ``timeline=False`` writes the summary as loadkit did before it had a per-bin timeline.
    """
    rng = np.random.default_rng(seed)
    run = parent / run_id
    run.mkdir(parents=True)
    warmup = min(30.0, duration_s / 10) if warmup_s is None else warmup_s
    seconds = np.arange(int(duration_s))
    rate = rps * np.clip((seconds + 1) / max(duration_s / 20, 1), 0.2, 1.0)  # a ramp over the first 5 %
    counts = rng.poisson(rate) if rps > 0 else np.zeros(seconds.size, dtype=np.int64)
    n = int(counts.sum())
    ts = t0 + np.repeat(seconds, counts) + rng.random(n)
    ep = rng.choice(len(endpoints), size=n, p=np.linspace(2, 1, len(endpoints)) / np.linspace(2, 1, len(endpoints)).sum())
    slow = np.where((ts - t0 > 0.4 * duration_s) & (ts - t0 < 0.45 * duration_s), 3.0, 1.0) * slowdown
    latency = rng.lognormal(np.log(20.0), 0.5, n) * (1.0 + 0.3 * ep) * slow
    failed = rng.random(n) < error_rate
    err_idx = np.minimum(rng.geometric(0.45, n) - 1, len(errors) - 1) if errors else np.zeros(n, dtype=np.int64)
    failed &= bool(errors)
    status_col = np.where(failed, np.array([400, 404, 0, 0, 404, 0, 503])[err_idx % 7], 200).astype(np.int32)
    cols = {
        "ts": ts, "endpoint": _strings(ep, endpoints), "method": _strings((ep == 2).astype(np.int32), ["GET", "POST"]),
        "latency_ms": latency, "bytes": rng.integers(100, 5000, n), "status": status_col,
        "error": _strings(err_idx, errors or ["-"], mask=~failed), "worker": _strings(np.zeros(n, np.int32), ["local"]),
    }
    cols.update({f.name: pa.nulls(n, f.type) for f in SCHEMA if f.name not in cols})  # e.g. intended_ts
    table = pa.table(cols, schema=SCHEMA)
    pq.write_table(table, run / "samples.parquet")
    start, end = t0 + warmup, t0 + duration_s
    ep_obj = np.asarray(endpoints, dtype=object)[ep]
    err_obj = np.where(failed, np.asarray(errors or ["-"], dtype=object)[err_idx], None)
    methods = np.where(ep == 2, "POST", "GET")  # as in the samples: the third endpoint is a POST
    summary = summarize(ts, ep_obj, latency, err_obj, start, end, run=(t0, end), method=methods).to_json()
    summary["window"]["warmup_s"] = warmup
    if not timeline:
        del summary["timeline"]
    if health:
        hts = t0 + seconds + 1.0
        cpu = np.clip(rng.normal(35.0, 5.0, seconds.size) * rate / max(rps, 1.0), 0, 100)
        lag = rng.gamma(2.0, 2.0, seconds.size)
        steal, host = np.full(seconds.size, 0.5), np.clip(cpu / 2 + 20, 0, 100)
        pq.write_table(pa.table({"ts": hts, "worker": ["local"] * seconds.size, "cpu": cpu, "lag_ms": lag,
                                 "steal": steal, "host_cpu": host, "users": np.full(seconds.size, 100),
                                 "inflight": rng.integers(0, 10, seconds.size),
                                 "others": np.full(seconds.size, 2.0), "wait": np.full(seconds.size, 0.5)},
                                schema=HEALTH_SCHEMA),
                       run / "health.parquet")
        summary["generator"] = summarize_health(hts, cpu, lag, steal, host, (start, end)).to_json()
    summary["exceptions"] = []
    summary["metrics"] = {}
    if metrics:
        rows = []
        for s in seconds:
            busy = float(rate[s]) / max(rps, 1.0)
            rows += [(t0 + s, "target.cpu", "", 40.0 * busy + rng.normal(0, 3)),
                     (t0 + s, "target.rss_bytes", "", 2e8 + 1e5 * s),
                     (t0 + s, "db.tps", "", float(rate[s]) * 1.5 + rng.normal(0, 5)),
                     (t0 + s, "db.active_connections", "", float(rng.integers(2, 12)))]
        write_metrics(run / "metrics.parquet", rows)
        for name in dict.fromkeys(r[1] for r in rows):  # plain window statistics, enough for metric checks
            v = np.array([r[3] for r in rows if r[1] == name and start <= r[0] < end])
            summary["metrics"][name] = {"mean": float(v.mean()), "p95": float(np.percentile(v, 95)),
                                        "max": float(v.max()), "min": float(v.min()), "per_request": None,
                                        "samples": int(v.size), "unit": None} if v.size else {}
    write_json(run / "summary.json", summary)
    scenario = "synthetic"
    write_json(run / "manifest.json", {
        "schema": 1, "run_id": run_id, "scenario": {"name": scenario, "file": "scenarios/synthetic.yaml",
                                                    "sha256": "0" * 64, "overrides": ["load.stages.1.users=80"]},
        "status": status, "reason": "" if status == "complete" else "interrupted by SIGINT",
        "start": iso(t0 - 1.0), "end": iso(end), "duration_s": duration_s, "planned_duration_s": duration_s,
        "target": "http://127.0.0.1:8000", "workers": 0, "environment": env_name,
        "checks": [{"check": c, "severity": "fail"} for c in checks], "compare": list(compare), "abort": [],
        "stages": [{"duration_s": duration_s / 20, "users": 50, "spawn_rate": 10.0},
                   {"duration_s": duration_s * 19 / 20, "users": 100, "spawn_rate": 10.0}],
        "versions": {"loadkit": "0.1.0", "locust": "2.47.0", "python": platform.python_version()},
        "git": {"commit": "0" * 40, "dirty": False}, "samples": n, "locust_totals": {"requests": n, "failures": int(failed.sum())},
        "metrics": [{"name": "target", "source": "process"}, {"name": "db", "source": "postgres"}] if metrics else [],
    })
    if environment:
        values = dict(config or {"/config#cache": "on", "/config#pool_size": "20"})
        write_json(run / "environment.json", {"hash": "synthetic", "values": values, "errors": []})
    if judge:
        checks, compare = checks_from_manifest(json.loads((run / "manifest.json").read_text()))
        judge_run(run, checks, compare, store, env_name)
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=3600.0)
    ap.add_argument("--rps", type=float, default=500.0)
    ap.add_argument("--baseline-runs", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, metavar="DIR", help="build the folders here and keep them")
    ap.add_argument("--samples-fallback", action="store_true",
                    help="summarise the run without a timeline (as an older loadkit did): the report reads the samples")
    args = ap.parse_args()
    from loadkit.report import write_report

    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        store = BaselineStore(root / "baselines")
        t = time.perf_counter()
        for i in range(args.baseline_runs):
            base = make_run(root / "base", f"base-{i}", duration_s=args.duration, rps=args.rps, seed=100 + i,
                            t0=1_700_000_000.0 + i * 86400)
            store.promote(base, "staging", time.time(), force=True)
        run = make_run(root / "runs", "current", duration_s=args.duration, rps=args.rps, seed=1, slowdown=1.1,
                       store=store, config={"/config#cache": "off", "/config#pool_size": "20"},
                       timeline=not args.samples_fallback)
        setup = time.perf_counter() - t
        n = pq.ParquetFile(run / "samples.parquet").metadata.num_rows
        timings = []
        for _ in range(3):
            t = time.perf_counter()
            files = write_report(run, baselines=store)
            timings.append(time.perf_counter() - t)
        print(f"run: {args.duration:g} s at {args.rps:g} RPS = {n} samples "
              f"(samples.parquet {(run / 'samples.parquet').stat().st_size / 1e6:.1f} MB); "
              f"{args.baseline_runs} baseline runs; setup {setup:.1f} s")
        print(f"write_report: {min(timings):.2f} s best of 3 ({', '.join(f'{x:.2f}' for x in timings)}; "
              "the first includes importing matplotlib); "
              + ("from samples.parquet" if args.samples_fallback else "from the summary's timeline"))
        from loadkit.report import charts
        from loadkit.report.data import load_report_data

        t = time.perf_counter()
        data = load_report_data(run, store, "staging")
        parts = {"data": time.perf_counter() - t}
        for name in ("latency", "rate", "errors", "metrics"):
            t = time.perf_counter()
            getattr(charts, f"{name}_png")(data)
            parts[name] = time.perf_counter() - t
        print("one warm call: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items())
              + f"; {data.timeline.bin_s:g} s bins, {data.timeline.x.size} of them, {len(data.metrics)} metric panels")
        print(f"report.html: {files.html.stat().st_size / 1024:.0f} KiB")
        for p in files.charts:
            print(f"{p.name}: {p.stat().st_size / 1024:.0f} KiB")
        print(f"total: {files.total_bytes / 1024:.0f} KiB; missing: {list(files.missing) or 'nothing'}")
        if args.keep:
            print(f"kept: {files.html}")


if __name__ == "__main__":
    main()
