"""Running a scenario with Locust as a library: the load, the capture, the results.

:class:`LoadRun` is the entry point the CLI merely wraps, as Locust's ``Environment`` is
for ``locust``: it takes the scenario, the output folder, the clock and a progress
callback, and returns a :class:`RunOutcome`. It never prints or exits.
"""

from __future__ import annotations

# isort: off
import locust  # noqa: F401  (imported first: Locust applies gevent's monkey patching)
# isort: on

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import gevent
import numpy as np
from locust.env import Environment
from locust.runners import STATE_STOPPED, MasterRunner

from .analysis import Summary, summarize_metrics
from .baseline import BaselineStore
from .capture import PartWriter, SampleBuffer, attach_recorder
from .collectors import CollectorSet, MetricSpec
from .distributed import MasterReceiver
from .errors import RunError
from .fingerprint import collect_fingerprint
from .judge import judge_run
from .live import LiveWindow
from .openmodel import Schedule, check_interval, intended_counts, shortfalls
from .progress import Progress
from .results import RunPaths, git_commit, iso, new_run_dir, strip_credentials, summarize_run, versions, write_json
from .scenario import Scenario
from .shape import StagesShape
from .users import build_open_user, build_user_classes
from .verdict import Verdict

__all__ = ["LoadRun", "RunOutcome", "probe_target"]

log = logging.getLogger("loadkit")


@dataclass(frozen=True)
class RunOutcome:
    paths: RunPaths
    status: str  # complete | interrupted | aborted | error
    reason: str
    samples: int
    locust_requests: int
    locust_failures: int
    summary: Summary
    verdict: Verdict


def probe_target(host: str, timeout: float, clock: Callable[[], float] = time.monotonic) -> str | None:
    """Why the target cannot be reached (TCP connect, retried until ``timeout``), or None."""
    parts = urlsplit(host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = clock() + timeout
    last = ""
    while True:
        try:
            with socket.create_connection((parts.hostname, port), timeout=min(2.0, timeout)):
                return None
        except OSError as exc:
            last = exc.strerror or str(exc)
        if clock() >= deadline:
            return f"target {strip_credentials(host)} unreachable: {last} (tried for {timeout:g}s)"
        gevent.sleep(0.25)


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (an allowed host, checked at load)
        return resp.read(1_000_000)


def _in_thread(fn: Callable[[], None]) -> Callable[[], None]:
    """Run ``fn`` in a native thread of gevent's pool; returns a function that waits for it."""
    result = gevent.get_hub().threadpool.spawn(fn)
    return lambda: result.get()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoadRun:
    """One load test run. Call :meth:`execute` once; :meth:`interrupt` may be called from a signal handler."""

    def __init__(self, scenario: Scenario, out_dir: Path, *, workers: int = 0, run_id: str | None = None,
                 target_pid: int | None = None, on_progress: Callable[[Progress], None] | None = None,
                 progress_interval: float = 1.0, clock: Callable[[], float] = time.time,
                 preflight_timeout: float = 5.0, chunk_rows: int = 50_000, worker_start_timeout: float = 60.0,
                 baselines: BaselineStore | None = None, environment: str = "staging",
                 env_pairs: dict[str, str] | None = None, env: Mapping[str, str] | None = None):
        self.scenario, self.workers, self.target_pid = scenario, workers, target_pid
        self.on_progress, self.progress_interval, self.clock = on_progress, progress_interval, clock
        self.preflight_timeout, self.worker_start_timeout = preflight_timeout, worker_start_timeout
        self.baselines, self.environment = baselines, environment
        self.env_pairs, self.env = dict(env_pairs or {}), dict(os.environ if env is None else env)
        self.paths = new_run_dir(out_dir, clock(), scenario.name, run_id)
        self.writer = PartWriter(self.paths.root, chunk_rows, run_in=_in_thread)
        self._stop_reason: str | None = None
        self.live = LiveWindow(max((r.seconds for r in scenario.abort), default=0.0) + 1.0)
        self._metric_history: dict[str, deque] = {
            r.check.metric: deque(maxlen=int(r.seconds) + 5) for r in scenario.abort if r.check.metric}
        self._procs: list[subprocess.Popen] = []

    def interrupt(self, reason: str = "interrupted by signal") -> None:
        self._stop_reason = self._stop_reason or reason

    # -- the run ---------------------------------------------------------------
    def execute(self) -> RunOutcome:
        started = self.clock()
        manifest = self._manifest(started)
        write_json(self.paths.manifest, manifest)
        try:
            return self._execute(manifest, started)
        except Exception as exc:  # never leave a run folder that claims to be "running"
            manifest.update({"status": "error", "reason": f"internal error: {type(exc).__name__}: {exc}",
                             "end": iso(self.clock())})
            write_json(self.paths.manifest, manifest)
            raise

    def _execute(self, manifest: dict, started: float) -> RunOutcome:
        unreachable = probe_target(self.scenario.target.host, self.preflight_timeout)
        if unreachable:
            return self._finish(manifest, started, started, "error", unreachable, 0, 0)
        self._record_environment()
        schedule = Schedule(self.scenario.load.open, 0, 1, self.scenario.seed) if self.scenario.load.open else None
        classes = [build_open_user(self.scenario, schedule)] if schedule else build_user_classes(self.scenario)
        env = Environment(user_classes=classes, host=self.scenario.target.host,
                          shape_class=StagesShape(self.scenario.load.stages), catch_exceptions=True)
        receiver: MasterReceiver | None = None
        buffer: SampleBuffer | None = None
        try:
            if self.workers:
                runner = env.create_master_runner("127.0.0.1", _free_port())
                receiver = MasterReceiver(env, self._on_rows)
                try:
                    self._start_workers(runner)
                except RunError as exc:
                    runner.quit()
                    return self._finish(manifest, started, self.clock(), "error", str(exc), 0, 0)
            else:
                runner = env.create_local_runner()
                buffer = SampleBuffer()
                attach_recorder(env.events, buffer)
            collectors = self._collectors()
            collectors.start()  # before the load: counters become rates from here
            started = self.clock()
            manifest["start"] = iso(started)  # the load's start: the checked window counts from here
            if schedule is not None and not self.workers:
                schedule.begin(started)
            runner.start_shape()
            status, reason = self._drive(env, runner, started, buffer, collectors)
            ended = self.clock()
            runner.stop()
            if receiver is not None:
                reason = self._collect_workers(runner, receiver) or reason
                status = "error" if reason and status == "complete" else status
            else:
                runner.quit()
            if buffer is not None:
                self._on_rows(buffer.take())
            collectors.stop(ended)
            manifest["metrics"] = [{"name": m.name, "source": m.source} for m in collectors.specs]
            manifest["metrics_missing"] = dict(collectors.missing)
            for name, reason in collectors.missing.items():
                manifest.setdefault("warnings", []).append(f"metric source {name!r} failed: {reason}")
            for name, lines in collectors.notes.items():
                manifest.setdefault("warnings", []).extend(f"metric source {name!r}: {line}" for line in lines)
            if collectors.cost is not None:
                manifest["collector_cost"] = {"cpu_ms_per_sample": round(collectors.cost.cpu_ms_per_sample(), 3),
                                              "samples": collectors.cost.samples}
            total = env.stats.total
            manifest["workers"] = self.workers
            self.writer.flush()
            self.writer.wait()
            if self.scenario.load.open is not None and status == "complete":
                short = self._rates(started, ended)
                if short:
                    status, reason = "error", short
            return self._finish(manifest, started, ended, status, reason, total.num_requests, total.num_failures)
        finally:
            self._stop_workers()

    def _drive(self, env: Environment, runner, started: float, buffer: SampleBuffer | None,
               collectors: CollectorSet) -> tuple[str, str]:
        """Wait out the stages, sampling and reporting progress, until done or told to stop."""
        duration = self.scenario.load.duration
        next_report = started + self.progress_interval
        next_tick = started + 1.0
        next_flush = started + 10.0
        while True:
            gevent.sleep(0.1)
            now = self.clock()
            if now >= next_tick:  # once a second: rows to disk and to the abort window, target CPU
                next_tick += 1.0
                if buffer is not None:
                    self._on_rows(buffer.take())
                history = self._metric_history
                for metric in history:
                    value = collectors.latest(metric)
                    if value is not None:
                        history[metric].append((now, value))
                trip = self.live.check(self.scenario.abort, now, now - started, history) if self.scenario.abort else None
                if trip is not None:
                    return "aborted", trip.reason
            if now >= next_flush:  # a part file at least every 10 s: a hard kill loses little
                self.writer.flush()
                next_flush = now + 10.0
            if self.on_progress and now >= next_report:
                self.on_progress(self._progress(env, runner, now - started, duration))
                next_report += self.progress_interval
            if self._stop_reason:
                return "interrupted", self._stop_reason
            if now - started >= duration:
                return "complete", ""
            if runner.state == STATE_STOPPED and now - started > 1.0:
                return "error", "Locust stopped the test before its stages ended (see the log above)"

    def _progress(self, env: Environment, runner, elapsed: float, duration: float) -> Progress:
        total = env.stats.total
        p95 = total.get_current_response_time_percentile(0.95) if total.num_requests else None
        return Progress(min(elapsed, duration), duration, runner.user_count, total.current_rps, p95,
                        total.num_requests, total.num_failures)

    def _metrics_summary(self, summary: Summary) -> dict:
        if not self.paths.metrics.exists():
            return {}
        import pyarrow.parquet as pq

        from .collectors import SOURCES
        from .collectors.base import series_key

        t = pq.read_table(self.paths.metrics)
        if t.num_rows == 0:
            return {}
        metric = t.column("metric").to_pylist()
        labels = t.column("labels").to_pylist()
        keys = np.array([series_key(m, lab) for m, lab in zip(metric, labels, strict=True)], dtype=object)
        units = {f"{m.name}.{f.name}": f.unit for m in self._specs for f in SOURCES[m.source].fields if f.name}
        return summarize_metrics(t.column("ts").to_numpy(), keys, t.column("value").to_numpy(), units,
                                 summary.window_start, summary.window_end, summary.requests.total)

    def _collectors(self) -> CollectorSet:
        """The scenario's metric sources, plus the target process when its pid is known (demo)."""
        specs = list(self.scenario.metrics)
        if self.target_pid and not any(m.name == "target" for m in specs):
            specs.append(MetricSpec("target", "process", {"pid": self.target_pid}))
        self._specs = specs
        return CollectorSet(specs, self.env, self.paths.metrics if specs else None)

    def _rates(self, started: float, ended: float) -> str:
        """Write intended vs achieved starts per interval (``rate.parquet``); why the run is invalid, if it is."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        load = self.scenario.load.open
        assert load is not None
        interval = check_interval(load.peak_rate)
        span = min(load.duration, ended - started)
        n = int(span // interval)  # complete intervals only
        if n < 1:
            return ""
        intended = intended_counts(load, interval, n * interval)
        starts = np.empty(0)
        if self.writer.parts:
            table = pq.read_table(self.writer.parts_dir, columns=["ts", "intended_ts"])
            ts, planned = table.column("ts").to_numpy(), table.column("intended_ts").to_numpy(zero_copy_only=False)
            starts = ts[~np.isnan(planned.astype(float))]
        idx = ((starts - started) // interval).astype(int)
        achieved = np.bincount(idx[(idx >= 0) & (idx < n)], minlength=n)[:n]
        table = pa.table({"ts": [started + i * interval for i in range(n)], "interval_s": [interval] * n,
                          "intended": intended / interval, "achieved": achieved / interval})
        pq.write_table(table, self.paths.root / "rate.parquet")
        bad = shortfalls(intended, achieved, interval)
        if not bad:
            return ""
        offset, want, got = bad[0]
        return (f"the load generator fell behind: {got:.1f}/s achieved of {want:.1f}/s intended at "
                f"{offset:g}s ({len(bad)} interval(s) short by more than 5%), so the run did not apply the planned "
                f"load (all {load.concurrency} users busy, or the generator short of CPU): "
                f"raise load.concurrency (now {load.concurrency}) or add --workers")

    def _on_rows(self, cols: dict) -> None:
        self.writer.add(cols)
        if self.scenario.abort:
            self.live.add(cols)

    def _record_environment(self) -> None:
        """The target's configuration now, as ``environment.json`` (secrets masked)."""
        base = Path(self.scenario.file).resolve().parent

        def read(name: str) -> bytes:  # as the scenario resolves files: beside it, else from here
            return (base / name if (base / name).is_file() else Path(name)).read_bytes()

        fp = collect_fingerprint(self.scenario.environment, self.env_pairs, self.env, read, _fetch,
                                 base_url=self.scenario.target.host)
        write_json(self.paths.root / "environment.json", fp.to_json())

    # -- workers -----------------------------------------------------------------
    def _start_workers(self, runner: MasterRunner) -> None:
        cmd = [sys.executable, "-m", "loadkit", "worker", self.scenario.file,
               "--master", f"127.0.0.1:{runner.master_bind_port}", "--host", self.scenario.target.host,
               "--streams", str(self.workers)]
        for item in self.scenario.overrides:
            cmd += ["--set", item]
        deadline_s = self.scenario.load.duration + 120  # a worker never outlives its run by much
        for i in range(self.workers):
            log_file = open(self.paths.root / f"worker-{i}.log", "wb")  # noqa: SIM115 (kept open by the child)
            argv = cmd + ["--stream", str(i + 1), "--parent-pid", str(os.getpid()), "--max-seconds", f"{deadline_s:g}"]
            self._procs.append(subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
            log_file.close()
        deadline = self.clock() + self.worker_start_timeout
        while runner.worker_count < self.workers:
            dead = [p for p in self._procs if p.poll() is not None]
            if dead:
                raise RunError(f"a worker exited with code {dead[0].returncode} before the test started; "
                               f"see {self.paths.root}/worker-*.log")
            if self.clock() > deadline:
                raise RunError(f"only {runner.worker_count} of {self.workers} workers connected within "
                               f"{self.worker_start_timeout:g}s; see {self.paths.root}/worker-*.log")
            gevent.sleep(0.1)

    def _collect_workers(self, runner: MasterRunner, receiver: MasterReceiver) -> str:
        """Wait for every worker's final rows, then quit them; the reason rows are missing, if any."""
        deadline = self.clock() + 15.0
        while len(receiver.done) < self.workers and self.clock() < deadline:
            gevent.sleep(0.1)
        runner.quit()
        if len(receiver.done) < self.workers:
            return f"only {len(receiver.done)} of {self.workers} workers reported their samples"
        missing = receiver.missing()
        if missing:
            return "samples lost in transit from workers: " + ", ".join(f"{w}: {n}" for w, n in missing.items())
        return ""

    def _stop_workers(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                p.terminate()
        for p in self._procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    # -- results -----------------------------------------------------------------
    def _manifest(self, started: float) -> dict:
        s = self.scenario
        return {
            "schema": 1,
            "run_id": self.paths.root.name,
            "scenario": {"name": s.name, "file": os.path.relpath(s.file), "sha256": s.content_hash,
                         "overrides": list(s.overrides)},
            "status": "running",
            "reason": "",
            "start": iso(started),
            "end": None,
            "duration_s": None,
            "planned_duration_s": s.load.duration,
            "target": strip_credentials(s.target.host),
            "workers": self.workers,
            "environment": self.environment,
            "checks": [{"check": c.text, "severity": c.severity, "nodata": c.nodata} for c in s.checks],
            "compare": [c.text for c in s.compare],
            "abort": [a.text for a in s.abort],
            "load": s.load.kind,
            "stages": [{"duration_s": st.duration, "users": st.users, "spawn_rate": st.spawn_rate} for st in s.load.stages],
            "open_model": None if s.load.open is None else {
                "source": s.load.open.source, "concurrency": s.load.open.concurrency,
                "arrivals": s.load.open.arrivals, "peak_rate": s.load.open.peak_rate,
                "mix": dict(s.load.open.mix), "unmapped": [{"endpoint": e, "share": sh} for e, sh in s.load.open.unmapped]},
            "versions": versions(),
            "git": git_commit(Path.cwd()),
        }

    def _finish(self, manifest: dict, started: float, ended: float, status: str, reason: str,
                locust_requests: int, locust_failures: int) -> RunOutcome:
        samples = self.writer.finish(self.paths.samples)
        warmup = self.scenario.load.warmup_seconds()
        summary = summarize_run(self.paths.samples, started + warmup, max(ended, started + warmup))
        if status == "complete" and samples == 0:
            status, reason = "error", "no request completed"
        t = started
        for st in manifest.get("stages", []):  # when each stage ran, for per-step analysis (capacity)
            ran = t < ended
            st["start"], st["end"] = (t, min(t + st["duration_s"], ended)) if ran else (None, None)
            t += st["duration_s"]
        if self.scenario.load.open and self.scenario.load.open.unmapped:
            manifest.setdefault("warnings", []).append(
                "profile endpoints with no request in map: " + ", ".join(
                    f"{e} ({sh:.1%})" for e, sh in self.scenario.load.open.unmapped[:10]))
        manifest.update({"status": status, "reason": reason, "end": iso(ended), "duration_s": round(ended - started, 3),
                         "samples": samples, "locust_totals": {"requests": locust_requests, "failures": locust_failures}})
        body = summary.to_json()
        body["window"]["warmup_s"] = warmup
        body["metrics"] = self._metrics_summary(summary)
        write_json(self.paths.summary, body)
        write_json(self.paths.manifest, manifest)
        verdict = judge_run(self.paths.root, self.scenario.checks, self.scenario.compare, self.baselines,
                            self.environment)
        return RunOutcome(self.paths, status, reason, samples, locust_requests, locust_failures, summary, verdict)
