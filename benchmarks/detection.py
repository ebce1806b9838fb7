"""How often the baseline comparison is right: false FAILs on unchanged runs, detection of real regressions.

Two steps (``record`` then ``evaluate``; no argument does both):

**record** makes real short runs of the bundled stand-in on this machine as it is: a closed load of 16
users (2 s ramp, 7 s checked window) and the compare checks ``p95(latency) <= +10%``, ``p95(latency, *)
<= +20%``, ``error_rate <= +0.5pp``, ``rps >= -10%`` and ``per_request(target.cpu_seconds) <= +10%``.
Conditions: unchanged (A/A), and injected regressions of +5 %, +10 % and +20 % p95 (a fixed latency
added to every request, sized from calibration runs) and +10 % CPU per request (a CPU burn per
request); the effect achieved is measured from the runs, not assumed. Runs are interleaved in random
order, and in a random half of them a neighbour (a CPU hog on both cores) starts at a random moment
for a random 1-4 s. Each run folder is kept under ``--data`` with what was injected.

**evaluate** judges every recorded run against baselines, with loadkit's method and with the rules
peers use, side by side: Kayenta-style Mann-Whitney on pooled request latencies, Keptn-style
"+10 % over the mean of the last 3 runs", and a fixed threshold. Two kinds of trials, labelled as
such: *real* (the first 10 undisturbed unchanged runs of the session are the baseline; every later
run is judged once) and *resampled* (many draws of 3, 5 and 10 baseline runs from the unchanged runs, each judged
against an unchanged run not drawn, or a regression run). Rates carry Clopper-Pearson 95 % bounds.

Usage: ``python benchmarks/detection.py [record|evaluate] [--data DIR] [--minutes M] [--draws N]``
"""

from __future__ import annotations

# isort: off
import locust  # noqa: F401  (gevent's monkey patching first, as in every Locust process)
# isort: on

import argparse
import functools
import json
import os
import platform
import random
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats as sps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadkit.baseline import aggregates_from_summary  # noqa: E402
from loadkit.scenario import load_scenario  # noqa: E402
from loadkit.scenario.checks import parse_compare  # noqa: E402
from loadkit.standin import StandinConfig, start_standin  # noqa: E402
from loadkit.verdict.compare import combine, compare_all  # noqa: E402
from loadkit.verdict.truth import DISTURBED_SHARE  # noqa: E402

SCENARIO = textwrap.dedent("""\
    name: detection
    target: {host: http://127.0.0.1:1}
    users:
      - name: customer
        wait: {between: [0.05, 0.15]}
        requests:
          - {name: faq-search, path: "/faq/search?q={topic}", weight: 5}
          - {name: ticket-get, path: "/tickets/{ticket_id}", weight: 3}
          - {name: ticket-list, path: "/tickets?limit=5", weight: 1}
          - {name: ticket-create, method: POST, path: /tickets, json: {subject: "{topic}", body: b}, weight: 1,
             expect: {status: 201}}
        vars:
          topic: {choice: [refund, login, shipping, invoice]}
          ticket_id: {randint: [1, 200]}
    load:
      stages:
        - {duration: 2s, users: 16, spawn_rate: 8}
        - {duration: 7s, users: 16}
    metrics:
      - {name: target, source: process, pid: 1}  # the stand-in's pid, set per run
    compare:
      - "p95(latency) <= +10%"
      - "p95(latency, *) <= +20%"
      - "error_rate <= +0.5pp"
      - "rps >= -10%"
      - "per_request(target.cpu_seconds) <= +10%"
    """)
COMPARE = tuple(parse_compare(c) for c in (
    "p95(latency) <= +10%", "p95(latency, *) <= +20%", "error_rate <= +0.5pp", "rps >= -10%",
    "per_request(target.cpu_seconds) <= +10%"))
CONDITIONS = ("aa", "p95+5", "p95+10", "p95+20", "cpu+10")
#: Every request of the target waits this long (a service's I/O), as in the issue's measurements (p95 36 ms):
#: loopback alone answers in 1-4 ms, where the machine's scheduling noise is most of the latency, and a
#: fixed +5 % of that is below the resolution of the stand-in's sleep.
BASE_MS = 25.0


# -- record ------------------------------------------------------------------------------------------------
def _hog(seconds: float) -> subprocess.Popen:
    """A neighbour: both cores busy for ``seconds``."""
    code = f"import multiprocessing as m, time\ndef b(t):\n    e = time.time() + t\n    while time.time() < e: pass\n" \
           f"if __name__ == '__main__':\n    ps = [m.Process(target=b, args=({seconds},)) for _ in range(2)]\n" \
           f"    [p.start() for p in ps]; [p.join() for p in ps]\n"
    return subprocess.Popen([sys.executable, "-c", code])


def _one_run(scenario_file: Path, host: str, pid: int, out: Path, hog: tuple[float, float] | None) -> Path:
    from loadkit.run import LoadRun

    scenario = load_scenario(str(scenario_file), overrides=[f"metrics.0.pid={pid}"], host=host)
    run = LoadRun(scenario, out, report=False)
    timer = None
    if hog is not None:
        import gevent

        timer = gevent.spawn_later(hog[0], lambda: _hog(hog[1]))
    outcome = run.execute()
    if timer is not None:
        timer.kill()
    return outcome.paths.root


def record(data: Path, minutes: float, seed: int) -> None:
    data.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    scenario_file = data / "scenario.yaml"
    scenario_file.write_text(SCENARIO)
    index_path = data / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"runs": [], "machine": _machine()}
    started = time.monotonic()
    with start_standin(StandinConfig(latency_ms={"*": BASE_MS})) as plain:
        # calibration: the unchanged target's p95 and CPU per request size the injected regressions
        calib = [_one_run(scenario_file, plain.url, plain.pid, data / "runs", None) for _ in range(3)]
        p95 = float(np.median([json.loads((r / "summary.json").read_text())["requests"]["latency_ms"]["p95"]
                               for r in calib]))
        cpu = float(np.median([json.loads((r / "summary.json").read_text())["metrics"]["target.cpu_seconds"]
                               ["per_request"] for r in calib])) * 1000.0
        knobs = {"p95+5": {"latency_ms": {"*": BASE_MS + 0.05 * p95}},
                 "p95+10": {"latency_ms": {"*": BASE_MS + 0.10 * p95}},
                 "p95+20": {"latency_ms": {"*": BASE_MS + 0.20 * p95}},
                 "cpu+10": {"latency_ms": {"*": BASE_MS}, "cpu_ms": 0.10 * cpu}}
        index["calibration"] = {"p95_ms": p95, "cpu_ms_per_request": cpu, "knobs": knobs}
        targets = {"aa": plain}
        for cond, knob in knobs.items():
            targets[cond] = start_standin(StandinConfig(**knob))
        try:
            plan = ["aa"] * 10  # the real baseline first
            block = ["aa"] * 4 + ["p95+5", "p95+10", "p95+20", "cpu+10"]
            while len(plan) < 400:
                b = block[:]
                rng.shuffle(b)
                plan += b
            for i, cond in enumerate(plan):
                if time.monotonic() - started > minutes * 60:
                    break
                hog = (rng.uniform(0.5, 8.0), rng.uniform(1.0, 4.0)) if i >= 10 and rng.random() < 0.5 else None
                t = targets[cond]
                root = _one_run(scenario_file, t.url, t.pid, data / "runs", hog)
                index["runs"].append({"run": root.name, "condition": cond, "hog": hog, "order": i,
                                      "baseline": i < 10})
                index_path.write_text(json.dumps(index, indent=1))
                print(f"[{time.monotonic() - started:6.0f}s] {i:3d} {cond:7s} hog={hog}", flush=True)
        finally:
            for cond, t in targets.items():
                if cond != "aa":
                    t.stop()


def _machine() -> dict:
    import locust as _l

    return {"nproc": os.cpu_count(), "python": platform.python_version(), "locust": _l.__version__,
            "kernel": platform.release(), "date": time.strftime("%Y-%m-%d")}


# -- evaluate ----------------------------------------------------------------------------------------------
#: The issue's compare checks (tolerance +10 % on p95) and the tight ones (+5 %), each judged at twice its
#: tolerance: a tolerance equal to the true change is crossed by only half the runs, by construction.
TIGHT = tuple(parse_compare(c) for c in (
    "p95(latency) <= +5%", "p95(latency, *) <= +20%", "error_rate <= +0.5pp", "rps >= -10%",
    "per_request(target.cpu_seconds) <= +5%"))
CONFIGS = {"+10% tolerance": COMPARE, "+5% tolerance": TIGHT}
GOALS = {"+10% tolerance": ("p95+20",), "+5% tolerance": ("p95+10", "cpu+10")}


@dataclass(frozen=True)
class Run:
    name: str
    condition: str
    hog: bool
    baseline: bool
    summary: dict
    folder: Path

    @functools.cached_property
    def aggregates(self) -> dict[str, float]:
        return aggregates_from_summary(self.summary)

    @property
    def disturbed(self) -> bool:
        r = self.summary.get("robust") or {}
        return bool(r) and (len(r.get("excluded", ())) > DISTURBED_SHARE * r.get("slices", 1)
                            or not (r.get("requests") or {}).get("total"))


def _resummarize(folder: Path, recorded: dict) -> dict:
    """The run's summary as this loadkit computes it (slices, disturbed seconds), from its samples and health:
    a recording made before a change of method is judged by the method as it is now."""
    from loadkit.analysis import summarize_run
    from loadkit.run.health import disturbed_seconds
    from loadkit.runfolder import RunPaths, read_health

    paths = RunPaths(folder)
    w, run = recorded["window"], recorded.get("run") or {}
    health = read_health(paths)
    rows = list(zip(*(health.column(c).to_pylist() for c in health.column_names), strict=True))
    summary = summarize_run(paths, w["start"], w["end"], run=(run.get("start", w["start"]), run.get("end", w["end"])),
                            disturbed=disturbed_seconds(rows)).to_json()
    return {**summary, "metrics": recorded.get("metrics") or {}}


def load_runs(data: Path) -> list[Run]:
    index = json.loads((data / "index.json").read_text())
    out = []
    for r in index["runs"]:
        folder = data / "runs" / r["run"]
        try:
            summary = _resummarize(folder, json.loads((folder / "summary.json").read_text()))
        except (OSError, ValueError, KeyError):
            continue
        out.append(Run(r["run"], r["condition"], bool(r["hog"]), bool(r["baseline"]), summary, folder))
    return out


Method = Callable[[Sequence[Run], Sequence[Run]], str]  # (baseline, current runs) -> PASS | WARN | FAIL | ERROR


def loadkit_method(checks: tuple) -> Method:
    """loadkit's comparison as a run is judged: ERROR when the measurement is disturbed, else the worst
    outcome over the blocking comparisons; several current runs are ``--confirm``'s combined evidence."""
    def judge(baseline: Sequence[Run], current: Sequence[Run]) -> str:
        if current[0].disturbed:
            return "ERROR"
        cur = combine([c.aggregates for c in current]) if len(current) > 1 else current[0].aggregates
        comps = compare_all(checks, cur, [b.aggregates for b in baseline], sorted(current[0].summary["endpoints"]),
                            len(current))
        statuses = {c.status for c in comps if c.blocking}
        return "FAIL" if "FAIL" in statuses else "WARN" if "WARN" in statuses else "PASS"
    return judge


@functools.cache
def _latencies_of(folder: Path, start: float, end: float) -> np.ndarray:
    import pyarrow.parquet as pq

    t = pq.read_table(folder / "samples.parquet", columns=["ts", "latency_ms", "error"])
    ts, lat = t.column("ts").to_numpy(), t.column("latency_ms").to_numpy()
    ok = t.column("error").is_null().to_numpy(zero_copy_only=False)
    return lat[ok & (ts >= start) & (ts < end)]


def _latencies(run: Run) -> np.ndarray:
    w = run.summary["window"]
    return _latencies_of(run.folder, w["start"], w["end"])


def _p95(run: Run) -> float:
    return run.summary["requests"]["latency_ms"]["p95"]


def kayenta_method(baseline: Sequence[Run], current: Sequence[Run]) -> str:
    """Kayenta's judge, simplified: Mann-Whitney U on pooled request latencies (current vs the last 3 baseline
    runs), alpha 0.05, and an effect beyond +10 % on the median (its "allowed increase")."""
    base = np.concatenate([_latencies(b) for b in baseline[-3:]])
    cur = _latencies(current[0])
    p = sps.mannwhitneyu(cur, base, alternative="greater").pvalue
    effect = np.median(cur) / np.median(base) - 1
    return "FAIL" if p < 0.05 and effect > 0.10 else "PASS"


def keptn_method(baseline: Sequence[Run], current: Sequence[Run]) -> str:
    """Keptn's quality gate: p95 within +10 % of the mean p95 of the last 3 passing runs."""
    return "FAIL" if _p95(current[0]) > 1.10 * float(np.mean([_p95(b) for b in baseline[-3:]])) else "PASS"


def threshold_method(baseline: Sequence[Run], current: Sequence[Run]) -> str:
    """A fixed threshold set once from the first baseline run: p95 under 1.25 x its p95."""
    return "FAIL" if _p95(current[0]) > 1.25 * _p95(baseline[0]) else "PASS"


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    lo = 0.0 if k == 0 else sps.beta.ppf(0.025, k, n - k + 1)
    hi = 1.0 if k == n else sps.beta.ppf(0.975, k + 1, n - k)
    return float(lo), float(hi)


def _rate(outcomes: list[str], what: str) -> str:
    k, n = sum(o == what for o in outcomes), len(outcomes)
    lo, hi = clopper_pearson(k, n)
    return f"{100 * k / n:.1f}% ({100 * lo:.1f}-{100 * hi:.1f}, n={n})" if n else "-"


def achieved_effects(runs: list[Run]) -> dict[str, str]:
    def med(cond: str, f: Callable[[Run], float]) -> float:
        return float(np.median([f(r) for r in runs if r.condition == cond]))

    cpu = lambda r: r.summary["metrics"]["target.cpu_seconds"]["per_request"]  # noqa: E731
    out = {}
    for cond in CONDITIONS[1:]:
        if any(r.condition == cond for r in runs) and any(r.condition == "aa" for r in runs):
            f = cpu if cond.startswith("cpu") else _p95
            out[cond] = f"{100 * (med(cond, f) / med('aa', f) - 1):+.1f}%"
    return out


def _trials(runs: list[Run], method: Method, k: int | None, draws: int, rng: random.Random,
            confirm: int = 0) -> dict[str, list[str]]:
    """Real trials (k None: the first 10 undisturbed unchanged runs are the baseline, every later run judged once) or
    resampled ones (``draws`` draws of k undisturbed unchanged runs, judged against a run not drawn)."""
    res: dict[str, list[str]] = defaultdict(list)
    pool = [r for r in runs if r.condition == "aa" and not r.disturbed]
    if k is None:  # the first 10 undisturbed unchanged runs are promoted (promotion refuses an ERROR run)
        order = {id(r): i for i, r in enumerate(runs)}
        base = pool[:10]
        cut = order[id(base[-1])] if base else -1
        later = [r for r in runs if order[id(r)] > cut]
        for i, r in enumerate(later):
            current = [r]
            out = method(base, current)
            spare = [x for x in later[i + 1:] if x.condition == r.condition]  # the next runs, as --confirm takes
            while out == "FAIL" and len(current) <= confirm and spare:
                current.append(spare.pop(0))
                out = method(base, current)
            res[r.condition].append(out)
        return res
    for _ in range(draws):
        cur = rng.choice(runs)
        others = [r for r in pool if r is not cur]
        if len(others) < k:
            continue
        base = sorted(rng.sample(others, k), key=lambda r: r.name)
        current = [cur]
        out = method(base, current)
        spare = [r for r in runs if r.condition == cur.condition and r is not cur and r not in base]
        while out == "FAIL" and len(current) <= confirm and spare:
            current.append(spare.pop(rng.randrange(len(spare))))
            out = method(base, current)
        res[cur.condition].append(out)
    return res


def evaluate(data: Path, draws: int, seed: int) -> str:
    runs = load_runs(data)
    index = json.loads((data / "index.json").read_text())
    rng = random.Random(seed)
    n_dist = sum(r.disturbed for r in runs)
    lines = [f"machine: {index.get('machine')}; calibration: p95 {index['calibration']['p95_ms']:.1f} ms, "
             f"{index['calibration']['cpu_ms_per_request']:.2f} ms CPU/request",
             f"{len(runs)} runs recorded ({sum(r.hog for r in runs)} with a neighbour started at a random moment, "
             f"{n_dist} measured as disturbed, judged ERROR); achieved effects (median vs unchanged): "
             + ", ".join(f"{k} {v}" for k, v in achieved_effects(runs).items()), ""]
    header = "| method | trials | A/A false FAIL | A/A WARN | A/A ERROR | " + " | ".join(
        f"FAIL at {c}" for c in CONDITIONS[1:]) + " |"
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    methods: list[tuple[str, Method, int]] = []
    for name, checks in CONFIGS.items():
        methods.append((f"loadkit, {name}", loadkit_method(checks), 0))
        methods.append((f"loadkit --confirm 2, {name}", loadkit_method(checks), 2))
    methods += [("Kayenta-style Mann-Whitney", kayenta_method, 0), ("Keptn-style +10% of last 3", keptn_method, 0),
                ("fixed threshold 1.25x", threshold_method, 0)]
    for name, method, confirm in methods:
        for k in (None, 3, 5, 10):
            res = _trials(runs, method, k, draws, rng, confirm)
            trials = "real, 10 base" if k is None else f"resampled, k={k}"
            lines.append(f"| {name} | {trials} | {_rate(res['aa'], 'FAIL')} | {_rate(res['aa'], 'WARN')} | "
                         f"{_rate(res['aa'], 'ERROR')} | " + " | ".join(_rate(res[c], "FAIL") for c in CONDITIONS[1:])
                         + " |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("step", nargs="?", choices=("record", "evaluate", "both"), default="both")
    p.add_argument("--data", type=Path, default=ROOT / "benchmarks" / ".data" / "detection")
    p.add_argument("--minutes", type=float, default=24.0, help="recording time (the whole benchmark stays under 30)")
    p.add_argument("--draws", type=int, default=1000, help="resampled trials per baseline size")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if args.step in ("record", "both"):
        record(args.data, args.minutes, args.seed)
    if args.step in ("evaluate", "both"):
        print(evaluate(args.data, args.draws, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
