"""The sampler process: runs a :class:`~loadkit.collectors.CollectorSet`'s collectors off the load generator.

``python -m loadkit.collectors.worker``; reads its configuration (specs, the environment
variables they name) as one JSON line on stdin, then ``{"cmd": "stop", "now": ts}`` or EOF
(the parent died) to stop. Reports JSON lines on its original stdout: ``started``,
``latest`` (after each sample), ``done``. Writes ``metrics.parquet`` itself.

Each collector runs in its own OS thread here (this process is never monkey-patched), so a
slow database cannot delay the host's samples; each thread's CPU is measured with
``time.thread_time`` to report what sampling costs.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .base import Collector, MetricSpec, Row, series_key

__all__ = ["main"]


@dataclass
class _Slot:
    collector: Collector
    rows: list[Row] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    started_at: float = 0.0  # the ``now`` given to start(): rates in the first row are counted from here
    samples: int = 0
    cpu_s: float = 0.0  # thread CPU spent in sample() calls
    start_cpu_s: float = 0.0
    stop_cpu_s: float = 0.0
    thread: threading.Thread | None = None
    first_data: float | None = None  # when the source first delivered rows, and last: a source that
    last_data: float | None = None  # stops delivering is failed for the rest of the window

    def delivered(self, now: float, rows: list[Row]) -> None:
        if rows and self.collector.missing is None:
            self.first_data = now if self.first_data is None else self.first_data
            self.last_data = now


class _Loop:
    def __init__(self, collectors: list[Collector], out: TextIO):
        self.slots = [_Slot(c) for c in collectors]
        self.out, self.lock = out, threading.Lock()
        self.stopping = threading.Event()
        self.stop_now = 0.0
        self.window_start: float | None = None  # the checked window's start, when the run says

    def emit(self, msg: dict[str, Any]) -> None:
        with self.lock:
            self.out.write(json.dumps(msg, separators=(",", ":")) + "\n")
            self.out.flush()

    def _latest(self, slot: _Slot, rows: list[Row]) -> None:
        c = slot.collector
        self.emit({"t": "latest", "name": c.spec.name, "missing": c.missing,
                   "values": {series_key(m, lab): v for _, m, lab, v in rows}})

    def run_one(self, slot: _Slot) -> None:
        c = slot.collector
        t0 = time.thread_time()
        begun = slot.started_at = time.time()
        rows = c.start(begun)
        slot.start_cpu_s = time.thread_time() - t0
        slot.rows += rows
        slot.delivered(begun, rows)
        slot.started.set()
        if rows:
            self._latest(slot, rows)
        k = 1
        while not self.stopping.wait(max(0.0, begun + k * c.spec.interval - time.time())):
            t0 = time.thread_time()
            now = time.time()
            rows = c.sample(now)
            slot.cpu_s += time.thread_time() - t0
            slot.samples += 1
            slot.rows += rows
            slot.delivered(now, rows)
            self._latest(slot, rows)
            k = max(k + 1, int((time.time() - begun) / c.spec.interval) + 1)  # skip, never bunch, late samples
        if hasattr(c, "window_start"):
            c.window_start = self.window_start
        t0 = time.thread_time()
        rows = c.stop(self.stop_now)
        slot.stop_cpu_s = time.thread_time() - t0
        replaced = getattr(c, "superseded", None) or {}
        if replaced:  # a last span too short for a rate was merged with the one before: its row goes
            slot.rows = [r for r in slot.rows if replaced.get((r[1], r[2])) != r[0]]
        slot.rows += rows
        slot.delivered(self.stop_now, rows)
        self._coverage(slot)
        self._latest(slot, rows)

    def _coverage(self, slot: _Slot) -> None:
        """A sampled source with no data for more than 3 intervals at the start or the end of the window
        is missing, with when: its partial data must not be summarised as if it were the whole window."""
        c = slot.collector
        if not getattr(c, "sampled", True):
            return  # prometheus: the history is Prometheus', and no series may be an answer
        gap, begun, end = 3 * c.spec.interval, slot.started_at, self.stop_now
        run = f"of the {end - begun:.1f} s run"
        if slot.last_data is None:
            c.missing = c.missing or f"no data {run}"
        elif end - slot.last_data > gap:
            c.missing = (f"{c.missing or 'no rows'} (no data after {slot.last_data - begun:.1f} s {run}; "
                         "a source that stops delivering is failed for the rest of the window)")
        elif slot.first_data - max(begun, self.window_start or begun) > gap:
            c.missing = (f"no data for the first {slot.first_data - begun:.1f} s {run} "
                         f"({'; '.join(c.notes[-1:]) or 'no rows'})")

    def state(self) -> dict[str, Any]:
        return {"config_problems": [p for s in self.slots if (p := getattr(s.collector, "config_problem", None))],
                "missing": {s.collector.spec.name: s.collector.missing for s in self.slots if s.collector.missing},
                "notes": {s.collector.spec.name: list(getattr(s.collector, "notes", []))
                          for s in self.slots if getattr(s.collector, "notes", None)}}


def main() -> int:
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed by a library goes to stderr, not into the protocol
    from ..runfolder import write_metrics
    from .registry import make_collector

    cpu0 = time.process_time()
    cfg = json.loads(sys.stdin.readline() or "{}")
    env = cfg.get("env", {})
    specs = [MetricSpec(s["name"], s["source"], s.get("options", {}), s.get("interval", 1.0)) for s in cfg["specs"]]
    allowed = cfg.get("allowed_hosts")
    loop = _Loop([make_collector(s, env, allowed_hosts=allowed) for s in specs], out)
    for slot in loop.slots:
        slot.thread = threading.Thread(target=loop.run_one, args=(slot,), daemon=True,
                                       name=f"collector-{slot.collector.spec.name}")
        slot.thread.start()
    deadline = time.monotonic() + float(cfg.get("start_timeout", 15.0))
    for slot in loop.slots:
        slot.started.wait(max(0.0, deadline - time.monotonic()))
    startup_cpu = time.process_time() - cpu0
    loop.emit({"t": "started", "ts": time.time(), **loop.state(),
               "started_at": {s.collector.spec.name: s.started_at for s in loop.slots if s.started.is_set()}})
    stop_now = None
    for line in sys.stdin:
        msg = json.loads(line)
        if msg.get("cmd") == "stop":
            stop_now = float(msg["now"])
            loop.window_start = msg.get("window_start")
            break
    loop.stop_now = stop_now if stop_now is not None else time.time()
    loop.stopping.set()
    deadline = time.monotonic() + float(cfg.get("stop_timeout", 30.0))
    late = []
    for slot in loop.slots:
        slot.thread.join(max(0.0, deadline - time.monotonic()))
        if slot.thread.is_alive():
            late.append(slot.collector.spec.name)
    rows = [r for slot in loop.slots for r in list(slot.rows)]
    rows.sort(key=lambda r: r[0])
    if cfg.get("out"):
        write_metrics(Path(cfg["out"]), rows)
    state = loop.state()
    for name in late:
        state["missing"].setdefault(name, "did not stop in time; its last rows may be missing")
    samples = sum(s.samples for s in loop.slots)
    loop.emit({"t": "done", "rows": len(rows), **state, "cost": {
        "startup_cpu_s": startup_cpu, "process_cpu_s": time.process_time() - cpu0, "samples": samples,
        "per_collector": {s.collector.spec.name: {"samples": s.samples, "sample_cpu_s": s.cpu_s,
                                                  "start_cpu_s": s.start_cpu_s, "stop_cpu_s": s.stop_cpu_s}
                          for s in loop.slots}}})
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
