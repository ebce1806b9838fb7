"""Running one locustfile both ways, ``locust --headless`` and ``loadkit run``, and reading what each counted.

``locust`` runs in a subprocess while loadkit runs in the test's process, at the same time, each
against its own listener of the counting server, so a comparison costs one run's time, not two.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

LOCUSTFILES = Path(__file__).resolve().parent / "locustfiles"
#: the counting server's listeners in the fidelity tests: locust's, loadkit's, a second host for each, and
#: one on 127.0.0.2, outside every allow-list of those tests
LOCUST, LOADKIT, LOCUST_API, LOADKIT_API, OUTSIDE = range(5)
ADDRESSES = ("127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2")


@dataclass
class LoadkitRun:
    """One finished ``loadkit run``: its exit code, folder and the files tests read."""

    code: int
    folder: Path
    stderr: str = ""

    def json(self, name: str) -> dict[str, Any]:
        return json.loads((self.folder / name).read_text())

    @property
    def manifest(self) -> dict[str, Any]:
        return self.json("manifest.json")

    @property
    def summary(self) -> dict[str, Any]:
        return self.json("summary.json")

    @property
    def verdict(self) -> dict[str, Any]:
        return self.json("verdict.json")

    def samples(self) -> pd.DataFrame:
        return pd.read_parquet(self.folder / "samples.parquet")

    def health(self) -> pd.DataFrame:
        return pd.read_parquet(self.folder / "health.parquet")

    def endpoint_counts(self) -> dict[str, int]:
        """Requests per ``METHOD name`` over the whole run (``summary.json`` ``run.endpoints``)."""
        return {k: int(v["total"]) for k, v in self.summary["run"]["endpoints"].items()}

    def failure_counts(self) -> dict[str, int]:
        return {k: int(v["failures"]) for k, v in self.summary["run"]["endpoints"].items()}


def write_scenario(folder: Path, body: str, name: str = "scenario.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def run_loadkit(scenario: Path, out: Path, *extra: str) -> LoadkitRun:
    """``loadkit run SCENARIO`` in this process; the run folder it wrote."""
    import io

    from loadkit.cli import main

    err = io.StringIO()
    code = main(["run", str(scenario), "--out", str(out), "--quiet", *extra], stdout=io.StringIO(), stderr=err)
    runs = [p for p in out.iterdir() if p.is_dir()] if out.is_dir() else []
    assert len(runs) == 1, (code, err.getvalue(), runs)
    return LoadkitRun(code, runs[0], err.getvalue())


class LocustRun:
    """``locust --headless -f FILE`` in a subprocess; :meth:`result` waits and reads its ``--json`` statistics.

    Without ``own_shape`` the run is timed by ``fixed_time.py``'s shape (``-f FILE,fixed_time.py``): USERS
    users started at once for SECONDS, as a loadkit stage does (``--run-time`` would be up to a second short).
    """

    def __init__(self, locustfile: Path, host: str, users: int, seconds: float, *classes: str,
                 options: dict[str, Any] | None = None, own_shape: bool = False):
        files = str(locustfile) if own_shape else f"{locustfile},{LOCUSTFILES / 'fixed_time.py'}"
        argv = [sys.executable, "-m", "locust", "-f", files, "--headless", "--host", host, "--json",
                "--only-summary", "--loglevel", "WARNING"]
        if not own_shape:
            argv += ["--shape-users", str(users), "--shape-seconds", f"{seconds:g}"]
        for key, value in (options or {}).items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        self.proc = subprocess.Popen([*argv, *classes], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self, timeout: float = 60) -> LocustResult:
        out, err = self.proc.communicate(timeout=timeout)
        try:
            stats = json.loads(out) if out.strip() or self.proc.returncode == 0 else []  # none when it stopped early
        except ValueError:
            raise AssertionError(f"locust printed no JSON statistics (exit {self.proc.returncode}): {err[-2000:]}") from None
        return LocustResult(self.proc.returncode, stats, err)


@dataclass
class LocustResult:
    code: int
    stats: list[dict[str, Any]]
    stderr: str

    def endpoint_counts(self) -> dict[str, int]:
        """Requests per ``METHOD name``, as Locust counted them."""
        return {f"{s['method']} {s['name']}": int(s["num_requests"]) for s in self.stats if s["num_requests"]}

    def failure_counts(self) -> dict[str, int]:
        return {f"{s['method']} {s['name']}": int(s["num_failures"]) for s in self.stats if s["num_requests"]}
