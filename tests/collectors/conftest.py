"""Fixtures of the collector tests: a real pre-fork server, and CPU times as /proc has them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from helpers import SUPPORT, free_port


@pytest.fixture(scope="session")
def gunicorn_target(tmp_path_factory) -> Iterator[tuple[str, int]]:
    """Real gunicorn, 2 sync workers, serving tests/support/cpu_wsgi.py (4 ms of CPU per request)."""
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
                                 "--chdir", str(SUPPORT), "cpu_wsgi:app"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 20
        while len(psutil.Process(proc.pid).children()) < 2 or not _accepts(port):
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"gunicorn did not start: {log.read_text()[-800:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _proc_cpu(pids: list[int]) -> dict[int, float]:
    """utime + stime of each process, in seconds, from /proc/<pid>/stat (fields 14 and 15)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


@pytest.fixture
def proc_cpu() -> Callable[[list[int]], dict[int, float]]:
    """CPU seconds per process read from /proc, independently of psutil and the collectors."""
    return _proc_cpu
