"""Analysis that does not grow with the run: summary, promotion, compare and report of 1 M to 100 M requests.

For each size a run folder is built in the real formats (``samples.parquet`` written one row group of
1 M rows at a time: Poisson arrivals at 5,000/s, four endpoints, log-normal latencies, 1 % errors),
then each stage runs in its own fresh process, timed, with its peak RSS (``wait4``'s ``ru_maxrss``):

* **summary**: ``summarize_run`` over the samples, what every run does after its load;
* **promote**: ``loadkit baseline promote RUN --force`` (the record streams the samples: histograms and
  10 s windows);
* **compare**: ``loadkit compare RUN`` against that baseline (reads summary.json, never the samples);
* **report**: ``loadkit report RUN`` (reads the summary's timeline, never the samples).

Usage: ``python benchmarks/analysis_scale.py [--sizes 1e6 1e7 1e8] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadkit.runfolder import SCHEMA, iso, write_json  # noqa: E402

RPS = 5000.0
CHUNK = 1_000_000
ENDPOINTS = ["GET faq-search", "GET ticket-get", "GET ticket-list", "POST ticket-create"]
T0 = 1_800_000_000.0


def _dict(codes: np.ndarray, names: list[str], mask: np.ndarray | None = None) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32), mask=mask),
                                          pa.array(names, pa.string())).cast(pa.string())


def build(run: Path, n: int, seed: int = 0) -> float:
    """samples.parquet of ``n`` requests and the manifest; returns the run's duration in seconds."""
    rng = np.random.default_rng(seed)
    run.mkdir(parents=True)
    duration = n / RPS
    with pq.ParquetWriter(run / "samples.parquet", SCHEMA) as writer:
        done = 0
        while done < n:
            k = min(CHUNK, n - done)
            ts = T0 + np.sort(rng.uniform(done / RPS, (done + k) / RPS, k))
            ep = rng.integers(0, 4, k)
            failed = rng.random(k) < 0.01
            cols = {"ts": ts, "endpoint": _dict(ep, [e.split(" ", 1)[1] for e in ENDPOINTS]),
                    "method": _dict((ep == 3).astype(np.int32), ["GET", "POST"]),
                    "latency_ms": rng.lognormal(np.log(20.0), 0.5, k) * (1 + 0.2 * ep),
                    "bytes": rng.integers(100, 5000, k), "status": np.where(failed, 503, 200).astype(np.int32),
                    "error": _dict(np.zeros(k, np.int32), ["expected status 200, got 503"], mask=~failed),
                    "worker": _dict(np.zeros(k, np.int32), ["local"]), "intended_ts": pa.nulls(k, pa.float64())}
            writer.write_table(pa.table(cols, schema=SCHEMA))
            done += k
    write_json(run / "manifest.json", {
        "schema": 1, "run_id": run.name, "scenario": {"name": "scale", "file": "scale.yaml", "sha256": "0" * 64,
                                                      "overrides": []},
        "status": "complete", "reason": "", "start": iso(T0), "end": iso(T0 + duration), "duration_s": duration,
        "planned_duration_s": duration, "target": "http://127.0.0.1:8000", "workers": 0, "environment": "staging",
        "checks": [{"check": "p95(latency) < 1s", "severity": "fail"}, {"check": "error_rate < 5%", "severity": "fail"}],
        "compare": ["p95(latency) <= +10%", "p95(latency, *) <= +20%", "error_rate <= +0.5pp", "rps >= -10%"],
        "abort": [], "stages": [{"duration_s": duration, "users": 100, "spawn_rate": 100.0}],
        "versions": {"loadkit": "0.1.0", "python": platform.python_version()}, "git": {"commit": "0" * 40, "dirty": False},
        "samples": n, "locust_totals": {"requests": n, "failures": 0}, "metrics": [],
    })
    return duration


SUMMARY = textwrap.dedent("""\
    import json, sys
    from pathlib import Path
    from loadkit.analysis import summarize_run
    from loadkit.runfolder import RunPaths, write_json
    run, start, end = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    s = summarize_run(RunPaths(run), start + 10.0, end, run=(start, end)).to_json()
    s["window"]["warmup_s"] = 10.0
    s["metrics"], s["exceptions"] = {}, []
    write_json(run / "summary.json", s)
    """)


LAUNCH = ("import os, resource, sys\n"
          "pid = os.fork()\n"
          "if pid == 0:\n    os.execv(sys.argv[1], sys.argv[1:])\n"
          "_, status, usage = os.wait4(pid, 0)\n"
          "print(usage.ru_maxrss, file=sys.stderr)\n"
          "sys.exit(os.waitstatus_to_exitcode(status))\n")


def measured(cmd: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one fresh process. It is forked from a small launcher: a
    child forked from this process would count this process's pages in its peak."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", LAUNCH, *cmd], cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    *rest, last = proc.stderr.strip().splitlines() or ["0"]
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd[:4])}…: exit {proc.returncode}: {' '.join(rest)[-400:]}")
    return wall, int(last) / 1024.0, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7])
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    py = sys.executable
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.release()}; "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    print(f"{'requests':>12} {'parquet MB':>10} | {'stage':<8} {'wall s':>8} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
        for size in args.sizes:
            n = int(size)
            root = Path(tmp) / f"n{n}"
            t = time.perf_counter()
            duration = build(root / "runs" / f"run-{n}", n)
            run = root / "runs" / f"run-{n}"
            mb = (run / "samples.parquet").stat().st_size / 1e6
            print(f"{n:>12,} {mb:>10.0f} | {'build':<8} {time.perf_counter() - t:>8.1f} {'':>13}", flush=True)
            stages = {
                "summary": [py, "-c", SUMMARY, str(run), str(T0), str(T0 + duration)],
                "promote": [py, "-m", "loadkit", "baseline", "promote", str(run), "--force", "--baselines",
                            str(root / "b")],
                "compare": [py, "-m", "loadkit", "compare", str(run), "--baselines", str(root / "b")],
                "report": [py, "-m", "loadkit", "report", str(run), "--baselines", str(root / "b")],
            }
            for name, cmd in stages.items():
                wall, rss, _ = measured(cmd)
                print(f"{n:>12,} {mb:>10.0f} | {name:<8} {wall:>8.1f} {rss:>13.0f}", flush=True)
            json.loads((run / "verdict.json").read_text())  # compare wrote a verdict
            shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
