"""Summaries of a run: exact percentiles over full-resolution samples, per endpoint.

Pure functions over arrays returning frozen dataclasses (no I/O, no clock). Latency
statistics use successful requests only, as Gatling reports OK and KO apart: a refused
connection answering in 0.1 ms must not make latency look better; failures are counted
by the error rate.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np

from ..runfolder import failed_mask

__all__ = ["LatencyStats", "Stats", "Summary", "summarize", "summarize_coded", "latency_stats"]


@dataclass(frozen=True)
class LatencyStats:
    min: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    p99_9: float

    def to_json(self) -> dict[str, float]:
        d = asdict(self)
        d["p99.9"] = d.pop("p99_9")
        return {k: round(v, 3) for k, v in d.items()}

    @classmethod
    def from_json(cls, d: dict) -> LatencyStats:
        return cls(*(float(d[k]) for k in ("min", "mean", "p50", "p90", "p95", "p99", "max", "p99.9")))

    def get(self, stat: str) -> float:
        """The value of a statistic by its name in the check language (``p99.9``, ``mean``)."""
        return float(getattr(self, stat.replace(".", "_")))


@dataclass(frozen=True)
class Stats:
    total: int
    failures: int
    error_rate: float
    rps: float
    latency_ms: LatencyStats | None  # None when no request succeeded

    def to_json(self) -> dict:
        return {
            "total": self.total,
            "failures": self.failures,
            "error_rate": round(self.error_rate, 6),
            "rps": round(self.rps, 3),
            "latency_ms": None if self.latency_ms is None else self.latency_ms.to_json(),
        }

    @classmethod
    def from_json(cls, d: dict) -> Stats:
        lat = d.get("latency_ms")
        return cls(int(d["total"]), int(d["failures"]), float(d["error_rate"]), float(d["rps"]),
                   None if lat is None else LatencyStats.from_json(lat))


@dataclass(frozen=True)
class Summary:
    window_start: float
    window_end: float
    requests: Stats
    endpoints: dict[str, Stats]
    errors: tuple[tuple[str, str, int], ...]  # (endpoint, error, count), most frequent first
    run_total: int
    run_failures: int

    def to_json(self) -> dict:
        return {
            "window": {"start": self.window_start, "end": self.window_end,
                       "seconds": round(self.window_end - self.window_start, 3)},
            "requests": self.requests.to_json(),
            "endpoints": {k: v.to_json() for k, v in sorted(self.endpoints.items())},
            "errors": [{"endpoint": e, "error": m, "count": n} for e, m, n in self.errors],
            "run": {"total": self.run_total, "failures": self.run_failures},
        }

    @classmethod
    def from_json(cls, d: dict) -> Summary:
        """The summary written to ``summary.json``; ``KeyError``/``TypeError``/``ValueError`` when it is damaged."""
        w, run = d["window"], d["run"]
        return cls(float(w["start"]), float(w["end"]), Stats.from_json(d["requests"]),
                   {str(k): Stats.from_json(v) for k, v in d["endpoints"].items()},
                   tuple((str(e["endpoint"]), str(e["error"]), int(e["count"])) for e in d.get("errors", [])),
                   int(run["total"]), int(run["failures"]))


def latency_stats(latency_ms: np.ndarray) -> LatencyStats | None:
    if latency_ms.size == 0:
        return None
    q = np.percentile(latency_ms, [50, 90, 95, 99, 99.9])
    return LatencyStats(float(latency_ms.min()), float(latency_ms.mean()), *map(float, q[:4]),
                        float(latency_ms.max()), float(q[4]))


def _stats(latency: np.ndarray, failed: np.ndarray, seconds: float) -> Stats:
    total = int(latency.size)
    failures = int(failed.sum())
    return Stats(total, failures, failures / total if total else 0.0, total / seconds if seconds > 0 else 0.0,
                 latency_stats(latency[~failed]))


def summarize(ts: np.ndarray, endpoint: np.ndarray, latency_ms: np.ndarray, error: np.ndarray,
              window_start: float, window_end: float, top_errors: int = 20) -> Summary:
    """Statistics over requests that started inside ``[window_start, window_end)``.

    ``error`` holds None for successes and the error text for failures.
    """
    failed = failed_mask(error)
    names, codes = np.unique(endpoint.astype(str), return_inverse=True) if endpoint.size else (np.array([]), endpoint)
    errs = Counter(zip(endpoint[failed].tolist(), error[failed].tolist(), strict=True))
    return summarize_coded(ts, codes.astype(np.int64), [str(n) for n in names], latency_ms, failed,
                           tuple((e, m, n) for (e, m), n in errs.most_common(top_errors)), window_start, window_end)


def summarize_coded(ts: np.ndarray, codes: np.ndarray, names: list[str], latency_ms: np.ndarray, failed: np.ndarray,
                    errors: tuple[tuple[str, str, int], ...], window_start: float, window_end: float) -> Summary:
    """:func:`summarize` on endpoint codes (``names[codes[i]]``) and a failure mask: no Python
    object per request, so an hour at thousands of requests a second fits in memory."""
    inside = (ts >= window_start) & (ts < window_end)
    seconds = max(window_end - window_start, 1e-9)
    lat, ep, bad = latency_ms[inside], codes[inside], failed[inside]
    endpoints = {names[k]: _stats(lat[ep == k], bad[ep == k], seconds) for k in np.unique(ep)}
    return Summary(window_start, window_end, _stats(lat, bad, seconds), endpoints, errors,
                   int(ts.size), int(failed.sum()))
