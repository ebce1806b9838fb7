"""Running a scenario with Locust as a library: orchestration only.

:class:`LoadRun` is the entry point the CLI merely wraps, as Locust's ``Environment`` is for
``locust``: it takes the scenario, its options, the clock and a progress callback, and returns a
:class:`RunOutcome`. Its constructor touches no disk; :meth:`LoadRun.execute` creates the run
folder and writes every output (samples, summary, verdict, report, JUnit and Markdown when asked,
the baseline when promotion is asked). It never prints or exits.
"""

from __future__ import annotations

# isort: off
import locust  # noqa: F401  (imported first: Locust applies gevent's monkey patching)
# isort: on

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import gevent
from locust.runners import STATE_STOPPED

from ..analysis import Summary, summarize_run
from ..analysis.metrics import without_failed_sources
from ..baseline import BaselineRun, BaselineStore
from ..collectors import CollectorSet, MetricSpec
from ..errors import ConfigError
from ..files import write_json
from ..report.publish import publish
from ..runfolder import RunPaths, check_run_id, iso, new_run_id
from ..scenario.model import Scenario
from ..status import Outcome, RunStatus
from ..verdict import Verdict, judge_run
from .abort import LiveWindow
from .capture import PartWriter
from .engine import Engine, LocalEngine
from .manifest import finish_manifest, metrics_summary, record_collectors, start_manifest, write_rates
from .preflight import probe_target, read_environment
from .progress import Progress
from .workers import MasterEngine

__all__ = ["LoadRun", "RunOutcome", "RunOptions", "probe_target"]

log = logging.getLogger("loadkit")


@dataclass(frozen=True)
class RunOptions:
    """How to run and what to write; every field has the default the command line uses."""

    out_dir: Path = Path("results")
    run_id: str | None = None
    workers: int = 0
    target_pid: int | None = None
    environment: str = "staging"
    env_pairs: Mapping[str, str] = field(default_factory=dict)
    baselines: BaselineStore | None = None
    junit: Path | None = None
    markdown: Path | None = None
    report: bool = True
    promote_on_pass: bool = False
    progress_interval: float = 1.0
    preflight_timeout: float = 5.0
    worker_start_timeout: float = 60.0
    chunk_rows: int = 50_000


@dataclass(frozen=True)
class RunOutcome:
    paths: RunPaths
    status: RunStatus
    reason: str
    samples: int
    locust_requests: int
    locust_failures: int
    summary: Summary
    verdict: Verdict
    files: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()
    promoted: tuple[BaselineRun, list[str]] | None = None


def _in_thread(fn: Callable[[], None]) -> Callable[[], None]:
    """Run ``fn`` in a native thread of gevent's pool; returns a function that waits for it."""
    result = gevent.get_hub().threadpool.spawn(fn)
    return lambda: result.get()


class LoadRun:
    """One load test run. Call :meth:`execute` once; :meth:`interrupt` may be called from a signal handler."""

    def __init__(self, scenario: Scenario, out_dir: Path | None = None, *, options: RunOptions | None = None,
                 on_progress: Callable[[Progress], None] | None = None, clock: Callable[[], float] = time.time,
                 env: Mapping[str, str] | None = None, **kwargs):
        base = options or RunOptions()
        if out_dir is not None:
            kwargs["out_dir"] = Path(out_dir)
        self.options = RunOptions(**{**base.__dict__, **kwargs}) if kwargs else base
        if self.options.run_id is not None:
            check_run_id(self.options.run_id)
        self.scenario, self.on_progress, self.clock = scenario, on_progress, clock
        self.env = dict(os.environ if env is None else env)
        self.paths: RunPaths | None = None
        self._stop_reason: str | None = None

    def interrupt(self, reason: str = "interrupted by signal") -> None:
        self._stop_reason = self._stop_reason or reason

    # -- the run ---------------------------------------------------------------
    def execute(self) -> RunOutcome:
        o = self.options
        started = self.clock()
        self.paths = RunPaths(o.out_dir / (o.run_id or new_run_id(started, self.scenario.name))).create()
        self.writer = PartWriter(self.paths.root, o.chunk_rows, run_in=_in_thread)
        self.live = LiveWindow(max((r.seconds for r in self.scenario.abort), default=0.0) + 1.0)
        self._metric_history: dict[str, deque] = {
            r.check.metric: deque(maxlen=int(r.seconds) + 5) for r in self.scenario.abort if r.check.metric}
        manifest = start_manifest(self.scenario, self.paths, o.workers, o.environment, started)
        write_json(self.paths.manifest, manifest)
        try:
            return self._execute(manifest, started)
        except Exception as exc:  # never leave a run folder that claims to be "running"
            manifest.update({"status": RunStatus.ERROR, "reason": f"internal error: {type(exc).__name__}: {exc}",
                             "end": iso(self.clock())})
            write_json(self.paths.manifest, manifest)
            raise

    def _engine(self) -> Engine:
        o = self.options
        if o.workers:
            return MasterEngine(self.scenario, self._on_rows, o.workers, self.paths.root, o.worker_start_timeout,
                                self.clock)
        return LocalEngine(self.scenario, self._on_rows)

    def _execute(self, manifest: dict, started: float) -> RunOutcome:
        o = self.options
        unreachable = probe_target(self.scenario.target.host, o.preflight_timeout)
        if unreachable:
            return self._finish(manifest, started, started, RunStatus.ERROR, unreachable, 0, 0)
        write_json(self.paths.environment, read_environment(self.scenario, o.env_pairs, self.env).to_json())
        engine = self._engine()
        try:
            problem = engine.prepare()
            if problem:
                engine.runner.quit()
                return self._finish(manifest, started, self.clock(), RunStatus.ERROR, problem, 0, 0)
            collectors = self._collectors()
            collectors.start()  # before the load: counters become rates from here
            # collectors: what only the scenario can fix (bad PromQL) is known now, before any load: exit 2
            if collectors.config_problems:
                collectors.stop()
                raise ConfigError("; ".join(collectors.config_problems))
            started = self.clock()
            manifest["start"] = iso(started)  # the load's start: the checked window counts from here
            engine.start(started)
            status, reason = self._drive(engine, started, collectors)
            ended = self.clock()
            lost = engine.stop()
            if lost and status == RunStatus.COMPLETE:
                status, reason = RunStatus.ERROR, lost
            collectors.stop(ended, window_start=started + self.scenario.load.warmup_seconds())
            record_collectors(manifest, collectors)
            total = engine.env.stats.total
            self.writer.flush()
            self.writer.wait()
            if self.scenario.load.open is not None and status == RunStatus.COMPLETE:
                short = write_rates(self.paths, self.scenario.load.open, started, ended)
                if short:
                    status, reason = RunStatus.ERROR, short
            return self._finish(manifest, started, ended, status, reason, total.num_requests, total.num_failures)
        finally:
            engine.close()

    def _drive(self, engine: Engine, started: float, collectors: CollectorSet) -> tuple[RunStatus, str]:
        """Wait out the stages, sampling and reporting progress, until done or told to stop."""
        duration = self.scenario.load.duration
        interval = self.options.progress_interval
        next_report = started + interval
        next_tick = started + 1.0
        next_flush = started + 10.0
        while True:
            gevent.sleep(0.1)
            now = self.clock()
            if now >= next_tick:  # once a second: rows to disk and to the abort window, target CPU
                next_tick += 1.0
                engine.pull()
                history = self._metric_history
                for metric in history:
                    value = collectors.latest(metric)
                    if value is not None:
                        history[metric].append((now, value))
                trip = self.live.check(self.scenario.abort, now, now - started, history) if self.scenario.abort else None
                if trip is not None:
                    return RunStatus.ABORTED, trip.reason
            if now >= next_flush:  # a part file at least every 10 s: a hard kill loses little
                self.writer.flush()
                next_flush = now + 10.0
            if self.on_progress and now >= next_report:
                self.on_progress(self._progress(engine, now - started, duration))
                next_report += interval
            if self._stop_reason:
                return RunStatus.INTERRUPTED, self._stop_reason
            if now - started >= duration:
                return RunStatus.COMPLETE, ""
            if engine.runner.state == STATE_STOPPED and now - started > 1.0:
                return RunStatus.ERROR, "Locust stopped the test before its stages ended (see the log above)"

    def _progress(self, engine: Engine, elapsed: float, duration: float) -> Progress:
        total = engine.env.stats.total
        p95 = total.get_current_response_time_percentile(0.95) if total.num_requests else None
        return Progress(min(elapsed, duration), duration, engine.runner.user_count, total.current_rps, p95,
                        total.num_requests, total.num_failures)

    def _collectors(self) -> CollectorSet:
        """The scenario's metric sources, plus the target process when its pid is known (demo)."""
        specs = list(self.scenario.metrics)
        pid = self.options.target_pid
        if pid and not any(m.name == "target" for m in specs):
            specs.append(MetricSpec("target", "process", {"pid": pid}))
        self._specs = specs
        return CollectorSet(specs, self.env, self.paths.metrics if specs else None,
                            allowed_hosts=self.scenario.target.allowed_hosts)  # collectors: metric URLs too

    def _on_rows(self, cols: dict) -> None:
        self.writer.add(cols)
        if self.scenario.abort:
            self.live.add(cols)

    # -- results -----------------------------------------------------------------
    def _finish(self, manifest: dict, started: float, ended: float, status: RunStatus, reason: str,
                locust_requests: int, locust_failures: int) -> RunOutcome:
        o = self.options
        samples = self.writer.finish(self.paths.samples)
        warmup = self.scenario.load.warmup_seconds()
        summary = summarize_run(self.paths, started + warmup, max(ended, started + warmup))
        if status == RunStatus.COMPLETE and samples == 0:
            status, reason = RunStatus.ERROR, "no request completed"
        finish_manifest(manifest, self.scenario, started, ended, status, reason, samples, locust_requests,
                        locust_failures, o.workers)
        body = summary.to_json()
        body["window"]["warmup_s"] = warmup
        body["metrics"] = metrics_summary(self.paths, self._specs if hasattr(self, "_specs") else [], summary)
        # collectors: a source that failed (or stopped delivering) has no summary, so its checks end NODATA
        body["metrics"] = without_failed_sources(body["metrics"], manifest.get("metrics_missing") or {})
        write_json(self.paths.summary, body)
        write_json(self.paths.manifest, manifest)
        verdict = judge_run(self.paths.root, self.scenario.checks, self.scenario.compare, o.baselines, o.environment)
        published = publish(self.paths.root, verdict, baselines=o.baselines, environment=o.environment,
                            junit=o.junit, markdown_file=o.markdown, report=o.report)
        promoted = None
        if o.promote_on_pass and status == RunStatus.COMPLETE and verdict.status in (Outcome.PASS, Outcome.WARN) and o.baselines:
            promoted = o.baselines.promote(self.paths.root, o.environment, time.time())
        return RunOutcome(self.paths, status, reason, samples, locust_requests, locust_failures, summary, verdict,
                          published.files, published.warnings, promoted)
