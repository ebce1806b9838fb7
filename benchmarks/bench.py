"""What the benchmarks share: the nginx target, CPU and memory accounting, quiet waits, the machine line.

One definition each, so that overhead, scale-out and flow figures are measured the same way. The
target is nginx from Debian (``apt-get install -y nginx-light``), one worker, configured in a 0755
temporary folder (nginx's workers run as ``nobody``: a 0700 folder turns every request into a 403).
Its access log keeps one ``$msec`` stamp per request, so every tool's rate, start-up and tail are
read off the same clock and counted by the same party.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import platform
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

__all__ = ["Nginx", "Sampled", "busy_seconds", "cpu_seconds", "free_port", "machine", "nginx", "pin",
           "run_sampled", "spread", "tree_rss", "wait_for_quiet"]

STATIC = b"<html>ok</html>\n"

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format stamp '$msec $status';
    access_log {log} stamp;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {d}/www;
        location = /ok {{ return 200 "ok"; }}
        location = /fail {{ return 500 "fail"; }}
        location / {{ }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child to one CPU (None: unpinned)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def busy_seconds() -> float:
    """Non-idle CPU seconds of the whole machine, all CPUs together."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return [proc, *proc.children(recursive=True)]
    return []


def cpu_seconds(proc: psutil.Process) -> float:
    """User+system CPU seconds of a process and its live children."""
    total = 0.0
    for p in _tree(proc):
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of a process and its live children, summed (what the machine must hold for them)."""
    total = 0
    for p in _tree(proc):
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def wait_for_quiet(ours: list[psutil.Process], threshold: float = 0.15, max_wait: float = 30.0) -> float:
    """Wait (at most ``max_wait`` s) until processes other than ``ours`` use under ``threshold`` cores.

    The machine may be shared; a run started while something else is busy measures that too.
    Returns the last measured use by others, in cores.
    """
    deadline = time.monotonic() + max_wait
    while True:
        b0, o0, t0 = busy_seconds(), sum(cpu_seconds(p) for p in ours), time.perf_counter()
        time.sleep(1.0)
        b1, o1, t1 = busy_seconds(), sum(cpu_seconds(p) for p in ours), time.perf_counter()
        others = max(0.0, ((b1 - b0) - (o1 - o0)) / (t1 - t0))
        if others < threshold or time.monotonic() >= deadline:
            return others


def spread(values: list[float], fmt: str = ",.0f") -> str:
    """``median (min–max)`` of the values."""
    if not values:
        return "-"
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


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


# -- the target ------------------------------------------------------------------------------------

@dataclass
class Nginx:
    """A running nginx: its URL, its worker process and its access log of ``$msec $status`` lines."""

    url: str
    version: str
    master: psutil.Process
    log: Path

    @property
    def workers(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            return self.master.children()
        return []

    def place(self, cpus: set[int]) -> None:
        """Pin nginx's processes to these CPUs (a pinned run gives the target its own core)."""
        for p in [self.master, *self.workers]:
            with contextlib.suppress(psutil.Error):
                p.cpu_affinity(sorted(cpus))

    def mark(self) -> int:
        """Where the access log ends now: :meth:`stamps` reads what was logged after it."""
        return self.log.stat().st_size

    def stamps(self, since: int) -> list[tuple[float, int]]:
        """(time, status) of every request logged after ``since``, in log order."""
        with open(self.log, "rb") as fh:
            fh.seek(since)
            data = fh.read()
        out = []
        for line in data.splitlines():
            t, _, status = line.partition(b" ")
            out.append((float(t), int(status)))
        return out

    def check(self, path: str, status: int, n: int = 200) -> None:
        """A direct check before any load: ``n`` answers to GET ``path``, every one with ``status``."""
        port = int(self.url.rpartition(":")[2])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            for _ in range(n):
                conn.request("GET", path)
                r = conn.getresponse()
                body = r.read()
                if r.status != status:
                    raise RuntimeError(f"nginx answered {r.status} with {body[:80]!r} to GET {path}, not {status}")
        finally:
            conn.close()


@contextlib.contextmanager
def nginx(lifetime: float) -> Iterator[Nginx]:
    """nginx on a free loopback port: ``/ok`` answers 200, ``/fail`` 500, ``/index.html`` a small file."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise SystemExit("nginx is not installed: apt-get install -y nginx-light")
    d = Path(tempfile.mkdtemp(prefix="loadkit-nginx-"))
    d.chmod(0o755)
    (d / "www").mkdir(mode=0o755)
    (d / "www" / "index.html").write_bytes(STATIC)
    log = d / "access.log"
    log.touch()
    port = free_port()
    (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, port=port, log=log))
    # `timeout` bounds its life even if the benchmark is killed
    proc = subprocess.Popen(["timeout", f"{lifetime:.0f}", binary, "-p", str(d), "-c", str(d / "nginx.conf")],
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc)
        version = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip().rpartition("/")[2]
        master = psutil.Process(proc.pid).children()[0]  # the child of `timeout`
        yield Nginx(f"http://127.0.0.1:{port}", version, master, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def _wait_listening(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with code {proc.returncode}: {proc.stderr.read().decode()[-300:]}")
        with contextlib.suppress(OSError), contextlib.closing(http.client.HTTPConnection("127.0.0.1", port, timeout=1)) as c:
            c.request("GET", "/ok")
            c.getresponse().read()
            return
        time.sleep(0.05)
    raise RuntimeError("nginx did not answer within 10 s")


# -- one measured process --------------------------------------------------------------------------

@dataclass
class Sampled:
    """What a run of one command cost, sampled every ``interval`` s from start to exit."""

    spawned: float  # time.time() when the command was started
    exited: float   # time.time() when it had exited
    exit_code: int
    cpu_s: float    # CPU seconds of the whole process tree, start to exit (getrusage of waited children)
    samples: list[tuple[float, float, int, float]] = field(default_factory=list)  # (time, tree CPU s, tree RSS, busy s)

    @property
    def peak_rss(self) -> int:
        """The largest tree RSS sampled, start to exit (ru_maxrss of children never resets between runs)."""
        return max((s[2] for s in self.samples), default=0)

    def between(self, a: float, b: float) -> tuple[float, float, int]:
        """(tree CPU seconds, machine busy seconds, max tree RSS) over the samples inside [a, b]."""
        inside = [s for s in self.samples if a <= s[0] <= b]
        if len(inside) < 2:
            return float("nan"), float("nan"), 0
        return inside[-1][1] - inside[0][1], inside[-1][3] - inside[0][3], max(s[2] for s in inside)

    def span(self, a: float, b: float) -> float:
        inside = [s[0] for s in self.samples if a <= s[0] <= b]
        return inside[-1] - inside[0] if len(inside) >= 2 else float("nan")


def run_sampled(cmd: list[str], cwd: Path, log: Path, timeout: float, cpu: int | None = None,
                interval: float = 0.25) -> Sampled:
    """Run ``cmd`` to its end, sampling its process tree's CPU and RSS (and the machine's busy time)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    spawned = time.time()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=pin(cpu))
    ps = psutil.Process(proc.pid)
    samples: list[tuple[float, float, int, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            samples.append((time.time(), cpu_seconds(ps), tree_rss(ps), busy_seconds()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    exited = time.time()
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sampled(spawned, exited, code, cpu_s, samples)
