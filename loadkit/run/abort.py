"""``abort:`` rules, evaluated every second while the load runs: a trailing window of recent requests.

Latency rules look at the requests that *completed* in the window and, with their age so far, at
the requests still *in flight*: a target that stops answering makes latency rules fire as soon as
the waiting is longer than the limit, instead of never (a request that never completes has no
latency of its own).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..runfolder import failed_mask
from ..scenario.model import AbortRule

__all__ = ["LiveWindow", "Trip"]


@dataclass(frozen=True)
class Trip:
    rule: AbortRule
    observed: float

    @property
    def reason(self) -> str:
        c = self.rule.check
        return (f"abort condition met: {self.rule.text} (observed {c.format_value(self.observed)} "
                f"over the last {self.rule.seconds:g}s)")


class LiveWindow:
    """Keeps (start, completion, endpoint, method, latency, failed) of the last ``horizon`` seconds of requests."""

    def __init__(self, horizon: float):
        self.horizon = horizon
        self._batches: deque[tuple[np.ndarray, ...]] = deque()

    def add(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        ts = batch.column("ts").to_numpy(zero_copy_only=False)
        lat = batch.column("latency_ms").to_numpy(zero_copy_only=False)
        self._batches.append((ts, ts + lat / 1000.0, np.asarray(batch.column("endpoint").to_pylist(), dtype=object),
                              np.asarray(batch.column("method").to_pylist(), dtype=object), lat,
                              failed_mask(batch.column("error"))))

    def _trim(self, now: float) -> None:
        while self._batches and self._batches[0][1].max() < now - self.horizon:
            self._batches.popleft()

    def check(self, rules: tuple[AbortRule, ...], now: float, elapsed: float,
              metrics: Mapping[str, Sequence[tuple[float, float]]] | None = None,
              inflight: Callable[[float, str | None], np.ndarray] | None = None) -> Trip | None:
        """The first rule whose condition held over its trailing window, once the run is that old.

        ``metrics`` holds the recent (time, value) samples of collected metrics named in rules;
        ``inflight(now, endpoint)`` gives the ages (s) of the requests in flight.
        """
        self._trim(now)
        if self._batches:
            ts, done, ep, me, lat, failed = (np.concatenate(parts) for parts in zip(*self._batches, strict=True))
        else:
            empty = np.empty(0)
            ts, done, lat = empty, empty, empty
            ep = me = empty.astype(object)
            failed = empty.astype(bool)
        for rule in rules:
            if elapsed < rule.seconds:
                continue
            if rule.check.kind == "metric":
                series = [v for t, v in (metrics or {}).get(rule.check.metric or "", ()) if t >= now - rule.seconds]
                if len(series) >= max(1, int(rule.seconds) - 1):  # one value a second: the window is covered
                    stat = rule.check.stat
                    value = (max(series) if stat == "max" else min(series) if stat == "min" else
                             float(np.percentile(series, 95)) if stat == "p95" else sum(series) / len(series))
                    if rule.check.holds(value):
                        return Trip(rule, value)
                continue
            mask = np.ones(ts.size, bool)
            if rule.check.endpoint is not None:
                e = rule.check.endpoint
                mask = (ep == e) | (np.char.add(np.char.add(me.astype(str), " "), ep.astype(str)) == e) \
                    if ts.size else mask
            started = mask & (ts >= now - rule.seconds)
            completed = mask & (done >= now - rule.seconds) & (done <= now)
            ages = inflight(now, rule.check.endpoint) * 1000.0 if inflight is not None else np.empty(0)
            value = _observe(rule, started.sum(), lat[completed], failed[completed], ages)
            if value is not None and rule.check.holds(value):
                return Trip(rule, value)
        return None


def _observe(rule: AbortRule, started: int, lat: np.ndarray, failed: np.ndarray, ages_ms: np.ndarray) -> float | None:
    c = rule.check
    if c.kind == "rps":
        return float(started) / rule.seconds
    if c.kind == "error_rate":
        return float(failed.mean()) if lat.size else None
    values = np.concatenate([lat[~failed], ages_ms])  # in flight: its age is a lower bound of its latency
    if values.size == 0:
        return None
    if c.stat in ("min", "mean", "max"):
        return float(getattr(values, c.stat)())
    q = c.quantile
    return None if q is None else float(np.percentile(values, q * 100))
