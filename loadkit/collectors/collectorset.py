"""Several collectors started together, sampled in a separate process, written to ``metrics.parquet``.

Why a separate process rather than a thread: the load generator runs under gevent's
monkey patching, where ``threading.Thread`` is a greenlet on Locust's own hub, so a slow
``psutil`` walk or a database round trip would stall request timing; gevent's threadpool
gives a real OS thread but still shares the GIL (and the patched socket module) with
Locust. A child process (``python -m loadkit.collectors.worker``) shares neither: its
CPU shows up as its own, a hung source cannot freeze the load, and the drivers run
unpatched. The parent only reads a few JSON lines a second (``latest`` values for live
abort conditions) from a pipe, cooperatively under gevent. If the parent dies, the
child sees EOF on stdin, stops its collectors and still writes ``metrics.parquet``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..hosts import LOOPBACK, AllowList
from ..redact import Redactor, redact
from ._dsn import dsn_secrets
from .base import MetricSpec, series_key
from .registry import check_spec, make_collector

__all__ = ["CollectorSet", "CollectorCost"]

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class CollectorCost:
    """What sampling cost, measured by the sampler process itself (CPU seconds)."""

    startup_cpu_s: float  # interpreter, imports, connections: once per run
    process_cpu_s: float  # everything the sampler process used
    samples: int  # sample() calls over all collectors
    per_collector: Mapping[str, Mapping[str, float]]  # name → samples, sample_cpu_s, start_cpu_s, stop_cpu_s

    def cpu_ms_per_sample(self, name: str | None = None) -> float:
        """Mean CPU of one ``sample()`` (of one collector, or over all)."""
        items = [self.per_collector[name]] if name else list(self.per_collector.values())
        n = sum(i["samples"] for i in items)
        return 1000.0 * sum(i["sample_cpu_s"] for i in items) / n if n else 0.0


class CollectorSet:
    """Owns the collectors of a run: :meth:`start` before the load, :meth:`stop` after it.

    ``missing`` (name → one-line reason) and ``notes`` (name → lines) are the collectors'
    own; ``config_problems`` (after :meth:`start`) are failures only the scenario can fix, such
    as bad PromQL, for the run to refuse before any load; :meth:`latest` gives the last value of
    a series for live abort conditions.
    Specs are validated in the constructor (:class:`~loadkit.errors.ConfigError`).
    """

    def __init__(self, specs: Sequence[MetricSpec], env: Mapping[str, str], out: Path | None, *,
                 clock: Callable[[], float] = time.time, start_timeout: float = 20.0, stop_timeout: float = 45.0,
                 allowed_hosts: Sequence[str] = LOOPBACK):
        for spec in specs:
            make_collector(spec, env, clock)  # raises ConfigError; connects nothing
        names = [s.name for s in specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"metrics: names must be unique, repeated: {', '.join(dupes)}")
        self.specs = [check_spec(s)[0] for s in specs]
        self.allowed_hosts = tuple(allowed_hosts)  # scrape and prometheus URLs, redirects too: the run's allow-list
        allow = AllowList(self.allowed_hosts)
        refused = [f"metrics {s.name}: url {redact(why)}" for s in self.specs
                   if s.source in ("scrape", "prometheus") and (why := allow.url_problem(str(s.options["url"])))]
        if refused:
            raise ConfigError("; ".join(refused))
        self.out, self.clock = out, clock
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout
        needed = {str(v) for s in self.specs for k, v in s.options.items() if k.endswith("_env")}
        self._env = {k: env[k] for k in needed if k in env}
        secrets = [x for s in self.specs for k in ("dsn", "url") if k in s.options for x in dsn_secrets(str(s.options[k]))]
        self._redactor = Redactor([*secrets, *self._env.values()])  # for what the sampler says on stderr
        self.missing: dict[str, str] = {}
        self.notes: dict[str, list[str]] = {}
        self.config_problems: list[str] = []  # known at start (bad PromQL): the run must refuse, exit 2
        self.rows = 0
        self.started_at: dict[str, float] = {}  # name → time of its baseline (the first rates count from it)
        self.cost: CollectorCost | None = None
        self._latest: dict[str, float] = {}
        self._pending: dict[str, str] = {}  # raw latest lines, decoded when asked
        self._started = threading.Event()
        self._done = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._stderr: Any = None

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        """Spawn the sampler and wait until every collector has read its baseline (bounded)."""
        if not self.specs:
            self._started.set()
            self._done.set()
            return
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - the child writes it; closed in stop()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen([sys.executable, "-m", "loadkit.collectors.worker"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        cfg = {"specs": [asdict(s) for s in self.specs], "env": self._env, "allowed_hosts": list(self.allowed_hosts),
               "out": str(self.out) if self.out else None, "start_timeout": self.start_timeout - 2,
               "stop_timeout": self.stop_timeout - 3}
        self._proc.stdin.write((json.dumps(cfg) + "\n").encode())
        self._proc.stdin.flush()
        self._reader = threading.Thread(target=self._read, daemon=True, name="loadkit-collectors")
        self._reader.start()
        if not self._started.wait(self.start_timeout):
            self._abort(f"sampler did not start within {self.start_timeout:g}s")

    def stop(self, now: float | None = None, window_start: float | None = None) -> None:
        """Final rows (``now`` ends the Prometheus window), ``metrics.parquet`` written; never raises.

        A source with no data for its last 3 intervals before ``now`` (or its first 3 after
        ``window_start``, default the sampler's start) becomes missing, with when it stopped.
        """
        if self._proc is None or self._done.is_set():
            return
        now = self.clock() if now is None else now
        try:
            msg = {"cmd": "stop", "now": now, "window_start": window_start}
            self._proc.stdin.write((json.dumps(msg) + "\n").encode())
            self._proc.stdin.close()
        except OSError:
            pass
        if not self._done.wait(self.stop_timeout):
            self._abort(f"sampler did not finish within {self.stop_timeout:g}s")
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> CollectorSet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- live values ---------------------------------------------------------------------
    def latest(self, metric: str, labels: str = "") -> float | None:
        """Last value of ``metric`` (a series key such as ``app.x{a="b"}``, or metric + labels), or None."""
        for name, raw in list(self._pending.items()):
            self._pending.pop(name, None)
            self._latest.update(json.loads(raw).get("values", {}))
        return self._latest.get(series_key(metric, labels))

    # -- the pipe ------------------------------------------------------------------------
    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            kind = msg.get("t")
            if kind == "latest":
                self._pending[msg["name"]] = raw
                self._set_missing(msg["name"], msg.get("missing"))
            elif kind in ("started", "done"):
                self.missing = dict(msg.get("missing", {}))
                self.notes = {k: list(v) for k, v in msg.get("notes", {}).items()}
                self.config_problems = list(msg.get("config_problems", []))
                self.started_at.update(msg.get("started_at", {}))
                if kind == "done":
                    self.rows = int(msg.get("rows", 0))
                    c = msg.get("cost", {})
                    self.cost = CollectorCost(c.get("startup_cpu_s", 0.0), c.get("process_cpu_s", 0.0),
                                              c.get("samples", 0), c.get("per_collector", {}))
                    self.latest("")  # fold the final values in
                    self._done.set()
                self._started.set()
        if not self._done.is_set():
            self._abort(f"sampler exited with code {self._proc.wait()}{self._tail()}")

    def _set_missing(self, name: str, reason: str | None) -> None:
        if reason:
            self.missing[name] = reason
        else:
            self.missing.pop(name, None)

    def _abort(self, reason: str) -> None:
        """The sampler itself failed: every source without a reason of its own is missing for this one."""
        for s in self.specs:
            self.missing.setdefault(s.name, reason)
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._started.set()
        self._done.set()

    def _tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().decode(errors="replace").splitlines() if ln.strip()]
        return f": {self._redactor.text(lines[-1].strip())}" if lines else ""

