"""Shared pieces of the collectors: failing without raising, counters to rates, label strings."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from typing import Any

from ..redact import redact
from .base import MetricSpec, Row

__all__ = ["SourceError", "SourceBase", "CounterRates", "MIN_SPAN_FRACTION", "format_labels", "one_line"]


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


#: A rate over less than this fraction of a source's interval is not a sample: 10 ms CPU ticks
#: over a 23 ms span read as 304 % for a single-threaded process, and database counters spike alike.
MIN_SPAN_FRACTION = 0.5


class CounterRates:
    """Per-second rates of cumulative counters, never over a span too short to mean anything.

    A decrease is a reset (the counter restarted from zero, as Prometheus' ``rate()`` assumes),
    or, with ``clamp``, no increase. A span shorter than ``min_span`` gives no rate: its counts
    carry into the next one. At stop (``final``) there is no next one, so a short last span is
    merged with the one before it: the rate covers both, and :attr:`merged` names the row it
    replaces (series key → that row's time), so no count is lost and none is counted twice.
    """

    def __init__(self, min_span: float = 0.0, clamp: bool = False) -> None:
        self.min_span, self.clamp = min_span, clamp
        self.final = False
        self.merged: dict[Any, float] = {}
        self._last: dict[Any, tuple[float, float]] = {}  # the baseline of the next rate
        self._before: dict[Any, tuple[float, float]] = {}  # the baseline of the last rate given

    def seed(self, key: Any, ts: float, value: float) -> None:
        """Set the previous value of a counter not seen before (no-op for a known one)."""
        self._last.setdefault(key, (ts, value))

    def rate(self, key: Any, now: float, value: float) -> float | None:
        last = self._last.get(key)
        if last is None:
            self._last[key] = (now, value)
            return None
        base = last
        if now - last[0] < max(self.min_span, 1e-9):
            before = self._before.get(key)
            if not self.final or before is None:
                return None  # too soon: the counts carry into the next rate
            base = before
            self.merged[key] = last[0]
        else:
            self._before[key] = last
        self._last[key] = (now, value)
        delta = value - base[1]
        if delta < 0:
            delta = 0.0 if self.clamp else value
        return delta / (now - base[0])


class SourceBase:
    """Bookkeeping every collector shares: ``missing``, ``notes``, and never raising.

    Subclasses implement ``_start``/``_sample``/``_stop`` and raise :class:`SourceError`
    (or anything else) on failure; the public methods turn that into ``missing`` and ``[]``.
    A transient failure is retried on the next sample; recovering clears ``missing`` and
    leaves a note, so a gap in the data is never silent.
    """

    #: False for a source that delivers only at stop (prometheus): no gap rule while the load runs.
    sampled = True

    def __init__(self, spec: MetricSpec, env: Mapping[str, str], clock: Callable[[], float]):
        self.spec, self.env, self.clock = spec, env, clock
        self.missing: str | None = None
        self.notes: list[str] = []
        self.rates = CounterRates(MIN_SPAN_FRACTION * spec.interval)
        self.superseded: dict[tuple[str, str], float] = {}  # (metric, labels) → time of a row stop() replaced
        self.config_problem: str | None = None  # a failure the scenario must fix (bad PromQL): the run refuses
        self.window_start: float | None = None  # the checked window's start, told before stop() when known
        self.allowed: Any = None  # the run's AllowList for HTTP sources (set by make_collector); None: any host
        self._secrets: tuple[str, ...] = ()
        self._dead = False
        self._started = False
        self._begun: float | None = None  # the first start(): times in notes count from here
        self._failed_at = 0.0  # when the current failure began

    # -- the Collector protocol --------------------------------------------------
    def start(self, now: float) -> list[Row]:
        self._begun = now if self._begun is None else self._begun
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
        """Final rows, stamped when they are read (``now`` or later): a rate over a late read stamped
        early would count the CPU of the wait as the last interval's."""
        try:
            if self._dead or not self._started:
                return []
            self.rates.final = True
            rows = self._guard(self._stop, max(now, self.clock()))
            self.superseded = dict(self.rates.merged) if self.missing is None else {}
            return rows
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

    def _metric(self, field: str) -> str:
        return f"{self.spec.name}.{field}" if field else self.spec.name

    def _row(self, now: float, field: str, value: float, labels: str = "") -> Row:
        return (now, self._metric(field), labels, float(value))

    def _rate(self, now: float, field: str, value: float, labels: str = "") -> float | None:
        """Per-second rate of the cumulative counter ``field`` since the last sample (see :class:`CounterRates`)."""
        return self.rates.rate((self._metric(field), labels), now, value)

    def _guard(self, fn: Callable[[float], list[Row]], now: float) -> list[Row]:
        was = self.missing
        try:
            rows = fn(now)
        except SourceError as exc:
            self._dead = self._dead or exc.permanent
            self.missing = redact(one_line(exc), self._secrets)
        except Exception as exc:  # noqa: BLE001 - a collector never raises into the run
            self.missing = redact(f"{type(exc).__name__}: {one_line(exc)}", self._secrets)
        else:
            if was is not None:
                begun = self._begun if self._begun is not None else now
                self.notes.append(f"recovered after: {was} (no data from {self._failed_at - begun:.1f} s "
                                  f"to {now - begun:.1f} s into the run)")
                self.missing = None
            return [r for r in rows if math.isfinite(r[3])]
        if was is None:
            self._failed_at = now
        return []
