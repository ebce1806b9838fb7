"""A trailing window of recent requests, for ``abort:`` conditions evaluated while the load runs."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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
    """Keeps (start time, endpoint, latency, failed) of the last ``horizon`` seconds of requests."""

    def __init__(self, horizon: float):
        self.horizon = horizon
        self._batches: deque[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = deque()

    def add(self, cols: dict[str, list[Any]]) -> None:
        if not cols["ts"]:
            return
        ts = np.asarray(cols["ts"], dtype=float)
        self._batches.append((ts, np.asarray(cols["endpoint"], dtype=object),
                              np.asarray(cols["latency_ms"], dtype=float),
                              failed_mask(cols["error"])))

    def _trim(self, now: float) -> None:
        while self._batches and self._batches[0][0].max() < now - self.horizon:
            self._batches.popleft()

    def check(self, rules: tuple[AbortRule, ...], now: float, elapsed: float,
              metrics: Mapping[str, Sequence[tuple[float, float]]] | None = None) -> Trip | None:
        """The first rule whose condition held over its trailing window, once the run is that old.

        ``metrics`` holds the recent (time, value) samples of collected metrics named in rules.
        """
        self._trim(now)
        empty = np.empty(0)
        ts, ep, lat, failed = ((np.concatenate(parts) for parts in zip(*self._batches, strict=True))
                               if self._batches else (empty, empty.astype(object), empty, empty.astype(bool)))
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
            inside = ts >= now - rule.seconds
            if rule.check.endpoint is not None:
                inside &= ep == rule.check.endpoint
            value = _observe(rule, lat[inside], failed[inside])
            if value is not None and rule.check.holds(value):
                return Trip(rule, value)
        return None


def _observe(rule: AbortRule, lat: np.ndarray, failed: np.ndarray) -> float | None:
    c = rule.check
    if c.kind == "rps":
        return lat.size / rule.seconds
    if lat.size == 0:
        return None
    if c.kind == "error_rate":
        return float(failed.mean())
    ok = lat[~failed]
    if ok.size == 0:
        return None
    if c.stat in ("min", "mean", "max"):
        return float(getattr(ok, c.stat)())
    q = c.quantile
    return None if q is None else float(np.percentile(ok, q * 100))
