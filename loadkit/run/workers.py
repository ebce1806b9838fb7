"""Distributed load on Locust's master/worker engine: both sides, and what travels between them.

Every second a worker ships its new rows as one compressed Arrow IPC message (``loadkit_rows``:
the master writes it without turning a row into a Python object) and a tick (``loadkit_tick``:
its health row, the ages of its requests in flight, the rows it has produced so far). When its
test stops it says how many rows it sent (``loadkit_done``), so the master proves nothing was
lost, and names the worker and the rows when something was. An open-model schedule starts on the
master's ``loadkit_begin``, once every user of every worker is spawned. Nothing here assumes the
workers share a host.
"""

from __future__ import annotations

# isort: off
import locust  # noqa: F401  (imported first: Locust applies gevent's monkey patching)
# isort: on

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import numpy as np
import pyarrow as pa

from ..errors import ConfigError
from ..hosts import AllowList
from ..redact import Redactor
from ..runfolder import SCHEMA
from ..scenario.model import Scenario
from .capture import SampleBuffer, attach_recorder
from .engine import SPAWN_TIMEOUT_S, build_environment, fire_init, listener_scope
from .exceptions import ExceptionLog
from .guard import Guard, activated
from .health import HealthMonitor
from .users import user_timeouts

__all__ = ["WorkerShipper", "MasterReceiver", "MasterEngine", "run_worker", "encode", "decode"]

ROWS, TICK, DONE, BEGIN = "loadkit_rows", "loadkit_tick", "loadkit_done", "loadkit_begin"
_IPC = pa.ipc.IpcWriteOptions(compression="zstd")


def encode(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, SCHEMA, options=_IPC) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def decode(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


class WorkerShipper:
    """On a worker: record requests, ship them to the master with a tick every second."""

    def __init__(self, environment: Any, guard: Guard, redactor: Redactor, interval: float = 1.0):
        self.env, self.guard = environment, guard
        self.buffer = SampleBuffer(worker=environment.runner.client_id, redactor=redactor)
        self.exceptions = ExceptionLog(redactor)
        self.exceptions.attach(environment.events)
        self.sent = self.seq = 0
        self.health: tuple | None = None
        attach_recorder(environment.events, self.buffer)
        environment.events.test_start.add_listener(self._on_start)
        environment.events.test_stop.add_listener(self._on_stop)
        self._loop = gevent.spawn(self._ship_forever, interval)

    def _on_start(self, **_: Any) -> None:
        self.sent = self.seq = 0

    def _ship(self) -> None:
        batch = self.buffer.take()
        if batch.num_rows:
            self.seq += 1
            self.sent += batch.num_rows
            self.env.runner.send_message(ROWS, {"seq": self.seq, "rows": batch.num_rows, "ipc": encode(batch)})

    def _tick(self) -> None:
        ages = self.guard.inflight.ages(time.time())
        self.env.runner.send_message(TICK, {"health": self.health, "inflight": ages[:10_000].tolist(),
                                            "produced": self.buffer.count})

    def _ship_forever(self, interval: float) -> None:
        while True:
            gevent.sleep(interval)
            self._ship()
            self._tick()

    def _on_stop(self, **_: Any) -> None:
        self._ship()
        self.env.runner.send_message(DONE, {"sent": self.sent, "refused": dict(self.guard.refused),
                                            "exceptions": self.exceptions.rows()})


class MasterReceiver:
    """On the master: write the rows workers ship and account for them per worker."""

    def __init__(self, environment: Any, on_batch: Callable[[pa.RecordBatch], None],
                 on_health: Callable[[tuple], None] | None = None):
        self.on_batch, self.on_health = on_batch, on_health
        self.received: dict[str, int] = {}
        self.produced: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self.inflight: dict[str, tuple[float, list[float]]] = {}  # worker → (when, ages then)
        self.exceptions = ExceptionLog()
        environment.runner.register_message(ROWS, self._on_rows)
        environment.runner.register_message(TICK, self._on_tick)
        environment.runner.register_message(DONE, self._on_done)

    def _on_rows(self, environment: Any, msg: Any, **_: Any) -> None:
        table = decode(msg.data["ipc"])
        self.received[msg.node_id] = self.received.get(msg.node_id, 0) + table.num_rows
        for batch in table.to_batches():
            self.on_batch(batch)

    def _on_tick(self, environment: Any, msg: Any, **_: Any) -> None:
        self.produced[msg.node_id] = int(msg.data.get("produced", 0))
        self.inflight[msg.node_id] = (time.time(), list(msg.data.get("inflight") or []))
        row = msg.data.get("health")
        if row and self.on_health is not None:
            self.on_health(tuple(row))

    def _on_done(self, environment: Any, msg: Any, **_: Any) -> None:
        self.done[msg.node_id] = int(msg.data["sent"])
        for host, n in (msg.data.get("refused") or {}).items():
            self.refused[host] = self.refused.get(host, 0) + int(n)
        self.exceptions.merge(msg.data.get("exceptions") or [])

    def ages(self, now: float) -> np.ndarray:
        """Ages of the requests in flight on every worker, as of its last tick."""
        parts = [np.asarray(a, dtype=float) + (now - when) for when, a in self.inflight.values()]
        return np.concatenate(parts) if parts else np.empty(0)

    def missing(self) -> dict[str, int]:
        """Rows each worker said it sent but that did not arrive (empty when complete)."""
        return {w: n - self.received.get(w, 0) for w, n in self.done.items() if n != self.received.get(w, 0)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MasterEngine:
    """The load generated by ``workers`` local Locust worker processes driven by a master in this process."""

    def __init__(self, scenario: Scenario, on_batch: Callable[[pa.RecordBatch], None], workers: int,
                 log_dir: Path, seed: int, start_timeout: float = 60.0, clock: Callable[[], float] = time.time,
                 on_health: Callable[[tuple], None] | None = None):
        self.scenario, self.workers, self.log_dir, self.seed = scenario, workers, log_dir, seed
        self.start_timeout, self.clock = start_timeout, clock
        self._scope = listener_scope(locust.events)
        self._scope.__enter__()
        self.env, _ = build_environment(scenario, seed=seed)
        self.runner = self.env.create_master_runner("127.0.0.1", _free_port())
        self.receiver = MasterReceiver(self.env, on_batch, on_health)
        self.exceptions = self.receiver.exceptions
        fire_init(self.env)
        self._procs: list[subprocess.Popen] = []
        self._closed = False

    def prepare(self) -> str:
        """Start the worker processes and wait until all have connected; the reason they did not, or ""."""
        s = self.scenario
        cmd = [sys.executable, "-m", "loadkit", "worker", s.file, "--master", f"127.0.0.1:{self.runner.master_bind_port}",
               "--host", s.target.host, "--streams", str(self.workers), "--seed", str(self.seed)]
        for item in s.overrides:
            cmd += ["--set", item]
        deadline_s = s.load.duration + 120  # a worker never outlives its run by much
        for i in range(self.workers):
            log_file = open(self.log_dir / f"worker-{i}.log", "wb")  # noqa: SIM115 (kept open by the child)
            argv = cmd + ["--stream", str(i + 1), "--parent-pid", str(os.getpid()), "--max-seconds", f"{deadline_s:g}"]
            self._procs.append(subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL))
            log_file.close()
        deadline = self.clock() + self.start_timeout
        while self.runner.worker_count < self.workers:
            dead = [p for p in self._procs if p.poll() is not None]
            if dead:
                return (f"a worker exited with code {dead[0].returncode} before the test started; "
                        f"see {self.log_dir}/worker-*.log")
            if self.clock() > deadline:
                return (f"only {self.runner.worker_count} of {self.workers} workers connected within "
                        f"{self.start_timeout:g}s; see {self.log_dir}/worker-*.log")
            gevent.sleep(0.1)
        return ""

    def start(self) -> float:
        spawned = gevent.event.Event()
        self.env.events.spawning_complete.add_listener(lambda **_: spawned.set())
        self.runner.start_shape()
        if self.scenario.load.open is None:
            return self.clock()
        spawned.wait(SPAWN_TIMEOUT_S)
        started = self.clock()
        self.runner.send_message(BEGIN, {"start": started, "seed": self.seed})
        return started

    def pull(self) -> None:
        pass  # rows arrive through the message channel

    def inflight_ages(self, now: float, endpoint: str | None = None) -> np.ndarray:
        return self.receiver.ages(now)  # workers report ages only, not per endpoint

    def stop(self) -> str:
        """Wait for every worker's final rows, then quit them; the reason rows are missing, if any."""
        self.runner.stop()
        deadline = self.clock() + 15.0
        while len(self.receiver.done) < self.workers and self.clock() < deadline:
            gevent.sleep(0.1)
        sent = sum(self.receiver.done.values())  # a worker's final statistics follow its last rows: wait for them
        while self.env.stats.total.num_requests < sent and self.clock() < deadline:
            gevent.sleep(0.05)
        self.runner.quit()
        if len(self.receiver.done) < self.workers:
            silent = [w for w in self.receiver.produced if w not in self.receiver.done]
            detail = ", ".join(f"{w} (had produced {self.receiver.produced[w]} rows, "
                               f"{self.receiver.received.get(w, 0)} arrived)" for w in silent)
            return (f"only {len(self.receiver.done)} of {self.workers} workers reported their samples"
                    + (f"; lost: {detail}" if detail else ""))
        missing = self.receiver.missing()
        if missing:
            return "samples lost in transit from workers: " + ", ".join(f"{w}: {n} rows" for w, n in missing.items())
        return ""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.runner.quit()  # idempotent; on an error path it stops the workers' users too
        for p in self._procs:
            if p.poll() is None:
                p.terminate()
        for p in self._procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._scope.__exit__(None, None, None)


def run_worker(scenario: Scenario, master: str, stream: int, streams: int, parent_pid: int | None,
               max_seconds: float | None, say: Callable[[str], None], seed: int = 0) -> int:
    """Be a Locust worker of ``master`` (HOST:PORT) until it says stop; returns the process exit code."""
    host, _, port = master.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--master: expected HOST:PORT, got {master!r}")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the master decides when to stop
    env, schedule = build_environment(scenario, stream=stream, streams=streams, seed=seed)
    env.shape_class = None
    redactor = Redactor.from_environment(os.environ, scenario.secrets)
    guard = Guard(AllowList.of(scenario.target.allowed_hosts), scenario.timeout,
                  user_timeouts(scenario, list(env.user_classes)))
    if schedule is not None:
        def begin(environment: Any, msg: Any, **_: Any) -> None:
            schedule.seed = int(msg.data.get("seed", schedule.seed))
            schedule.begin(float(msg.data["start"]))
    started = time.monotonic()
    holder: list = []

    def watchdog() -> None:  # load must stop when its master is gone: no orphaned load
        while True:
            gevent.sleep(0.5)
            if parent_pid and os.getppid() != parent_pid:
                say("loadkit worker: master process gone, quitting")
                break
            if max_seconds and time.monotonic() - started > max_seconds:
                say(f"loadkit worker: --max-seconds {max_seconds:g} reached, quitting")
                break
        if holder:  # try a clean goodbye, but a dead master never answers: bounded
            gevent.spawn(holder[0].quit).join(timeout=3)
        os._exit(3)

    with activated(guard):
        gevent.spawn(watchdog)
        runner = env.create_worker_runner(host, int(port))
        holder.append(runner)
        if schedule is not None:
            runner.register_message(BEGIN, begin)
        shipper = WorkerShipper(env, guard, redactor)
        monitor = HealthMonitor(runner.client_id, lambda: runner.user_count, lambda: len(guard.inflight),
                                lambda row: setattr(shipper, "health", row))
        monitor.start()
        fire_init(env)
        gevent.signal_handler(signal.SIGTERM, runner.quit)
        runner.greenlet.join()
    return 0
