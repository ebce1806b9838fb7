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

import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import gevent
import pyarrow as pa
from locust.runners import STATE_STOPPED

from ..analysis import Summary, summarize_run
from ..analysis.metrics import without_failed_sources
from ..collectors import CollectorSet, MetricSpec
from ..errors import ConfigError, DiskFullError, LoadkitError
from ..files import write_json
from ..hosts import AllowList
from ..redact import Redactor, redacted_logging
from ..runfolder import RunPaths, check_run_id, iso, new_run_id
from ..scenario.model import Scenario
from ..status import Outcome, RunStatus
from .abort import LiveWindow
from .capture import PartWriter
from .engine import Engine, LocalEngine
from .guard import Guard, activated
from .health import disturbed_seconds, write_health
from .heap import steady_heap
from .manifest import (
    finish_manifest,
    health_summary,
    metrics_summary,
    open_plan,
    record_collectors,
    start_manifest,
    write_rates,
)
from .openmodel import new_seed
from .preflight import probe_target, read_environment
from .progress import Progress
from .users import user_timeouts
from .workers import MasterEngine

if TYPE_CHECKING:  # the verdict, the report and the baseline load scipy and matplotlib: after the load only
    from ..baseline import BaselineRun, BaselineStore
    from ..verdict import Verdict

__all__ = ["LoadRun", "RunOutcome", "RunOptions", "probe_target"]

RESERVE_BYTES = 256 * 1024

log = logging.getLogger("loadkit")


@dataclass(frozen=True)
class RunOptions:
    """How to run and what to write; every field has the default the command line uses."""

    out_dir: Path = Path("results")
    run_id: str | None = None
    workers: int = 0  # local worker processes started by the run
    expect_workers: int = 0  # workers that connect from other hosts
    master_bind: str | None = None  # ADDR:PORT the master listens on (default: loopback, or 0.0.0.0:5557 for remote)
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
    flush_seconds: float = 2.0  # a part file at least this often: a hard kill loses little


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


class _Pending:
    """A write running in a native thread of gevent's pool: call it to wait (and re-raise its error).

    The error is returned by the thread rather than raised in it, so gevent does not print it as a
    traceback: it reaches the user once, as one line.
    """

    def __init__(self, fn: Callable[[], None]):
        def guarded() -> BaseException | None:
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - handed back, raised where it is waited for
                return exc
            return None

        self.result = gevent.get_hub().threadpool.spawn(guarded)

    def __call__(self) -> None:
        exc = self.result.get()
        if exc is not None:
            raise exc

    def done(self) -> bool:
        return self.result.ready()

    def error(self) -> BaseException | None:
        return self.result.value if self.result.ready() else None


def _in_thread(fn: Callable[[], None]) -> Callable[[], None]:
    return _Pending(fn)


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

    def redactor(self) -> Redactor:
        """Every secret this run knows: values from the environment, credentials, secret-looking variables."""
        s = self.scenario
        auths = [a for a in [s.target.auth, *(getattr(u, "auth", None) for u in s.users)] if a is not None]
        return Redactor.from_environment(self.env, [*s.secrets, *(a.secret for a in auths), *(a.username for a in auths)])

    # -- the run ---------------------------------------------------------------
    def execute(self) -> RunOutcome:
        o, s = self.options, self.scenario
        if o.baselines is not None:  # a damaged or unwritable baseline is refused before any load is sent
            o.baselines.runs(s.name, o.environment)
            if o.promote_on_pass:
                o.baselines.check_writable(s.name, o.environment)
        started = self.clock()
        self.paths = RunPaths(o.out_dir / (o.run_id or new_run_id(started, s.name))).create()
        reserve = self.paths.root / ".reserve"  # room kept for the last words when the disk fills up
        with contextlib.suppress(OSError):
            reserve.write_bytes(bytes(RESERVE_BYTES))
        self.redact = self.redactor()
        self.seed = s.seed if s.seed is not None else new_seed()
        self.writer = PartWriter(self.paths.root, o.chunk_rows, run_in=_in_thread)
        self.live = LiveWindow(max((r.seconds for r in s.abort), default=0.0) + 1.0)
        self._metric_history: dict[str, deque] = {
            r.check.metric: deque(maxlen=int(r.seconds) + 5) for r in s.abort if r.check.metric}
        self._health: list[tuple] = []
        self._specs: list[MetricSpec] = []
        manifest = start_manifest(s, self.paths, o.workers + o.expect_workers, o.environment, started, self.seed, self.redact)
        write_json(self.paths.manifest, manifest)
        if s.environment.parity is not None:  # the judge compares with it as read now (the file may change)
            write_json(self.paths.reference, self.redact.data(s.environment.parity.reference.to_json()))
        guard = Guard(AllowList.of(s.target.allowed_hosts), s.timeout)
        try:
            with activated(guard), redacted_logging(self.redact):
                return self._execute(manifest, started, guard)
        except Exception as exc:  # never leave a run folder that claims to be "running"
            why = str(exc) if isinstance(exc, LoadkitError) else f"internal error: {type(exc).__name__}: {exc}"
            manifest.update({"status": RunStatus.ERROR, "end": iso(self.clock()), "reason": self.redact.text(why)})
            with contextlib.suppress(Exception):  # let the part writes in flight finish (or fail and clean up)
                self.writer.wait()
            if isinstance(exc, DiskFullError) and self.paths.parts.is_dir():
                manifest["reason"] += "; the samples written so far are kept in samples.parts/"
            with contextlib.suppress(OSError):
                reserve.unlink()  # frees what the manifest needs
            with contextlib.suppress(LoadkitError):  # a full disk may refuse even this: the error is raised anyway
                write_json(self.paths.manifest, manifest)
            raise
        finally:
            with contextlib.suppress(OSError):
                reserve.unlink()

    def _engine(self, guard: Guard) -> Engine:
        o = self.options
        if o.workers or o.expect_workers:
            return MasterEngine(self.scenario, self._on_batch, o.workers, self.paths.root, self.seed,
                                o.worker_start_timeout, self.clock, on_health=self._health.append,
                                remote=o.expect_workers, bind=o.master_bind)
        return LocalEngine(self.scenario, self._on_batch, guard, self.seed, self.redact,
                           on_health=self._health.append, clock=self.clock, targets=self._target_pids())

    def _target_pids(self) -> tuple[int, ...]:
        """The target's processes where they are known: their CPU is the target's, not a neighbour's."""
        pids = [self.options.target_pid] if self.options.target_pid else []
        pids += [int(m.options["pid"]) for m in self.scenario.metrics
                 if m.source == "process" and isinstance(m.options.get("pid"), int)]
        return tuple(pids)

    def _execute(self, manifest: dict, started: float, guard: Guard) -> RunOutcome:
        o = self.options
        unreachable = probe_target(self.scenario.target.host, o.preflight_timeout)
        if unreachable:
            return self._finish(manifest, started, started, RunStatus.ERROR, unreachable, None, guard)
        fingerprint = read_environment(self.scenario, o.env_pairs, self.env)
        write_json(self.paths.environment, self.redact.data(fingerprint.to_json()))
        engine = self._engine(guard)
        guard.user_timeouts = user_timeouts(self.scenario, list(engine.env.user_classes))
        try:
            problem = engine.prepare()
            if problem:
                engine.runner.quit()
                return self._finish(manifest, started, self.clock(), RunStatus.ERROR, problem, engine, guard)
            collectors = self._collectors()
            collectors.start()  # before the load: counters become rates from here
            # collectors: what only the scenario can fix (bad PromQL) is known now, before any load: exit 2
            if collectors.config_problems:
                collectors.stop()
                raise ConfigError("; ".join(collectors.config_problems))
            try:
                with steady_heap():  # the collector kept off the load's path
                    started = engine.start()
                    manifest["start"] = iso(started)  # the load's start: the checked window counts from here
                    status, reason = self._drive(engine, started, collectors)
                    ended = self.clock()
                    lost = engine.stop()
                if lost and status == RunStatus.COMPLETE:
                    status, reason = RunStatus.ERROR, lost
            except BaseException:
                collectors.stop()  # on an error path the sampler must not outlive the run
                raise
            collectors.stop(ended, window_start=started + self.scenario.load.warmup_seconds())
            record_collectors(manifest, collectors)
            return self._finish(manifest, started, ended, status, reason, engine, guard)
        finally:
            engine.close()

    def _planned_end(self, started: float) -> float:
        return started + self.scenario.load.duration

    def _drive(self, engine: Engine, started: float, collectors: CollectorSet) -> tuple[RunStatus, str]:
        """Wait out the stages, sampling and reporting progress, until done or told to stop."""
        duration = self.scenario.load.duration
        shaped = self.scenario.load.kind == "shape"
        interval = self.options.progress_interval
        next_report = started + interval
        next_tick = started + 1.0
        next_flush = started + self.options.flush_seconds
        while True:
            gevent.sleep(0.1)
            now = self.clock()
            if now >= next_tick:  # once a second: rows to disk and to the abort window, target CPU
                next_tick += 1.0
                engine.pull()
                trouble = engine.trouble()
                if trouble:
                    return RunStatus.ERROR, trouble
                history = self._metric_history
                for metric in history:
                    value = collectors.latest(metric)
                    if value is not None:
                        history[metric].append((now, value))
                if self.scenario.abort:
                    trip = self.live.check(self.scenario.abort, now, now - started, history, engine.inflight_ages)
                    if trip is not None:
                        return RunStatus.ABORTED, trip.reason
            if now >= next_flush:  # a part file every few seconds: a hard kill loses little
                self.writer.flush()
                next_flush = now + self.options.flush_seconds
                failed = self.writer.failed()
                if failed is not None:  # a full disk: stop sending load that cannot be recorded
                    raise failed
            if self.on_progress and now >= next_report:
                self.on_progress(self._progress(engine, now, now - started, duration))
                next_report += interval
            if self._stop_reason:
                return RunStatus.INTERRUPTED, self._stop_reason
            if now - started >= duration:
                if shaped:
                    return RunStatus.COMPLETE, f"the shape ran to its time limit of {duration:g}s"
                return RunStatus.COMPLETE, ""
            if engine.runner.state == STATE_STOPPED and now - started > 1.0:
                if shaped:  # the shape returned None: its load is done
                    return RunStatus.COMPLETE, ""
                return RunStatus.ERROR, "Locust stopped the test before its stages ended (see the log above)"

    def _progress(self, engine: Engine, now: float, elapsed: float, duration: float) -> Progress:
        total = engine.env.stats.total
        p95 = total.get_current_response_time_percentile(0.95) if total.num_requests else None
        return Progress(min(elapsed, duration), duration, engine.runner.user_count, total.current_rps, p95,
                        total.num_requests, total.num_failures, int(engine.inflight_ages(now).size))

    def _collectors(self) -> CollectorSet:
        """The scenario's metric sources, plus the target process when its pid is known (demo)."""
        specs = list(self.scenario.metrics)
        pid = self.options.target_pid
        if pid and not any(m.name == "target" for m in specs):
            specs.append(MetricSpec("target", "process", {"pid": pid}))
        self._specs = specs
        return CollectorSet(specs, self.env, self.paths.metrics if specs else None,
                            allowed_hosts=self.scenario.target.allowed_hosts)  # collectors: metric URLs too

    def _on_batch(self, batch: pa.RecordBatch) -> None:
        self.writer.add(batch)
        if self.scenario.abort:
            self.live.add(batch)

    # -- results -----------------------------------------------------------------
    def _finish(self, manifest: dict, started: float, ended: float, status: RunStatus, reason: str,
                engine: Engine | None, guard: Guard) -> RunOutcome:
        o, s = self.options, self.scenario
        self.writer.flush()
        self.writer.wait()
        written = self.writer.rows
        totals = engine.env.stats.total if engine is not None else None
        requests, failures = (totals.num_requests, totals.num_failures) if totals is not None else (0, 0)
        if status == RunStatus.COMPLETE and written != requests:
            status, reason = RunStatus.ERROR, (
                f"samples lost: {written} requests written but Locust counted {requests} "
                f"({abs(requests - written)} {'missing' if written < requests else 'extra'})")
        samples = self.writer.finish(self.paths.samples)
        if status == RunStatus.COMPLETE and samples == 0:
            status, reason = RunStatus.ERROR, "no request completed"
        write_health(self.paths.health, self._health)
        warmup = s.load.warmup_seconds()
        end = min(ended, self._planned_end(started)) if status == RunStatus.COMPLETE else ended
        window = (started + warmup, max(end, started + warmup))
        plan = open_plan(s.load.open, self.seed, started) if s.load.open is not None and engine is not None else None
        summary = summarize_run(self.paths, *window, run=(started, max(ended, started)), plan=plan,
                                groups=s.groups, disturbed=disturbed_seconds(self._health))
        finish_manifest(manifest, s, started, ended, status, self.redact.text(reason), samples, requests, failures,
                        o.workers + o.expect_workers)
        if engine is not None and engine.members():
            manifest["worker_nodes"] = engine.members()
        refused = dict(guard.refused)
        for host, n in getattr(getattr(engine, "receiver", None), "refused", {}).items():
            refused[host] = refused.get(host, 0) + n
        if refused:
            manifest["refused"] = refused
        body = summary.to_json()
        body["window"]["warmup_s"] = warmup
        body["metrics"] = metrics_summary(self.paths, self._specs, summary)
        # collectors: a source that failed (or stopped delivering) has no summary, so its checks end NODATA
        body["metrics"] = without_failed_sources(body["metrics"], manifest.get("metrics_missing") or {})
        body["generator"] = health_summary(self.paths, window).to_json()
        body["exceptions"] = engine.exceptions.rows() if engine is not None else []
        write_json(self.paths.summary, body)
        write_json(self.paths.manifest, manifest)
        write_rates(self.paths, summary)
        from ..report.publish import publish
        from ..verdict import judge_run

        verdict = judge_run(self.paths.root, s.checks, s.compare, o.baselines, o.environment)
        published = publish(self.paths.root, verdict, baselines=o.baselines, environment=o.environment,
                            junit=o.junit, markdown_file=o.markdown, report=o.report)
        promoted = None
        if (o.promote_on_pass and status == RunStatus.COMPLETE and verdict.status in (Outcome.PASS, Outcome.WARN)
                and o.baselines):
            from ..verdict.promote import promote_run

            promoted = promote_run(o.baselines, self.paths.root, o.environment, time.time())
        return RunOutcome(self.paths, RunStatus(status), reason, samples, requests, failures, summary, verdict,
                          published.files, published.warnings, promoted)
