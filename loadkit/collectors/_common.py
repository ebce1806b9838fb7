"""Shared pieces of the collectors: failing without raising, counters to rates, label strings."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from typing import Any

from ..redact import redact
from .base import MetricSpec, Row

__all__ = ["SourceError", "SourceBase", "CounterRates", "format_labels", "one_line"]


class SourceError(Exception):
    """A source failure with a one-line, credential-free reason; ``permanent`` stops retries."""

    def __init__(self, reason: str, permanent: bool = False):
        super().__init__(reason)
        self.permanent = permanent


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The first non-empty line of an exception's text (drivers put hints on later lines)."""
    text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "") or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_labels(labels: Mapping[str, str]) -> str:
    """``k="v",…`` sorted by key, values escaped as in the Prometheus text format."""
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return ",".join(f'{k}="{esc(str(v))}"' for k, v in sorted(labels.items()))


class CounterRates:
    """Per-second rates of monotonically increasing counters; a decrease is a reset (as Prometheus' rate())."""

    def __init__(self) -> None:
        self._last: dict[Any, tuple[float, float]] = {}

    def seed(self, key: Any, ts: float, value: float) -> None:
        """Set the previous value of a counter not seen before (no-op for a known one)."""
        self._last.setdefault(key, (ts, value))

    def rate(self, key: Any, now: float, value: float) -> float | None:
        prev = self._last.get(key)
        self._last[key] = (now, value)
        if prev is None or now <= prev[0]:
            return None
        delta = value - prev[1]
        return (value if delta < 0 else delta) / (now - prev[0])


class SourceBase:
    """Bookkeeping every collector shares: ``missing``, ``notes``, and never raising.

    Subclasses implement ``_start``/``_sample``/``_stop`` and raise :class:`SourceError`
    (or anything else) on failure; the public methods turn that into ``missing`` and ``[]``.
    A transient failure is retried on the next sample; recovering clears ``missing`` and
    leaves a note, so a gap in the data is never silent.
    """

    def __init__(self, spec: MetricSpec, env: Mapping[str, str], clock: Callable[[], float]):
        self.spec, self.env, self.clock = spec, env, clock
        self.missing: str | None = None
        self.notes: list[str] = []
        self._secrets: tuple[str, ...] = ()
        self._dead = False
        self._started = False

    # -- the Collector protocol --------------------------------------------------
    def start(self, now: float) -> list[Row]:
        rows = self._guard(self._start, now)
        self._started = self.missing is None
        return rows

    def sample(self, now: float) -> list[Row]:
        if self._dead:
            return []
        if not self._started:  # start failed (e.g. database down): try again, from here on
            return self.start(now)
        return self._guard(self._sample, now)

    def stop(self, now: float) -> list[Row]:
        try:
            return [] if self._dead or not self._started else self._guard(self._stop, now)
        finally:
            with contextlib.suppress(Exception):  # releasing must not fail the run
                self._close()

    # -- for subclasses ------------------------------------------------------------
    def _start(self, now: float) -> list[Row]:
        return []

    def _sample(self, now: float) -> list[Row]:
        return []

    def _stop(self, now: float) -> list[Row]:
        return self._sample(now)

    def _close(self) -> None:
        """Release connections."""

    def _row(self, now: float, field: str, value: float, labels: str = "") -> Row:
        return (now, f"{self.spec.name}.{field}" if field else self.spec.name, labels, float(value))

    def _guard(self, fn: Callable[[float], list[Row]], now: float) -> list[Row]:
        try:
            rows = fn(now)
        except SourceError as exc:
            self._dead = self._dead or exc.permanent
            self.missing = redact(one_line(exc), self._secrets)
            return []
        except Exception as exc:  # noqa: BLE001 - a collector never raises into the run
            self.missing = redact(f"{type(exc).__name__}: {one_line(exc)}", self._secrets)
            return []
        if self.missing is not None:
            self.notes.append(f"recovered after: {self.missing}")
            self.missing = None
        return [r for r in rows if math.isfinite(r[3])]
