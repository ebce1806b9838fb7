"""The load generator's health over the checked window, from ``health.parquet`` rows (pure).

What the verdict needs to tell "the target was slow" from "the instrument was disturbed": how
often the generator's CPU was saturated, how late its event loop ran, how much CPU was stolen
and how busy the machine was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GeneratorHealth", "summarize_health", "SATURATED_CPU", "LAGGING_MS"]

#: A generator process at this share of one core cannot keep its timing.
SATURATED_CPU = 90.0
#: An event loop whose 10 ms timer fires this late delays every request it starts.
LAGGING_MS = 50.0


@dataclass(frozen=True)
class GeneratorHealth:
    seconds: int  # seconds measured in the window (over all generator processes)
    cpu_p95: float | None  # percent of one core
    cpu_max: float | None
    lag_p99_ms: float | None
    lag_max_ms: float | None
    steal_mean: float | None  # percent of all cores
    host_cpu_mean: float | None
    saturated_s: int  # seconds in which the generator ran, or waited for a CPU to run, SATURATED_CPU of a core or more
    lagging_s: int  # seconds with a lag at or above LAGGING_MS
    wait_mean: float | None = None  # percent of the time its event loop's thread waited for a CPU

    @property
    def known(self) -> bool:
        return self.seconds > 0

    @property
    def saturated_share(self) -> float:
        return self.saturated_s / self.seconds if self.seconds else 0.0

    @property
    def lagging_share(self) -> float:
        return self.lagging_s / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 2)

        return {"seconds": self.seconds, "cpu_p95": r(self.cpu_p95), "cpu_max": r(self.cpu_max),
                "lag_p99_ms": r(self.lag_p99_ms), "lag_max_ms": r(self.lag_max_ms), "steal_mean": r(self.steal_mean),
                "host_cpu_mean": r(self.host_cpu_mean), "saturated_s": self.saturated_s, "lagging_s": self.lagging_s,
                "wait_mean": r(self.wait_mean)}

    @classmethod
    def from_json(cls, d: dict) -> GeneratorHealth:
        return cls(int(d["seconds"]), d.get("cpu_p95"), d.get("cpu_max"), d.get("lag_p99_ms"), d.get("lag_max_ms"),
                   d.get("steal_mean"), d.get("host_cpu_mean"), int(d.get("saturated_s", 0)),
                   int(d.get("lagging_s", 0)), d.get("wait_mean"))


def summarize_health(ts: np.ndarray, cpu: np.ndarray, lag_ms: np.ndarray, steal: np.ndarray, host: np.ndarray,
                     window: tuple[float, float], wait: np.ndarray | None = None) -> GeneratorHealth:
    """The rows whose second ended inside ``window``, summarised.

    A second counts as saturated when the generator used SATURATED_CPU of a core, or would have: what it
    ran plus what it waited for a CPU (a generator sharing its core with a neighbour runs at half a core
    and is as short of CPU as one at a full core).
    """
    inside = (ts > window[0]) & (ts <= window[1] + 1.0)
    c, lg, st, h = cpu[inside], lag_ms[inside], steal[inside], host[inside]
    w = wait[inside] if wait is not None else np.full(c.shape, np.nan)

    def q(v: np.ndarray, p: float) -> float | None:
        v = v[np.isfinite(v)]
        return float(np.percentile(v, p)) if v.size else None

    def mean(v: np.ndarray) -> float | None:
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else None

    wanted = c + np.nan_to_num(w, nan=0.0)
    return GeneratorHealth(int(inside.sum()), q(c, 95), q(c, 100), q(lg, 99), q(lg, 100), mean(st), mean(h),
                           int((wanted >= SATURATED_CPU).sum()), int((lg >= LAGGING_MS).sum()), mean(w))
