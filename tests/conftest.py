# isort: off
import locust  # noqa: F401  (gevent monkey patching first, as in every Locust process)
# isort: on

import subprocess
import sys

import pytest
from helpers import SUPPORT

from loadkit.standin import StandinConfig, start_standin


@pytest.fixture(scope="session")
def standin():
    """The bundled stand-in, no knobs: a fast, healthy target."""
    with start_standin(StandinConfig()) as handle:
        yield handle


@pytest.fixture(scope="session")
def fixed_latency_url():
    """A target that answers every request after exactly 50 ms (tests/fixed_latency_server.py)."""
    proc = subprocess.Popen([sys.executable, str(SUPPORT / "fixed_latency_server.py"), "0.05"],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


_SLOW_FIXTURES = {"standin", "fixed_latency_url", "prometheus", "pg_standin", "gunicorn_target"}
_SLOW_CALLS = ('main(["run"', 'main(["demo"', "start_standin(", "LoadRun(", '"loadkit", "run"', "run_loadkit(")


def pytest_collection_modifyitems(items):
    """Mark real load runs ``slow`` (``-m "not slow"`` runs the fast unit tests alone)."""
    import inspect

    for item in items:
        fn = getattr(item, "function", None)
        try:
            source = inspect.getsource(fn) if fn else ""
        except (OSError, TypeError):
            source = ""
        if _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or any(c in source for c in _SLOW_CALLS):
            item.add_marker(pytest.mark.slow)
