"""Per-request cost of each piece loadkit adds to bare Locust, timed in-process without a network.

``overhead.py`` measures the whole difference end to end; this script splits it up, to show
where it goes. Each piece runs ``--n`` times on a stub HTTP client (no I/O), so the numbers
are pure Python cost per request on this machine:

* task: loadkit's generated ``pick`` task (request choice + ``_Prepared.issue``) against a bare
  ``self.client.get("/")`` task, both calling the same no-op client;
* event: firing Locust's ``request`` event with and without loadkit's ``SampleBuffer`` listener;
* flush: turning buffered rows into Arrow and writing a Parquet part (``PartWriter``), and the
  final merge plus summary, per row.

Usage: ``python benchmarks/capture_costs.py [--n 200000]``
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import locust  # noqa: F401  (first: gevent monkey patching)
from locust import FastHttpUser, task
from locust.env import Environment

from loadkit.analysis import summarize_run
from loadkit.run.capture import PartWriter, SampleBuffer, attach_recorder
from loadkit.run.users import build_user_classes
from loadkit.scenario import load_scenario


class _StubClient:
    """Stands in for FastHttpSession: takes the call, does nothing."""

    def request(self, method: str, path: str, **kwargs: Any) -> None:
        return None

    def get(self, path: str, **kwargs: Any) -> None:
        return None


class _Bare(FastHttpUser):
    host = "http://127.0.0.1:1"

    @task
    def index(self) -> None:
        self.client.get("/")


def per_call_us(fn: Callable[[], object], n: int) -> float:
    """Best of three timings of ``n`` calls, in microseconds per call."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t)
    return best / n * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="loadkit's per-request costs, piece by piece")
    p.add_argument("--n", type=int, default=200_000, help="calls per timing (default 200000)")
    args = p.parse_args(argv)
    n = args.n

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        yaml = work / "s.yaml"
        yaml.write_text(textwrap.dedent("""\
            name: overhead
            target: {host: "http://127.0.0.1:1", allowed_hosts: [127.0.0.1]}
            users:
              - name: bare
                wait: {constant: 0}
                requests:
                  - {name: root, method: GET, path: /}
            load: {users: 1, spawn_rate: 1, duration: 1s}
        """))
        scenario = load_scenario(str(yaml))
        env = Environment(user_classes=[_Bare], host="http://127.0.0.1:1")

        # -- the task ----------------------------------------------------------------------
        lk_cls = build_user_classes(scenario)[0]
        lk_user = lk_cls(env)
        lk_user.client = _StubClient()
        lk_user.on_start()
        pick = lk_cls.tasks[0]
        bare_user = _Bare(env)
        bare_user.client = _StubClient()
        bare_task = _Bare.tasks[0]
        t_bare = per_call_us(lambda: bare_task(bare_user), n)
        t_lk = per_call_us(lambda: pick(lk_user), n)
        print(f"task: bare client.get {t_bare:.2f} us, loadkit pick+issue {t_lk:.2f} us -> +{t_lk - t_bare:.2f} us/request")

        # -- the request event -------------------------------------------------------------
        kwargs = {"request_type": "GET", "name": "root", "response_time": 1.234, "response_length": 2,
                  "response": None, "context": {}, "exception": None, "start_time": time.time(), "url": "/"}
        env_a = Environment(user_classes=[_Bare])
        t_fire = per_call_us(lambda: env_a.events.request.fire(**kwargs), n)
        env_b = Environment(user_classes=[_Bare])
        buffers: list[SampleBuffer] = []

        def fire_with_buffer() -> None:
            env_b.events.request.fire(**kwargs)

        buf = SampleBuffer()
        attach_recorder(env_b.events, buf)
        buffers.append(buf)
        t_fire_lk = per_call_us(fire_with_buffer, n)
        print(f"event: fire without listener {t_fire:.2f} us, with SampleBuffer {t_fire_lk:.2f} us "
              f"-> +{t_fire_lk - t_fire:.2f} us/request")

        # -- Arrow / Parquet ---------------------------------------------------------------
        rows = buf.take()
        rows = {k: v[:n] for k, v in rows.items()}
        writer = PartWriter(work / "run", chunk_rows=50_000)
        t = time.perf_counter()
        for start in range(0, n, 5_000):  # as LoadRun._drive hands them over
            writer.add({k: v[start:start + 5_000] for k, v in rows.items()})
        writer.flush()
        t_flush = time.perf_counter() - t
        t = time.perf_counter()
        out = work / "run" / "samples.parquet"
        total = writer.finish(out)
        t_finish = time.perf_counter() - t
        t = time.perf_counter()
        summarize_run(out, 0.0, float("inf"))
        t_sum = time.perf_counter() - t
        print(f"parts: {t_flush / total * 1e6:.2f} us/row while running (blocks the gevent loop: "
              f"{t_flush / max(1, len(writer.parts)) * 1e3:.0f} ms per 50k-row part); "
              f"after the run: merge {t_finish / total * 1e6:.2f} us/row, summary {t_sum / total * 1e6:.2f} us/row")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
