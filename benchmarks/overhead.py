"""loadkit against bare Locust, side by side on one machine and one nginx: every row of issue 14.

Three pairs of configurations, each run alternately (bare, loadkit, bare, loadkit, ...), the same
load (``--users`` FastHttpUsers, no wait, one GET, ``--duration`` seconds):

* **200**: ``locust -f LOCUSTFILE --headless`` vs ``loadkit run SCENARIO``, every answer 200 (``/ok``);
* **500**: the same, every answer 500 (``/fail``): the failure path, where a staging target that
  breaks at peak must not slow the generator down;
* **workers**: ``locust --processes 2`` vs ``loadkit run --workers 2`` (unpinned).

Single-process runs pin the generator to the first CPU and nginx to the last, so the target is never
the limit. What is measured, per run, all from outside the tool:

* rate and CPU µs per request over the steady part of the load (from 2 s after nginx logged the
  first request to 1 s before the last): requests counted by nginx's access log (``$msec``), CPU of
  the generator's process tree sampled every 0.25 s;
* RSS of the generator's process tree (summed) during that window, and its peak from start to exit;
* start-up: process start to the first request nginx logged; tail: the last request to the
  process's exit (for loadkit also to ``verdict.json``, when the verdict is known);
* the tool's own request count (Locust's ``--json-file``, loadkit's ``manifest.json``), which must
  equal Locust's own total for loadkit.

Why ratios side by side: absolute figures depend on the VM, its CPU frequency of the moment and
neighbours; alternating pairs in the same minutes cancel those in the ratio, and the median over
pairs damps what remains. Usage: ``python benchmarks/overhead.py [--repeats N] [--duration S]
[--users N] [--only 200,500,workers]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from bench import Nginx, machine, nginx, run_sampled, spread, wait_for_quiet

STEADY_FROM, STEADY_TO = 2.0, 1.0  # the steady window: seconds after the first and before the last request

LOCUSTFILE = textwrap.dedent("""\
    from locust import FastHttpUser, constant, task


    class Bare(FastHttpUser):
        wait_time = constant(0)

        @task
        def get(self):
            self.client.get({path!r})
""")

SCENARIO = textwrap.dedent("""\
    name: overhead
    target:
      host: {host}
      allowed_hosts: [127.0.0.1]
    users:
      - name: bare
        wait: {{constant: 0}}
        requests:
          - {{name: get, method: GET, path: {path}}}
    load: {{users: {users}, spawn_rate: {users}, duration: {duration:g}s}}
""")


@dataclass(frozen=True)
class Config:
    name: str      # 200, 500, workers
    path: str
    status: int    # what nginx answers
    processes: int  # 1: pinned single process; N: locust --processes N / loadkit --workers N, unpinned


CONFIGS = {c.name: c for c in (Config("200", "/ok", 200, 1), Config("500", "/fail", 500, 1),
                               Config("workers", "/ok", 200, 2))}


@dataclass
class Run:
    config: str
    side: str  # bare, loadkit
    pair: int
    logged: int          # requests nginx logged for the run
    counted: int         # the tool's own count
    integrity: str       # loadkit: samples against Locust's total
    rate: float          # requests/s in the steady window (nginx's count)
    cpu_us: float        # generator tree CPU µs per request in the steady window
    rss_mb: float        # max tree RSS in the steady window
    peak_mb: float       # max tree RSS, start to exit
    startup_s: float     # process start -> first request logged
    tail_s: float        # last request logged -> process exit
    verdict_s: float     # last request logged -> verdict.json written (loadkit only)
    cpu_total_s: float   # tree CPU seconds, start to exit
    others: float        # cores used by other processes in the steady window
    exit_code: int


def run_one(work: Path, target: Nginx, c: Config, side: str, pair: int, users: int, duration: float,
            gen_cpu: int | None) -> Run:
    d = work / f"{c.name}-{side}-{pair}"
    d.mkdir()
    if side == "bare":
        (d / "locustfile.py").write_text(LOCUSTFILE.format(path=c.path))
        cmd = [sys.executable, "-m", "locust", "-f", "locustfile.py", "--headless", "-u", str(users),
               "-r", str(users), "-t", f"{duration:g}s", "--host", target.url, "--only-summary",
               "--json-file", "final", "--loglevel", "WARNING"]
        if c.processes > 1:
            cmd += ["--processes", str(c.processes)]
    else:
        (d / "scenario.yaml").write_text(SCENARIO.format(host=target.url, path=c.path, users=users, duration=duration))
        cmd = [sys.executable, "-m", "loadkit", "run", "scenario.yaml", "--out", "out", "--quiet", "--run-id", "run"]
        if c.processes > 1:
            cmd += ["--workers", str(c.processes)]
    mark = target.mark()
    m = run_sampled(cmd, d, d / "log.txt", timeout=duration + 120, cpu=gen_cpu if c.processes == 1 else None)
    stamps = target.stamps(mark)
    wrong = sum(1 for _, s in stamps if s != c.status)
    if wrong:
        raise RuntimeError(f"{wrong} of {len(stamps)} answers were not {c.status}: see {d}/log.txt")
    first, last = (stamps[0][0], stamps[-1][0]) if stamps else (float("nan"), float("nan"))
    a, b = first + STEADY_FROM, last - STEADY_TO
    in_window = sum(1 for t, _ in stamps if a <= t <= b)
    cpu, busy, rss = m.between(a, b)
    span = m.span(a, b)
    counted, integrity, verdict_s = _counts(d, side)
    return Run(c.name, side, pair, len(stamps), counted, integrity,
               rate=in_window / (b - a) if b > a else float("nan"),
               cpu_us=cpu / (in_window * span / (b - a)) * 1e6 if in_window and span else float("nan"),
               rss_mb=rss / 2**20, peak_mb=m.peak_rss / 2**20, startup_s=first - m.spawned,
               tail_s=m.exited - last, verdict_s=verdict_s - last if verdict_s else float("nan"),
               cpu_total_s=m.cpu_s, others=max(0.0, (busy - cpu) / span) if span else float("nan"),
               exit_code=m.exit_code)


def _counts(d: Path, side: str) -> tuple[int, str, float]:
    """(the tool's own request count, an integrity line, when verdict.json was written or 0)."""
    if side == "bare":
        try:
            entries = json.loads((d / "final.json").read_text())
        except (OSError, ValueError):
            return 0, "no final.json", 0.0
        return sum(int(e["num_requests"]) for e in entries), "", 0.0
    run = d / "out" / "run"
    try:
        manifest = json.loads((run / "manifest.json").read_text())
    except (OSError, ValueError):
        return 0, "no manifest", 0.0
    samples = int(manifest.get("samples") or 0)
    total = int((manifest.get("locust_totals") or {}).get("requests", -1))
    ok = "=" if total == samples else "!="
    verdict = run / "verdict.json"
    return samples, f"{manifest.get('status')}, samples {ok} Locust's {total}", verdict.stat().st_mtime if verdict.exists() else 0.0


# -- reporting -------------------------------------------------------------------------------------

def print_runs(runs: list[Run]) -> None:
    head = (f"{'config':<8} {'side':<8} {'pair':>4} {'logged':>7} {'counted':>7} {'req/s':>7} {'CPU us/req':>10} "
            f"{'RSS MB':>6} {'peak MB':>7} {'start s':>7} {'tail s':>6} {'verdict s':>9} {'CPU s':>6} "
            f"{'others':>6} {'exit':>4}  integrity")
    print(head)
    print("-" * len(head))
    for r in runs:
        print(f"{r.config:<8} {r.side:<8} {r.pair:>4} {r.logged:>7} {r.counted:>7} {r.rate:>7.0f} {r.cpu_us:>10.1f} "
              f"{r.rss_mb:>6.0f} {r.peak_mb:>7.0f} {r.startup_s:>7.2f} {r.tail_s:>6.2f} {r.verdict_s:>9.2f} "
              f"{r.cpu_total_s:>6.2f} {r.others:>6.2f} {r.exit_code:>4}  {r.integrity}")


MEASURES = [  # (label, attribute, goal as a ratio loadkit/bare or an absolute bound, higher is better)
    ("requests/s", "rate", 0.97, True),
    ("CPU µs per request", "cpu_us", 1.05, False),
    ("RSS during the load, MB", "rss_mb", 2.0, False),
    ("peak RSS start to exit, MB", "peak_mb", None, False),
    ("start of process -> first request, s", "startup_s", 1.2, False),
    ("last request -> exit, s", "tail_s", None, False),
]


def print_summary(runs: list[Run]) -> None:
    print("\nmedians (min–max) over pairs; ratio = loadkit/bare per pair, median (min–max)\n")
    head = f"{'config':<8} {'measure':<38} {'loadkit':>22} {'bare':>22} {'ratio':>22} {'goal':>8}"
    print(head)
    print("-" * len(head))
    for name in CONFIGS:
        b = {r.pair: r for r in runs if r.config == name and r.side == "bare"}
        k = {r.pair: r for r in runs if r.config == name and r.side == "loadkit"}
        pairs = sorted(b.keys() & k.keys())
        if not pairs:
            continue
        for label, attr, goal, _higher in MEASURES:
            kv, bv = [getattr(k[p], attr) for p in pairs], [getattr(b[p], attr) for p in pairs]
            ratios = [x / y for x, y in zip(kv, bv, strict=True) if y]
            fmt = ",.0f" if attr in ("rate", "rss_mb", "peak_mb") else ".1f" if attr == "cpu_us" else ".2f"
            goal_s = f"{'≥' if _higher else '≤'} {goal:g}" if goal else ""
            print(f"{name:<8} {label:<38} {spread(kv, fmt):>22} {spread(bv, fmt):>22} {spread(ratios, '.3f'):>22} "
                  f"{goal_s:>8}")
        verdict = [k[p].verdict_s for p in pairs]
        print(f"{name:<8} {'last request -> verdict.json, s':<38} {spread(verdict, '.2f'):>22}")


# -- main ------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--duration", type=float, default=12.0, help="seconds of load per run (default 12)")
    p.add_argument("--repeats", type=int, default=5, help="bare/loadkit pairs per configuration (default 5)")
    p.add_argument("--users", type=int, default=20, help="concurrent users (default 20)")
    p.add_argument("--only", default=",".join(CONFIGS), help="configurations to run (default 200,500,workers)")
    p.add_argument("--keep", action="store_true", help="keep the run folders and print where they are")
    args = p.parse_args(argv)
    configs = [CONFIGS[n] for n in args.only.split(",")]
    if args.duration < STEADY_FROM + STEADY_TO + 3 or args.repeats < 1 or args.users < 1:
        p.error("expected --duration >= 6, --repeats >= 1, --users >= 1")
    cpus = sorted(os.sched_getaffinity(0))
    gen_cpu, target_cpu = (cpus[0], cpus[-1]) if len(cpus) >= 2 else (None, None)
    print(machine())
    print(f"duration {args.duration:g}s, {args.repeats} pairs per configuration, {args.users} users; single-process "
          f"runs: generator on CPU {gen_cpu}, nginx on CPU {target_cpu}; workers runs unpinned")
    work = Path(tempfile.mkdtemp(prefix="loadkit-overhead-"))
    runs: list[Run] = []
    lifetime = 60 + len(configs) * args.repeats * 2 * (args.duration + 150)
    with nginx(lifetime) as target:
        print(f"target: nginx {target.version} at {target.url}, one worker\n")
        for c in configs:
            target.check(c.path, c.status)  # before any ratio is trusted: every direct answer as expected
            target.place({target_cpu} if c.processes == 1 and target_cpu is not None else set(cpus))
            for pair in range(1, args.repeats + 1):
                for side in ("bare", "loadkit"):
                    quiet = wait_for_quiet([target.master, *target.workers])
                    r = run_one(work, target, c, side, pair, args.users, args.duration, gen_cpu)
                    runs.append(r)
                    print(f"  {c.name} {side} #{pair}: {r.rate:,.0f}/s, {r.cpu_us:.0f} us/req, RSS {r.rss_mb:.0f} MB, "
                          f"start {r.startup_s:.2f} s, tail {r.tail_s:.2f} s (others {quiet:.2f} before, "
                          f"{r.others:.2f} during)", flush=True)
    print()
    print_runs(runs)
    print_summary(runs)
    bad = [r for r in runs if not r.logged or not r.counted or "!=" in r.integrity]
    if bad:
        print(f"\nwarning: {len(bad)} run(s) counted nothing or lost samples; logs under {work}")
    if args.keep or bad:
        print(f"run folders: {work}")
    else:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
