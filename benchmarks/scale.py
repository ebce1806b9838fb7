"""How far distributed loadkit goes: the master's ingest ceiling, and the scale-out ratio against bare Locust.

**(a) Ingest ceiling.** Every request a worker makes reaches the master: once a second each worker
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

**(b) Scale-out.** ``loadkit run --workers 2`` against bare ``locust --processes 2 --headless``: the same
FastHttpUser load (N users, no wait, one ``GET`` of a small static file), the same duration, the same
target, alternating bare/loadkit pairs; medians, spreads and per-pair ratios. The target is nginx from
Debian (``apt-get install -y nginx-light``; one worker process, config in a 0755 temporary folder), or
loadkit's stand-in when nginx is not installed. Before any ratio is trusted, a direct check must get
``200`` and the file, and every bare run must end with zero failures.

On this machine (2 shared cores) both parts together take under 3 minutes with the defaults.

Usage: ``python benchmarks/scale.py [--ingest-seconds S] [--duration S] [--pairs N] [--users N]``
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
from overhead import Run, _free_port, _pin, machine, print_table, run_measured, wait_for_quiet

ROW_SIZES = (1_000, 3_500, 10_000)  # rows per message: workers of 1 k, 3.5 k (this VM's bare rate), 10 k req/s
SENDERS = 4  # workers played by the sender process
STATIC = b"<!doctype html><title>ok</title><p>loadkit scale benchmark</p>\n"


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


# -- (b) the target ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    name: str
    url: str
    path: str
    process: psutil.Process


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {d}/www;
        location / {{ }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(lifetime: float) -> Iterator[Target]:
    """nginx serving one small static file from a 0755 temporary folder, config owned by whoever runs this."""
    d = Path(tempfile.mkdtemp(prefix="loadkit-nginx-"))
    d.chmod(0o755)
    (d / "www").mkdir(mode=0o755)
    (d / "www" / "index.html").write_bytes(STATIC)
    port = _free_port()
    (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, port=port))
    # `timeout` bounds its life even if this script is killed
    proc = subprocess.Popen(["timeout", f"{lifetime:.0f}", shutil.which("nginx") or "nginx", "-p", str(d),
                             "-c", str(d / "nginx.conf")], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc)
        yield Target("nginx " + _nginx_version(), f"http://127.0.0.1:{port}", "/index.html", psutil.Process(proc.pid))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def _nginx_version() -> str:
    out = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return out.rpartition("/")[2] or "?"


def _wait_listening(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with code {proc.returncode}: {proc.stderr.read().decode()[-300:]}")
        with contextlib.suppress(OSError), contextlib.closing(http.client.HTTPConnection("127.0.0.1", port, timeout=1)) as c:
            c.request("GET", "/")
            c.getresponse().read()
            return
        time.sleep(0.05)
    raise RuntimeError("nginx did not answer within 10 s")


@contextlib.contextmanager
def standin() -> Iterator[Target]:
    from loadkit.standin import StandinConfig, start_standin

    with start_standin(StandinConfig()) as handle:
        yield Target("loadkit stand-in (nginx not installed)", handle.url, "/health", psutil.Process(handle.pid))


def check_target(t: Target, n: int = 200) -> None:
    """A direct check before any load: every answer 200 (and the file, for nginx)."""
    host, _, port = t.url.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        for _ in range(n):
            conn.request("GET", t.path)
            r = conn.getresponse()
            body = r.read()
            if r.status != 200 or (t.name.startswith("nginx") and body != STATIC):
                raise RuntimeError(f"{t.name} answered {r.status} with {body[:80]!r} to GET {t.path}")
    finally:
        conn.close()


# -- (b) the two configurations -------------------------------------------------------------------

LOCUSTFILE = textwrap.dedent("""\
    from locust import FastHttpUser, constant, task


    class Bare(FastHttpUser):
        wait_time = constant(0)

        @task
        def get(self):
            self.client.get({path!r})
""")

SCENARIO = textwrap.dedent("""\
    name: scale
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


def run_bare(work: Path, t: Target, users: int, duration: float, pair: int, processes: int) -> Run:
    d = work / f"bare-{pair}"
    d.mkdir()
    (d / "locustfile.py").write_text(LOCUSTFILE.format(path=t.path))
    cmd = [sys.executable, "-m", "locust", "-f", "locustfile.py", "--headless", "-u", str(users), "-r", str(users),
           "-t", f"{duration:g}s", "--host", t.url, "--processes", str(processes), "--only-summary",
           "--json-file", "final", "--loglevel", "WARNING"]
    m = run_measured(cmd, d, d / "log.txt", duration, None, t.process)
    requests = failures = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in json.loads((d / "final.json").read_text()):  # Locust's final statistics
            requests += int(entry["num_requests"])
            failures += int(entry["num_failures"])
    return Run(f"locust --processes {processes}", pair, requests, failures, requests / duration, m.cpu_s, m.gen_mid,
               m.target_mid, m.other_mid, m.wall_s, m.exit_code)


def run_loadkit(work: Path, t: Target, users: int, duration: float, pair: int, workers: int) -> tuple[Run, str]:
    d = work / f"loadkit-{pair}"
    d.mkdir()
    (d / "scenario.yaml").write_text(SCENARIO.format(host=t.url, path=t.path, users=users, duration=duration))
    cmd = [sys.executable, "-m", "loadkit", "run", "scenario.yaml", "--out", "out", "--quiet", "--run-id", "run",
           "--workers", str(workers)]
    m = run_measured(cmd, d, d / "log.txt", duration, None, t.process)
    requests = failures = 0
    integrity = "no manifest"
    with contextlib.suppress(FileNotFoundError):
        manifest = json.loads((d / "out" / "run" / "manifest.json").read_text())
        summary = json.loads((d / "out" / "run" / "summary.json").read_text())
        requests = int(manifest.get("samples") or 0)
        inflight = int(summary["run"]["requests"].get("inflight", 0))  # cut off by the planned end, not failed
        failures = int(summary["run"]["failures"]) - inflight
        locust_total = int((manifest.get("locust_totals") or {}).get("requests", -1))
        integrity = (f"status {manifest.get('status')}, samples {requests} "
                     + ("= Locust's total" if locust_total == requests else f"!= Locust's total {locust_total}")
                     + f", {inflight} in flight at the end")
    return (Run(f"loadkit --workers {workers}", pair, requests, failures, requests / duration, m.cpu_s, m.gen_mid,
                m.target_mid, m.other_mid, m.wall_s, m.exit_code), integrity)


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):,.0f} (min {min(values):,.0f}, max {max(values):,.0f})"


# -- main ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--ingest-seconds", type=float, default=3.0, help="measured seconds per ingest size (default 3)")
    p.add_argument("--duration", type=float, default=8.0, help="seconds of load per scale-out run (default 8)")
    p.add_argument("--pairs", type=int, default=4, help="alternating bare/loadkit pairs (default 4)")
    p.add_argument("--users", type=int, default=50, help="concurrent users over both processes (default 50)")
    p.add_argument("--processes", type=int, default=2, help="worker processes on each side (default 2)")
    p.add_argument("--skip-ingest", action="store_true")
    p.add_argument("--skip-scale", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the run folders and print where they are")
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
    if args.duration < 3 or args.pairs < 1 or args.users < 1 or args.ingest_seconds < 1:
        p.error("expected --duration >= 3, --pairs >= 1, --users >= 1, --ingest-seconds >= 1")

    began = time.monotonic()
    cpus = sorted(os.sched_getaffinity(0))
    print(machine())
    status = 0
    if not args.skip_ingest:
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

    if not args.skip_scale:
        runs: list[Run] = []
        notes: list[str] = []
        work = Path(tempfile.mkdtemp(prefix="loadkit-scale-"))
        lifetime = 60 + args.pairs * 2 * (args.duration + 60)
        source = nginx(lifetime) if shutil.which("nginx") else standin()
        with source as target:
            check_target(target)
            print(f"\n(b) scale-out against {target.name} at {target.url}{target.path}: {args.users} users, "
                  f"{args.duration:g} s per run, {args.pairs} alternating pairs, {args.processes} processes each, unpinned")
            for pair in range(1, args.pairs + 1):
                wait_for_quiet([target.process], max_wait=1)
                bare = run_bare(work, target, args.users, args.duration, pair, args.processes)
                runs.append(bare)
                wait_for_quiet([target.process], max_wait=1)
                ours, integrity = run_loadkit(work, target, args.users, args.duration, pair, args.processes)
                runs.append(ours)
                notes.append(f"  loadkit #{pair}: {integrity}, exit {ours.exit_code}")
                print(f"  pair {pair}: bare {bare.rps:,.0f}/s ({bare.failures} failed), loadkit {ours.rps:,.0f}/s "
                      f"({ours.failures} failed); others used {bare.other_cpu_mid:.2f} / {ours.other_cpu_mid:.2f} cores",
                      flush=True)
        print()
        print_table(runs)
        print("\n".join(notes))
        bare_runs = [r for r in runs if r.config.startswith("locust")]
        ours_runs = [r for r in runs if r.config.startswith("loadkit")]
        ratios = [k.rps / b.rps for b, k in zip(bare_runs, ours_runs, strict=True) if b.rps]
        print(f"\nlocust --processes {args.processes}: {spread([r.rps for r in bare_runs])} req/s")
        print(f"loadkit --workers {args.processes}:    {spread([r.rps for r in ours_runs])} req/s")
        if ratios:
            print(f"loadkit/bare per pair: {', '.join(f'{x:.3f}' for x in ratios)}; median {statistics.median(ratios):.3f}, "
                  f"ratio of medians {statistics.median(r.rps for r in ours_runs) / statistics.median(r.rps for r in bare_runs):.3f}")
        untrusted = [r for r in bare_runs if r.failures or r.exit_code or not r.requests]
        broken = [r for r, note in zip(ours_runs, notes, strict=True)
                  if r.failures or r.exit_code or not r.requests or "status complete" not in note
                  or "= Locust's total" not in note]
        if untrusted:
            print(f"UNTRUSTED: {len(untrusted)} bare run(s) failed requests or exited non-zero; no ratio holds")
            status = 1
        if broken:
            print(f"warning: {len(broken)} loadkit run(s) had failures or a non-zero exit code")
            status = 1
        if args.keep or status:
            print(f"run folders: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\ntotal {time.monotonic() - began:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
