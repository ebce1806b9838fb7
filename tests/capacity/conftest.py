"""Synthetic step-run folders: the files a real step run writes (manifest with stages, samples) plus, when
asked, the generator's ``health.parquet`` and the target's CPU in ``metrics.parquet``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from loadkit.runfolder import HEALTH_SCHEMA, SCHEMA, write_metrics, write_table

T0 = 1_800_000_000.0
STEP_S = 10.0


def write_step_run(root: Path, users: Sequence[float], rates: Sequence[float], *, latency_ms: Sequence[float] = (),
                   generator_cpu: Sequence[float] | None = None, lag_ms: Sequence[float] | None = None,
                   host_cpu: Sequence[float] | None = None, target_cpu: Sequence[float] | None = None,
                   scenario: str = "shop", sha: str = "abc", t0: float = T0) -> Path:
    """A step run: step i holds ``users[i]`` for 10 s at ``rates[i]`` successful requests/s.

    ``generator_cpu``, ``lag_ms`` and ``host_cpu`` (per step) write ``health.parquet``; ``target_cpu``
    (per step, percent of one core) writes a ``process`` source named ``app`` into ``metrics.parquet``.
    """
    root.mkdir(parents=True)
    stages, ts, lat = [], [], []
    for i, (u, rate) in enumerate(zip(users, rates, strict=True)):
        start, end = t0 + STEP_S * i, t0 + STEP_S * (i + 1)
        stages.append({"duration_s": STEP_S, "users": u, "spawn_rate": 100.0, "start": start, "end": end})
        times = np.arange(start, end, 1 / rate)
        ts.append(times)
        lat.append(np.full(times.size, latency_ms[i] if latency_ms else 1000.0 * u / rate))
    metrics = [{"name": "app", "source": "process"}] if target_cpu is not None else []
    manifest = {"schema": 1, "run_id": root.name, "scenario": {"name": scenario, "file": "s.yaml", "sha256": sha,
                                                               "overrides": []},
                "status": "complete", "load": "step", "stages": stages, "metrics": metrics, "users": max(users)}
    (root / "manifest.json").write_text(json.dumps(manifest))
    t, r = np.concatenate(ts), np.concatenate(lat)
    table = pa.table({"ts": t, "endpoint": ["e"] * t.size, "method": ["GET"] * t.size, "latency_ms": r,
                      "bytes": np.zeros(t.size, dtype=np.int64), "status": np.full(t.size, 200, dtype=np.int32),
                      "error": pa.nulls(t.size, pa.string()), "worker": ["local"] * t.size,
                      "intended_ts": pa.nulls(t.size, pa.float64())}, schema=SCHEMA)
    write_table(root / "samples.parquet", table)
    seconds = [(i, t0 + s + 1) for i in range(len(users)) for s in np.arange(STEP_S * i, STEP_S * (i + 1))]
    if generator_cpu is not None or lag_ms is not None or host_cpu is not None:
        pick = (lambda v, i: float(v[i]) if v is not None else 5.0)  # noqa: E731
        rows = {"ts": [e for _, e in seconds], "worker": ["local"] * len(seconds),
                "cpu": [pick(generator_cpu, i) for i, _ in seconds], "lag_ms": [pick(lag_ms, i) for i, _ in seconds],
                "steal": [0.0] * len(seconds), "host_cpu": [pick(host_cpu, i) for i, _ in seconds],
                "users": [int(users[i]) for i, _ in seconds], "inflight": [int(users[i]) for i, _ in seconds],
                "others": [0.0] * len(seconds), "wait": [0.0] * len(seconds)}
        write_table(root / "health.parquet", pa.table(rows, schema=HEALTH_SCHEMA))
    if target_cpu is not None:
        write_metrics(root / "metrics.parquet", [(e, "app.cpu", "", float(target_cpu[i])) for i, e in seconds])
    return root


@pytest.fixture
def step_run(tmp_path: Path) -> Callable[..., Path]:
    """``step_run(name, users, rates, **kw)`` → a step-run folder under tmp_path (see :func:`write_step_run`)."""
    return lambda name, users, rates, **kw: write_step_run(tmp_path / name, users, rates, **kw)
