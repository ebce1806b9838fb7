"""loadkit's overhead against bare Locust, measured side by side on the same machine and target.

What it measures: the same load (N FastHttpUsers, no wait, one ``GET /``, same duration) run by

* **bare**: ``locust -f LOCUSTFILE --headless ...`` (counts from Locust's own CSV), and
* **loadkit**: ``loadkit run SCENARIO --quiet`` (counts from the run folder; every request is
  captured to Parquet),

each as a subprocess, alternating bare/loadkit/bare/loadkit... for ``--repeats`` rounds. For every
run it records requests, requests per second, the CPU seconds the load-generator process tree
used (exact: ``getrusage(RUSAGE_CHILDREN)`` deltas around the subprocess, so interpreter start,
imports and loadkit's post-run Parquet merge and summary are included), CPU microseconds per
request, the generator's and the target's CPU use in the middle of the run, and wall time.

Why ratios side by side, not absolute numbers: absolute throughput depends on the machine,
the kernel, the CPU frequency of the moment and noisy neighbours, none of which loadkit
controls. Running both configurations against one target, alternately, in the same minutes,
makes those factors cancel in the ratio loadkit/bare, which is the overhead loadkit adds.
The median over repeats damps the run-to-run noise that remains.

The target is a minimal asyncio HTTP/1.1 server started once (a fixed ``200 OK`` with
keep-alive), pinned to the last CPU while the load generators are pinned to the first, so
the target is never the bottleneck; its ceiling is measured and printed first.

Usage: ``python benchmarks/overhead.py [--duration S] [--repeats N] [--users N] [--workers 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
END = b"\r\n\r\n"
MAX_PENDING = 64 * 1024  # a client sending more than this without a complete head is cut off


# -- the target ----------------------------------------------------------------------------------

class _FixedResponse(asyncio.Protocol):
    """Answers every request head (up to the blank line) with RESPONSE; bodies are not expected."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        buf = self.pending + data if self.pending else data
        n = buf.count(END)
        if n:
            self.transport.write(RESPONSE * n)
            self.pending = buf[buf.rfind(END) + len(END):]
        else:
            self.pending = buf
        if len(self.pending) > MAX_PENDING:
            self.transport.close()


def serve(port: int, lifetime: float) -> None:
    """Run the target on 127.0.0.1:port; it exits by itself after ``lifetime`` seconds at most."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_FixedResponse, "127.0.0.1", port, backlog=1024, reuse_address=True)
        print("ready", flush=True)
        async with server:
            await asyncio.sleep(lifetime)

    asyncio.run(main())


# -- measuring the target's ceiling ----------------------------------------------------------------

class _Hammer(asyncio.Protocol):
    """One keep-alive connection sending the next request as soon as the previous answer is complete."""

    def __init__(self, counter: list[int]):
        self.counter = counter
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        while self.received >= len(RESPONSE):
            self.received -= len(RESPONSE)
            self.counter[0] += 1
            self.transport.write(REQUEST)


def hammer(port: int, connections: int, seconds: float) -> None:
    """Load the target as fast as one Python core allows for ``seconds``; print responses/s as JSON."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        counter = [0]
        transports = []
        for _ in range(connections):
            t, _p = await loop.create_connection(lambda: _Hammer(counter), "127.0.0.1", port)
            transports.append(t)
        await asyncio.sleep(0.5)  # warm up
        start, first = time.perf_counter(), counter[0]
        await asyncio.sleep(seconds)
        done, elapsed = counter[0] - first, time.perf_counter() - start
        for t in transports:
            t.close()
        print(json.dumps({"responses": done, "seconds": elapsed}), flush=True)

    asyncio.run(main())


# -- processes -------------------------------------------------------------------------------------

def _pin(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _busy_seconds() -> float:
    """Non-idle CPU seconds of the whole machine, all CPUs together."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def wait_for_quiet(ours: list[psutil.Process], threshold: float = 0.15, max_wait: float = 30.0) -> float:
    """Wait (at most ``max_wait`` s) until processes other than ``ours`` use under ``threshold`` cores.

    The machine may be shared; a run started while something else is busy measures that too.
    Returns the last measured use by others, in cores.
    """
    deadline = time.monotonic() + max_wait
    while True:
        b0, o0, t0 = _busy_seconds(), sum(_cpu_seconds(p) for p in ours), time.perf_counter()
        time.sleep(1.0)
        b1, o1, t1 = _busy_seconds(), sum(_cpu_seconds(p) for p in ours), time.perf_counter()
        others = max(0.0, ((b1 - b0) - (o1 - o0)) / (t1 - t0))
        if others < threshold or time.monotonic() >= deadline:
            return others


def _cpu_seconds(proc: psutil.Process) -> float:
    """User+system CPU seconds of a process and its live children."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


@contextlib.contextmanager
def start_target(port: int, cpu: int | None, lifetime: float) -> Iterator[psutil.Process]:
    cmd = [sys.executable, __file__, "--serve", str(port), "--serve-lifetime", str(lifetime)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, preexec_fn=_pin(cpu))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until "ready" or the child dies (EOF)
        if line.strip() != b"ready":
            raise RuntimeError(f"the target did not start (exit code {proc.poll()})")
        yield psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure_ceiling(port: int, target: psutil.Process, cpu: int | None, seconds: float = 3.0) -> tuple[float, float]:
    """(responses/s one Python client core got, fraction of a core the target used meanwhile)."""
    cmd = [sys.executable, __file__, "--hammer", str(port), "--hammer-seconds", str(seconds)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, preexec_fn=_pin(cpu))
    time.sleep(1.5)  # connections set up and warmed up (the client warms up 0.5 s)
    c0, t0 = _cpu_seconds(target), time.perf_counter()
    time.sleep(seconds - 1.0)
    c1, t1 = _cpu_seconds(target), time.perf_counter()
    out, _ = proc.communicate(timeout=seconds + 30)
    result = json.loads(out)
    return result["responses"] / result["seconds"], (c1 - c0) / (t1 - t0)


@dataclass
class Run:
    config: str
    repeat: int
    requests: int
    failures: int
    rps: float
    cpu_s: float          # CPU seconds of the whole generator process tree, start to exit
    gen_cpu_mid: float    # generator's CPU use mid-run, in cores
    target_cpu_mid: float  # target's CPU use mid-run, in cores
    other_cpu_mid: float  # every other process's CPU use mid-run, in cores (a shared machine's noise)
    wall_s: float
    exit_code: int

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else float("nan")


@dataclass
class Measured:
    exit_code: int
    cpu_s: float
    gen_mid: float
    target_mid: float
    other_mid: float
    wall_s: float


def run_measured(cmd: list[str], cwd: Path, log: Path, duration: float, cpu: int | None,
                 target: psutil.Process) -> Measured:
    """Run ``cmd`` to the end, measuring its CPU, and mid-run the target's and everybody else's.

    CPU comes from getrusage(RUSAGE_CHILDREN) deltas, exact for the child and every descendant it
    waited for. Mid-run use is sampled with psutil over a window well inside the load phase.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t_start = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=_pin(cpu))
    ps = psutil.Process(proc.pid)
    w0, w1 = (4.0, duration - 0.5) if duration >= 8 else (duration * 0.4, duration * 0.9)
    gen_mid = tgt_mid = other_mid = float("nan")
    try:
        time.sleep(w0)
        g0, c0, b0, m0 = _cpu_seconds(ps), _cpu_seconds(target), _busy_seconds(), time.perf_counter()
        time.sleep(w1 - w0)
        g1, c1, b1, m1 = _cpu_seconds(ps), _cpu_seconds(target), _busy_seconds(), time.perf_counter()
        gen_mid, tgt_mid = (g1 - g0) / (m1 - m0), (c1 - c0) / (m1 - m0)
        other_mid = max(0.0, (b1 - b0) / (m1 - m0) - gen_mid - tgt_mid)
        code = proc.wait(timeout=duration + 120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = -9
    wall = time.perf_counter() - t_start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(code, cpu, gen_mid, tgt_mid, other_mid, wall)


# -- the two configurations ------------------------------------------------------------------------

LOCUSTFILE = textwrap.dedent("""\
    from locust import FastHttpUser, constant, task


    class Bare(FastHttpUser):
        wait_time = constant(0)

        @task
        def index(self):
            self.client.get("/")
""")


def scenario_yaml(host: str, users: int, duration: float) -> str:
    return textwrap.dedent(f"""\
        name: overhead
        target:
          host: {host}
          allowed_hosts: [127.0.0.1]
        users:
          - name: bare
            wait: {{constant: 0}}
            requests:
              - {{name: root, method: GET, path: /}}
        load: {{users: {users}, spawn_rate: {users}, duration: {duration:g}s}}
    """)


def run_bare(work: Path, host: str, users: int, duration: float, repeat: int, processes: int, cpu: int | None,
             target: psutil.Process) -> Run:
    d = work / f"bare-{processes}p-{repeat}"
    d.mkdir()
    (d / "locustfile.py").write_text(LOCUSTFILE)
    cmd = [sys.executable, "-m", "locust", "-f", "locustfile.py", "--headless", "-u", str(users), "-r", str(users),
           "-t", f"{duration:g}s", "--host", host, "--only-summary", "--csv", "out", "--json-file", "final", "--loglevel", "WARNING"]
    if processes > 1:
        cmd += ["--processes", str(processes)]
    m = run_measured(cmd, d, d / "log.txt", duration, cpu, target)
    # Counts from --json-file, Locust's final stats: out_stats.csv is rewritten once a second
    # and misses up to the last second of the run.
    requests = failures = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in json.loads((d / "final.json").read_text()):
            requests += int(entry["num_requests"])
            failures += int(entry["num_failures"])
    name = "bare" if processes <= 1 else f"bare --processes {processes}"
    return Run(name, repeat, requests, failures, requests / duration, m.cpu_s, m.gen_mid, m.target_mid,
               m.other_mid, m.wall_s, m.exit_code)


def run_loadkit(work: Path, host: str, users: int, duration: float, repeat: int, workers: int, cpu: int | None,
                target: psutil.Process) -> Run:
    d = work / f"loadkit-{workers}w-{repeat}"
    d.mkdir()
    (d / "scenario.yaml").write_text(scenario_yaml(host, users, duration))
    cmd = [sys.executable, "-m", "loadkit", "run", "scenario.yaml", "--host", host, "--out", "out", "--quiet",
           "--run-id", "run"]
    if workers:
        cmd += ["--workers", str(workers)]
    m = run_measured(cmd, d, d / "log.txt", duration, cpu, target)
    requests = failures = 0
    with contextlib.suppress(FileNotFoundError):
        manifest = json.loads((d / "out" / "run" / "manifest.json").read_text())
        summary = json.loads((d / "out" / "run" / "summary.json").read_text())
        requests = int(manifest.get("samples") or 0)
        failures = int(summary["run"]["failures"])
    name = "loadkit" if not workers else f"loadkit --workers {workers}"
    return Run(name, repeat, requests, failures, requests / duration, m.cpu_s, m.gen_mid, m.target_mid,
               m.other_mid, m.wall_s, m.exit_code)


# -- reporting -------------------------------------------------------------------------------------

def print_table(runs: list[Run]) -> None:
    head = (f"{'config':<22} {'rep':>3} {'requests':>9} {'fail':>5} {'RPS':>8} {'CPU s':>6} {'CPU us/req':>10} "
            f"{'gen cores':>9} {'target cores':>12} {'other cores':>11} {'wall s':>6} {'exit':>4}")
    print(head)
    print("-" * len(head))
    for r in runs:
        print(f"{r.config:<22} {r.repeat:>3} {r.requests:>9} {r.failures:>5} {r.rps:>8.0f} {r.cpu_s:>6.2f} "
              f"{r.cpu_us_per_request:>10.1f} {r.gen_cpu_mid:>9.2f} {r.target_cpu_mid:>12.2f} {r.other_cpu_mid:>11.2f} "
              f"{r.wall_s:>6.1f} "
              f"{r.exit_code:>4}")


def print_ratios(runs: list[Run], bare: str, loadkit: str, goal: float = 0.95) -> None:
    b = [r for r in runs if r.config == bare]
    k = [r for r in runs if r.config == loadkit]
    if not b or not k:
        return
    rps_b, rps_k = statistics.median(r.rps for r in b), statistics.median(r.rps for r in k)
    cpu_b = statistics.median(r.cpu_us_per_request for r in b)
    cpu_k = statistics.median(r.cpu_us_per_request for r in k)
    pairs = [kr.rps / br.rps for br, kr in zip(b, k, strict=False) if br.rps]
    ratio = rps_k / rps_b if rps_b else float("nan")
    print(f"\n{loadkit} vs {bare}:")
    print(f"  median RPS: {rps_k:.0f} vs {rps_b:.0f}  ratio {ratio:.3f}  "
          f"({'meets' if ratio >= goal else 'BELOW'} the {goal:.2f} goal)")
    print(f"  per-repeat RPS ratios: {', '.join(f'{p:.3f}' for p in pairs)}")
    print(f"  median CPU us/request: {cpu_k:.1f} vs {cpu_b:.1f}  ratio {cpu_k / cpu_b:.3f}")


def machine() -> str:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import locust

    return (f"nproc {os.cpu_count()}, CPU {model}, Python {platform.python_version()}, Locust {locust.__version__}, "
            f"{platform.system()} {platform.release()}")


# -- main ------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--duration", type=float, default=15.0, help="seconds of load per run (default 15)")
    p.add_argument("--repeats", type=int, default=3, help="bare/loadkit pairs (default 3)")
    p.add_argument("--users", type=int, default=50, help="concurrent users (default 50)")
    p.add_argument("--workers", type=int, default=0,
                   help="also compare loadkit --workers N with locust --processes N (unpinned; default: skip)")
    p.add_argument("--no-pin", action="store_true", help="do not pin the generator and the target to separate CPUs")
    p.add_argument("--keep", action="store_true", help="keep the temporary run folders and print where they are")
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--serve-lifetime", type=float, default=3600.0, help=argparse.SUPPRESS)
    p.add_argument("--hammer", type=int, help=argparse.SUPPRESS)
    p.add_argument("--hammer-seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve, args.serve_lifetime)
        return 0
    if args.hammer:
        hammer(args.hammer, 50, args.hammer_seconds)
        return 0
    if args.duration < 2 or args.repeats < 1 or args.users < 1:
        p.error("expected --duration >= 2, --repeats >= 1, --users >= 1")

    cpus = sorted(os.sched_getaffinity(0))
    pin = len(cpus) >= 2 and not args.no_pin
    gen_cpu, target_cpu = (cpus[0], cpus[-1]) if pin else (None, None)
    print(machine())
    print(f"duration {args.duration:g}s, repeats {args.repeats}, users {args.users}, "
          + (f"generator on CPU {gen_cpu}, target on CPU {target_cpu}" if pin else "unpinned"))

    port = _free_port()
    host = f"http://127.0.0.1:{port}"
    runs_per_config = args.repeats * (2 if args.workers else 1)
    lifetime = 60 + runs_per_config * 2 * (args.duration + 120)  # the target can never outlive the benchmark long
    work = Path(tempfile.mkdtemp(prefix="loadkit-overhead-"))
    runs: list[Run] = []
    with start_target(port, target_cpu, lifetime) as target:
        rate, busy = measure_ceiling(port, target, gen_cpu)
        ceiling = rate / busy if busy > 0 else float("inf")
        print(f"target: {rate:.0f} req/s from one Python client core, using {busy:.2f} of a core "
              f"-> ceiling about {ceiling:.0f} req/s on its core\n")
        plan: list[tuple[int, Callable[[], Run]]] = []
        for i in range(1, args.repeats + 1):
            plan.append((i, lambda i=i: run_bare(work, host, args.users, args.duration, i, 1, gen_cpu, target)))
            plan.append((i, lambda i=i: run_loadkit(work, host, args.users, args.duration, i, 0, gen_cpu, target)))
        if args.workers:  # unpinned: N generator processes need more than one CPU
            n = args.workers
            for i in range(1, args.repeats + 1):
                plan.append((i, lambda i=i: run_bare(work, host, args.users, args.duration, i, n, None, target)))
                plan.append((i, lambda i=i: run_loadkit(work, host, args.users, args.duration, i, n, None, target)))
        for i, fn in plan:
            others = wait_for_quiet([target])
            r = fn()
            runs.append(r)
            print(f"  {r.config} #{i}: {r.requests} requests, {r.rps:.0f}/s, {r.cpu_us_per_request:.1f} us/req "
                  f"(others used {others:.2f} cores before, {r.other_cpu_mid:.2f} during)", flush=True)
    print()
    print_table(runs)
    print_ratios(runs, "bare", "loadkit")
    if args.workers:
        print_ratios(runs, f"bare --processes {args.workers}", f"loadkit --workers {args.workers}")
    bad = [r for r in runs if r.exit_code != 0 or not r.requests]
    if bad:
        print(f"\nwarning: {len(bad)} run(s) failed or counted nothing; logs under {work}")
    if args.keep or bad:
        print(f"run folders: {work}")
    else:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
