# isort: off
import locust  # noqa: F401  (gevent monkey patching first, as in every Locust process)
# isort: on

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from loadkit.standin import StandinConfig, start_standin

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def standin():
    """The bundled stand-in, no knobs: a fast, healthy target."""
    with start_standin(StandinConfig()) as handle:
        yield handle


@pytest.fixture(scope="session")
def fixed_latency_url():
    """A target that answers every request after exactly 50 ms (tests/fixed_latency_server.py)."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fixed_latency_server.py")), "0.05"],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def only_run(out: Path) -> Path:
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def read(run: Path, name: str):
    return json.loads((run / name).read_text())
