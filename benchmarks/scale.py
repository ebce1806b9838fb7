"""How far distributed loadkit goes: the master's ingest ceiling.

Every request a worker makes reaches the master: once a second each worker
ships its new rows as one zstd-compressed Arrow IPC message (``loadkit_rows``) and a tick
(``loadkit_tick``). Here the real master (``MasterEngine``: Locust's ``MasterRunner``, loadkit's
``MasterReceiver``, and the ``PartWriter`` that writes Parquet parts, as in a run) is pinned to one
CPU, and sender processes on the other CPU play K workers: each a ZeroMQ DEALER socket with a worker's
identity, sending the very bytes a worker sends (``Message(...).serialize()`` of a batch made by the
real ``SampleBuffer`` and ``encode``) as fast as the master takes them. What the master absorbs per
second, and the fraction of its core it uses meanwhile, is the ceiling; ``rows / 10,000`` is the
number of workers of 10 k requests/s one master core takes. The master's receive queue is bounded
(RCVHWM 16 messages per worker instead of ZeroMQ's 1000) so a backlog cannot eat memory; the
per-message cost is unchanged.

The scale-out ratio (``loadkit run --workers 2`` against ``locust --processes 2``) is measured with the
other overhead rows: ``python benchmarks/overhead.py --only workers``.

Usage: ``python benchmarks/scale.py [--ingest-seconds S]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from bench import free_port as _free_port
from bench import machine, wait_for_quiet
from bench import pin as _pin

ROW_SIZES = (1_000, 3_500, 10_000)  # rows per message: workers of 1 k, 3.5 k (this VM's bare rate), 10 k req/s
SENDERS = 4  # workers played by the sender process


# -- (a) the master's ingest ceiling ----------------------------------------------------------------

INGEST_SCENARIO = textwrap.dedent("""\
    name: ingest
    target: {host: "http://127.0.0.1:9", allowed_hosts: [127.0.0.1]}
    users:
      - name: u
        requests: [{name: root, path: /}]
    load: {users: 1, duration: 10s}
""")


def ingest_master(port: int, workers: int, warmup: float, seconds: float, work: Path) -> None:
    """The master side, in its own process: report rows/s absorbed and CPU used, as JSON on stdout."""
    import gevent
    import locust  # noqa: F401  (gevent's monkey patching first, as in every Locust process)
    import pyarrow.parquet as pq
    import zmq.green as zmq

    from loadkit.run.capture import PartWriter
    from loadkit.run.runner import _in_thread
    from loadkit.run.workers import MasterEngine
    from loadkit.scenario import load_scenario

    (work / "scenario.yaml").write_text(INGEST_SCENARIO)
    scenario = load_scenario(str(work / "scenario.yaml"))
    writer = PartWriter(work, 50_000, run_in=_in_thread)  # as LoadRun writes what workers ship
    engine = MasterEngine(scenario, writer.add, 0, work, seed=0, remote=workers, bind=f"127.0.0.1:{port}")
    engine.runner.server.socket.setsockopt(zmq.RCVHWM, 16)
    me = psutil.Process()

    def cpu() -> float:
        t = me.cpu_times()
        return t.user + t.system

    def received() -> int:
        return sum(engine.receiver.received.values())

    sizes: dict[int, int] = {}

    def on_disk() -> int:
        """Rows in the parts whose write has finished (a backlog of writes must not pass for ingest)."""
        for i, (path, w) in enumerate(zip(writer.parts, list(writer._waits), strict=False)):  # a flush may be midway
            if i not in sizes and w.result.ready():
                sizes[i] = pq.read_metadata(path).num_rows
        return sum(sizes.values())

    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while not received() and time.monotonic() < deadline:
        gevent.sleep(0.05)
    gevent.sleep(warmup)
    r0, d0, c0, t0 = received(), on_disk(), cpu(), time.perf_counter()
    gevent.sleep(seconds)
    r1, d1, c1, t1 = received(), on_disk(), cpu(), time.perf_counter()
    writer.flush()
    writer.wait()
    print(json.dumps({"received_per_s": (r1 - r0) / (t1 - t0), "written_per_s": (d1 - d0) / (t1 - t0),
                      "cores": (c1 - c0) / (t1 - t0), "rows": r1, "written": writer.rows,
                      "workers": len(engine.receiver.received)}), flush=True)
    engine.close()


def _second(node: str, rows: int) -> tuple[bytes, bytes, bytes, bytes]:
    """One second of a worker at ``rows`` requests/s, as the bytes it sends: its rows (recorded by the real
    SampleBuffer, encoded as a worker encodes them), its tick, its heartbeat, and Locust's statistics report
    (sent every 3 s), made by Locust's own listeners from the same requests."""
    import locust
    import numpy as np
    from locust.event import Events
    from locust.rpc.protocol import Message
    from locust.stats import RequestStats, setup_distributed_stats_event_listeners

    from loadkit.run.capture import SampleBuffer
    from loadkit.run.workers import ROWS, TICK, encode

    class _Response:
        def __init__(self, status: int):
            self.status_code = status

    rng = np.random.default_rng(7)
    names = ["faq-search", "ticket-get", "ticket-create", "agent-queue"]
    buf, stats, events = SampleBuffer(worker=node), RequestStats(), Events()
    setup_distributed_stats_event_listeners(events, stats)
    now = time.time()
    for i, lat in enumerate(rng.lognormal(np.log(12.0), 0.6, rows)):
        name, method = names[i % 4], "POST" if i % 4 == 2 else "GET"
        err = RuntimeError("500 Server Error: INTERNAL SERVER ERROR for url: /tickets") if i % 100 == 99 else None
        buf.on_request(method, name, float(lat), 180 + i % 50, response=_Response(500 if err else 200),
                       exception=err, start_time=now + i / rows)
        stats.log_request(method, name, float(lat), 180 + i % 50)
        if err is not None:
            stats.log_error(method, name, err)
    report: dict = {}
    events.report_to_master.fire(client_id=node, data=report)
    report.update(user_count=25, user_classes_count={"customer": 25})
    tick = {"health": [now, node, 0.6, 0.002, 0.0, 0.1, 25, 25, 0.0], "inflight": [0.01] * 25, "produced": rows}
    beat = {"state": "ready", "current_cpu_usage": 60.0, "current_memory_usage": 120_000_000}
    assert locust.__version__
    return (Message(ROWS, {"seq": 1, "rows": rows, "ipc": encode(buf.take())}, node).serialize(),
            Message(TICK, tick, node).serialize(), Message("heartbeat", beat, node).serialize(),
            Message("stats", report, node).serialize())


def ingest_send(port: int, workers: int, rows: int, seconds: float) -> None:
    """The senders: ``workers`` DEALER sockets, each joining the master as a Locust worker does (client_ready,
    ack), then sending worker-seconds without pause: rows, tick and heartbeat, and every third one Locust's
    statistics report."""
    import locust
    import zmq
    from locust.rpc.protocol import Message

    ctx = zmq.Context()
    socks, seconds_of = [], []
    for w in range(workers):
        node = f"bench_{w}_{os.getpid()}"
        seconds_of.append(_second(node, rows))
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.IDENTITY, node.encode())
        s.setsockopt(zmq.SNDHWM, 4)
        s.setsockopt(zmq.SNDTIMEO, 500)
        s.setsockopt(zmq.RCVTIMEO, 5000)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(f"tcp://127.0.0.1:{port}")
        s.send(Message("client_ready", locust.__version__, node).serialize())
        if Message.unserialize(s.recv()).type != "ack":
            raise RuntimeError("the master did not acknowledge a worker")
        socks.append(s)
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for s, (rows_msg, tick, beat, report) in zip(socks, seconds_of, strict=True):
            with contextlib.suppress(zmq.Again):  # the master is full: try again (that is the point)
                s.send(rows_msg)
                s.send(tick)
                s.send(beat)
                if sent % (3 * workers) < workers:
                    s.send(report)
                sent += 1
            with contextlib.suppress(zmq.Again):  # the master's heartbeat replies
                while True:
                    s.recv(zmq.NOBLOCK)
    print(json.dumps({"messages": sent, "bytes_per_message": len(seconds_of[0][0]),
                      "bytes_per_second": sum(map(len, seconds_of[0][:3])) + len(seconds_of[0][3]) / 3}), flush=True)
    for s in socks:
        s.close()
    ctx.term()


@dataclass
class Ingest:
    rows_per_message: int
    received_per_s: float
    written_per_s: float
    cores: float
    bytes_per_second: float  # what one worker-second puts on the wire
    sent: int
    received: int
    written: int

    @property
    def rows_per_s(self) -> float:
        """Sustained: received and on disk (the slower of the two)."""
        return min(self.received_per_s, self.written_per_s)

    @property
    def per_core(self) -> float:
        return self.rows_per_s / self.cores if self.cores else float("nan")


def measure_ingest(rows: int, warmup: float, seconds: float, master_cpu: int | None, sender_cpu: int | None) -> Ingest:
    port = _free_port()
    work = Path(tempfile.mkdtemp(prefix="loadkit-ingest-"))
    me = [sys.executable, __file__]
    master = subprocess.Popen(me + ["--ingest-master", str(port), "--ingest-work", str(work),
                                    "--ingest-warmup", str(warmup), "--ingest-seconds", str(seconds)],
                              stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, preexec_fn=_pin(master_cpu), text=True)
    try:
        assert master.stdout is not None
        if master.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the ingest master did not start (exit code {master.poll()})")
        sender = subprocess.run(me + ["--ingest-send", str(port), "--ingest-rows", str(rows),
                                      "--ingest-seconds", str(warmup + seconds + 1.5)],
                                capture_output=True, text=True, preexec_fn=_pin(sender_cpu), timeout=warmup + seconds + 60)
        out, _ = master.communicate(timeout=60)
    finally:
        if master.poll() is None:
            master.kill()
            master.wait()
        shutil.rmtree(work, ignore_errors=True)
    m = json.loads(out.strip().splitlines()[-1])
    s = json.loads(sender.stdout.strip().splitlines()[-1])
    if m["workers"] != SENDERS:
        raise RuntimeError(f"rows arrived from {m['workers']} of {SENDERS} senders")
    return Ingest(rows, m["received_per_s"], m["written_per_s"], m["cores"], s["bytes_per_second"], s["messages"] * rows, m["rows"],
                  m["written"])


def print_ingest(results: list[Ingest]) -> None:
    head = (f"{'rows/message':>12} {'KiB/worker-s':>12} {'received/s':>11} {'on disk/s':>11} {'master cores':>12} "
            f"{'rows/s per core':>15} {'= workers of 10k/s':>18}")
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r.rows_per_message:>12} {r.bytes_per_second / 1024:>12.0f} {r.received_per_s:>11,.0f} "
              f"{r.written_per_s:>11,.0f} {r.cores:>12.2f} {r.per_core:>15,.0f} {r.per_core / 10_000:>18.1f}")


# -- main ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--ingest-seconds", type=float, default=3.0, help="measured seconds per ingest size (default 3)")
    p.add_argument("--ingest-master", type=int, help=argparse.SUPPRESS)
    p.add_argument("--ingest-send", type=int, help=argparse.SUPPRESS)
    p.add_argument("--ingest-rows", type=int, default=10_000, help=argparse.SUPPRESS)
    p.add_argument("--ingest-warmup", type=float, default=1.5, help=argparse.SUPPRESS)
    p.add_argument("--ingest-work", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.ingest_master:
        ingest_master(args.ingest_master, SENDERS, args.ingest_warmup, args.ingest_seconds, args.ingest_work)
        return 0
    if args.ingest_send:
        ingest_send(args.ingest_send, SENDERS, args.ingest_rows, args.ingest_seconds)
        return 0
    if args.ingest_seconds < 1:
        p.error("expected --ingest-seconds >= 1")

    began = time.monotonic()
    cpus = sorted(os.sched_getaffinity(0))
    print(machine())
    status = 0
    master_cpu, sender_cpu = (cpus[0], cpus[-1]) if len(cpus) >= 2 else (None, None)
    print(f"\n(a) master ingest: the real MasterEngine on CPU {master_cpu}, {SENDERS} workers' messages "
          f"sent from CPU {sender_cpu}, {args.ingest_seconds:g} s measured per size")
    results = []
    for rows in ROW_SIZES:
        wait_for_quiet([], max_wait=1)
        r = measure_ingest(rows, 1.5, args.ingest_seconds, master_cpu, sender_cpu)
        results.append(r)
        if r.written < r.received - 50_000:  # at most one unflushed chunk may remain
            print(f"  warning: {r.received} rows received but {r.written} written")
    print_ingest(results)
    best = max(results, key=lambda r: r.rows_per_message)
    print(f"one master core absorbs about {best.per_core:,.0f} samples/s from workers of 10 k requests/s: "
          f"{best.per_core / 10_000:.1f} such workers ({best.cores:.2f} cores used)")

    print(f"\ntotal {time.monotonic() - began:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
