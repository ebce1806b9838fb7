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
from locust.runners import STATE_MISSING

from ..errors import ConfigError
from ..hosts import AllowList
from ..redact import Redactor
from ..runfolder import SCHEMA
from ..scenario.model import Scenario
from .capture import SampleBuffer, attach_recorder
from .engine import SPAWN_TIMEOUT_S, build_environment, fire_init, listener_scope
from .exceptions import ExceptionLog
from .guard import Guard, activated
from .health import HealthMonitor, Ours
from .heap import steady_heap
from .users import Share, user_timeouts

__all__ = ["WorkerShipper", "MasterReceiver", "MasterEngine", "run_worker", "encode", "decode"]

ROWS, TICK, DONE, BEGIN = "loadkit_rows", "loadkit_tick", "loadkit_done", "loadkit_begin"
HELLO, ASSIGN, REFUSE, END = "loadkit_hello", "loadkit_assign", "loadkit_refuse", "loadkit_end"
DEFAULT_PORT = 5557  # Locust's own master port


def _bind(bind: str | None, remote: int) -> tuple[str, int]:
    """ADDR:PORT the master listens on: loopback and a free port for local workers only, else as asked
    (by default every interface on Locust's port, since remote workers must reach it)."""
    if bind is None:
        return ("0.0.0.0", DEFAULT_PORT) if remote else ("127.0.0.1", _free_port())
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--master-bind: expected ADDR:PORT such as 0.0.0.0:5557, got {bind!r}")
    return host.strip("[]"), int(port)


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


def _source_address(host: str, port: int) -> str:
    """The address this host uses to reach the master (what an operator knows the machine by)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, port))  # UDP: no packet is sent
            return str(s.getsockname()[0])
    except OSError:
        return socket.gethostname()


def identity(scenario: Scenario) -> dict[str, str]:
    """What master and workers must share to run the same load: the scenario (content and ``--set``), versions."""
    import hashlib

    from .. import __version__

    text = scenario.content_hash + "\n" + "\n".join(sorted(scenario.overrides))
    return {"scenario": hashlib.sha256(text.encode()).hexdigest(), "loadkit": __version__, "locust": locust.__version__}


def mismatch(mine: dict[str, str], theirs: dict) -> str:
    """Why a worker's identity differs from the master's, or ""."""
    for key, what in (("scenario", "scenario (content and --set)"), ("loadkit", "loadkit version"),
                      ("locust", "Locust version")):
        if str(theirs.get(key)) != mine[key]:
            return f"its {what} is {str(theirs.get(key))[:16]}, the master's {mine[key][:16]}"
    return ""


class MasterEngine:
    """The load generated by Locust workers: ``local`` processes started here and ``remote`` ones that connect
    from anywhere to ``bind`` (ADDR:PORT). Each worker proves it runs the same scenario and versions before
    it is given its share (index and count) and the run's seed."""

    def __init__(self, scenario: Scenario, on_batch: Callable[[pa.RecordBatch], None], workers: int,
                 log_dir: Path, seed: int, start_timeout: float = 60.0, clock: Callable[[], float] = time.time,
                 on_health: Callable[[tuple], None] | None = None, remote: int = 0, bind: str | None = None):
        self.scenario, self.local, self.remote, self.log_dir, self.seed = scenario, workers, remote, log_dir, seed
        self.workers = workers + remote
        self.start_timeout, self.clock = start_timeout, clock
        host, port = _bind(bind, remote)
        self._scope = listener_scope(locust.events)
        self._scope.__enter__()
        self.env, _ = build_environment(scenario, seed=seed)
        try:
            self.runner = self.env.create_master_runner(host, port)
        except Exception as exc:
            self._scope.__exit__(None, None, None)
            raise ConfigError(f"--master-bind {host}:{port}: cannot listen there ({exc})") from None
        self.address = f"{host}:{self.runner.master_bind_port}"
        self.receiver = MasterReceiver(self.env, on_batch, on_health)
        self.exceptions = self.receiver.exceptions
        self.identity = identity(scenario)
        self.accepted: dict[str, int] = {}  # worker id -> its index
        self.refused: dict[str, str] = {}
        self.places: dict[str, str] = {}  # worker id -> "address, pid"
        self.runner.register_message(HELLO, self._on_hello)
        fire_init(self.env)
        self._procs: list[subprocess.Popen] = []
        self._closed = False

    def _on_hello(self, environment: Any, msg: Any, **_: Any) -> None:
        why = mismatch(self.identity, msg.data or {})
        if not why and len(self.accepted) >= self.workers and msg.node_id not in self.accepted:
            why = f"the run already has its {self.workers} workers"
        if why:
            self.refused[msg.node_id] = why
            self.runner.send_message(REFUSE, {"reason": why}, client_id=msg.node_id)
            return
        index = self.accepted.setdefault(msg.node_id, len(self.accepted))
        data = msg.data or {}
        self.places[msg.node_id] = f"{data.get('address', '?')}, pid {data.get('pid', '?')}"
        self.runner.send_message(ASSIGN, {"index": index, "count": self.workers, "seed": self.seed},
                                 client_id=msg.node_id)

    def worker_name(self, node: str) -> str:
        """``worker 2 (10.200.2.2, pid 4242)``: which machine to look at."""
        where = self.places.get(node, node)
        return f"worker {self.accepted[node] + 1} ({where})" if node in self.accepted else where

    def prepare(self) -> str:
        """Start the local workers and wait until every worker, local and remote, has joined; why not, or ""."""
        s = self.scenario
        master = self.address.replace("0.0.0.0", "127.0.0.1")
        cmd = [sys.executable, "-m", "loadkit", "worker", s.file, "--master", master, "--host", s.target.host]
        for item in s.overrides:
            cmd += ["--set", item]
        deadline_s = s.load.duration + 120  # a worker never outlives its run by much
        for i in range(self.local):
            log_file = open(self.log_dir / f"worker-{i}.log", "wb")  # noqa: SIM115 (kept open by the child)
            argv = cmd + ["--parent-pid", str(os.getpid()), "--max-seconds", f"{deadline_s:g}"]
            self._procs.append(subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL))
            log_file.close()
        deadline = self.clock() + self.start_timeout
        # every worker joined and accepted, and every refused one gone (it must get no users)
        while len(self.accepted) < self.workers or self.runner.worker_count > len(self.accepted):
            dead = [p for p in self._procs if p.poll() is not None]
            if dead:
                return (f"a worker exited with code {dead[0].returncode} before the test started; "
                        f"see {self.log_dir}/worker-*.log")
            if self.clock() > deadline:
                refused = "; ".join(f"{n} refused: {why}" for n, why in self.refused.items())
                return (f"only {len(self.accepted)} of {self.workers} workers joined within {self.start_timeout:g}s "
                        f"(master at {self.address})" + (f"; {refused}" if refused else "")
                        + (f"; see {self.log_dir}/worker-*.log" if self.local else ""))
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
        """Wait for every worker's final rows, then quit them; the reason rows are missing, if any.

        Not Locust's own ``stop``: with it a worker leaves the master's list until it is ready again,
        so its last statistics are discarded and ``quit`` never reaches it. Here each worker stops its
        users, ships its last rows and statistics, and stays until the master's ``quit``.
        """
        self.runner.stop(send_stop_to_client=False)
        for node in self._present():
            self.runner.send_message(END, None, client_id=node)
        deadline = self.clock() + self.env.stop_timeout + 15.0
        while self.clock() < deadline and any(n not in self.receiver.done for n in self._present()):
            gevent.sleep(0.1)
        sent = sum(self.receiver.done.values())  # a worker's final statistics follow its last rows: wait for them
        while self.env.stats.total.num_requests < sent and self.clock() < deadline:
            gevent.sleep(0.05)
        self.runner.quit()
        if len(self.receiver.done) < self.workers:
            silent = [w for w in self.accepted if w not in self.receiver.done]
            detail = ", ".join(f"{self.worker_name(w)}: {self.receiver.received.get(w, 0)} rows arrived of at least "
                               f"{max(self.receiver.produced.get(w, 0), self.receiver.received.get(w, 0))} it produced"
                               for w in silent)
            return (f"lost {len(silent)} of {self.workers} workers during the run"
                    + (f" ({detail}); their samples are incomplete" if detail else ""))
        missing = self.receiver.missing()
        if missing:
            return "samples lost in transit from workers: " + ", ".join(
                f"{self.worker_name(w)}: {n} rows" for w, n in missing.items())
        return ""

    def members(self) -> list[dict]:
        return [{"worker": i + 1, "id": node, "at": self.places.get(node, "?"),
                 "rows": self.receiver.received.get(node, 0), "refused": False}
                for node, i in sorted(self.accepted.items(), key=lambda kv: kv[1])] + [
                {"id": node, "refused": True, "reason": why} for node, why in self.refused.items()]

    def _present(self) -> list[str]:
        clients = self.runner.clients
        return [n for n in self.accepted if (w := clients.get(n)) is not None and w.state != STATE_MISSING]

    def trouble(self) -> str:
        """A worker that left or fell silent mid-run: Locust would hand its users to the others, and the
        load would no longer be the one planned, so the run stops with the worker's name."""
        clients = self.runner.clients
        for node in self.accepted:
            worker = clients.get(node)
            if worker is None or worker.state == STATE_MISSING:
                dead = next((p.returncode for p in self._procs if p.poll() is not None), None)
                return (f"lost {self.worker_name(node)} during the run ("
                        + ("it stopped answering heartbeats" if worker is not None else "it disconnected")
                        + (f"; a local worker exited with code {dead}" if dead is not None else "")
                        + f"); {self.receiver.received.get(node, 0)} of its rows had arrived")
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


def run_worker(scenario: Scenario, master: str, parent_pid: int | None, max_seconds: float | None,
               say: Callable[[str], None]) -> int:
    """Be a Locust worker of ``master`` (HOST:PORT) until it says stop; returns the process exit code.

    The worker introduces itself (scenario and versions) and waits for the master to give it its share
    of the data and of the schedule, or to refuse it with the reason (exit 2).
    """
    host, _, port = master.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--master: expected HOST:PORT, got {master!r}")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the master decides when to stop
    share = Share()  # the master assigns it
    env, schedule = build_environment(scenario, share=share)
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

    refusal: list[str] = []

    def assign(environment: Any, msg: Any, **_: Any) -> None:
        share.set(int(msg.data["index"]), int(msg.data["count"]))
        if schedule is not None:
            schedule.place(share.index, share.count, int(msg.data["seed"]))
        say(f"loadkit worker: joined as {share.index + 1} of {share.count}")

    def end(environment: Any, msg: Any, **_: Any) -> None:
        holder[0].stop()  # users finish the request in hand; test_stop ships the last rows
        holder[0]._send_stats()  # Locust's own final report (as on its "quit"), so totals match the rows

    def refuse(environment: Any, msg: Any, **_: Any) -> None:
        refusal.append(str(msg.data.get("reason", "")))
        say(f"loadkit worker: the master refused this worker: {refusal[-1]}")
        gevent.spawn(holder[0].quit)

    with activated(guard):
        gevent.spawn(watchdog)
        runner = env.create_worker_runner(host, int(port))
        holder.append(runner)
        runner.register_message(ASSIGN, assign)
        runner.register_message(REFUSE, refuse)
        runner.register_message(END, end, concurrent=True)
        if schedule is not None:
            runner.register_message(BEGIN, begin)
        runner.send_message(HELLO, {**identity(scenario), "address": _source_address(host, int(port)),
                                    "pid": os.getpid()})
        shipper = WorkerShipper(env, guard, redactor)
        targets = [int(m.options["pid"]) for m in scenario.metrics
                   if m.source == "process" and isinstance(m.options.get("pid"), int)]
        monitor = HealthMonitor(runner.client_id, lambda: runner.user_count, lambda: len(guard.inflight),
                                lambda row: setattr(shipper, "health", row),
                                ours=Ours(parent_pid or os.getpid(), targets))
        monitor.start()
        fire_init(env)
        gevent.signal_handler(signal.SIGTERM, runner.quit)
        with steady_heap():
            runner.greenlet.join()
    return 2 if refusal else 0
