"""What the run itself tells about the measurement, in sentences every output shares.

The built-in checks (:mod:`loadkit.verdict.truth`) judge a run; this module says what happened,
with the numbers: stretches where nothing completed, requests left in flight at the end,
uncaught exceptions in user code, open-model starts that were late or never happened, the load
generator's own health, requests refused for their host. The HTML report, the Markdown summary,
the JUnit file and the terminal print the same :class:`Fact` texts, each escaped for its medium.
Pure: :func:`truth_of` reads parsed JSON, :func:`read_truth` is the one function that opens files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.health import LAGGING_MS, SATURATED_CPU, GeneratorHealth
from ..analysis.summary import INFLIGHT, LATE_S
from ..errors import LoadkitError
from ..runfolder import read_json
from ..units import format_value

__all__ = ["Fact", "RunTruth", "truth_of", "read_truth", "facts", "disturbance", "may_promote", "shown_reason",
           "DISTURBED_SHARE", "STEAL_PCT"]

#: A generator saturated or lagging in this share of the measured seconds disturbed the measurement.
DISTURBED_SHARE = 0.05
#: CPU stolen by the hypervisor (percent of all cores, mean over the window) that disturbs timing.
STEAL_PCT = 5.0
BAD, WARN, INFO = "bad", "warn", "info"


@dataclass(frozen=True)
class Fact:
    """One sentence about the run: ``level`` is ``bad`` (the measurement is not what was asked),
    ``warn`` (it is, but read it with care) or ``info``; ``text`` is plain, not yet escaped."""

    level: str
    topic: str  # stall, inflight, exceptions, schedule, generator, hosts
    text: str


@dataclass(frozen=True)
class RunTruth:
    stalls: tuple[Mapping[str, Any], ...] = ()  # summary.json ``stalls``: from_s, to_s, seconds, inflight
    inflight_at_end: int = 0
    exceptions: tuple[Mapping[str, Any], ...] = ()  # count, message, where, traceback
    open_model: Mapping[str, Any] | None = None
    generator: GeneratorHealth | None = None
    refused: Mapping[str, int] = field(default_factory=dict)


def truth_of(summary: Mapping[str, Any] | None, manifest: Mapping[str, Any] | None) -> RunTruth:
    """The facts of a run from its ``summary.json`` and ``manifest.json`` (either may be None)."""
    s, m = summary or {}, manifest or {}
    gen = None
    if isinstance(s.get("generator"), Mapping):
        try:
            gen = GeneratorHealth.from_json(dict(s["generator"]))
        except (KeyError, TypeError, ValueError):
            gen = None
    refused = {str(h): int(n) for h, n in (m.get("refused") or {}).items() if isinstance(n, (int, float))}
    return RunTruth(tuple(x for x in s.get("stalls") or () if isinstance(x, Mapping)),
                    int(s.get("inflight_at_end") or 0),
                    tuple(x for x in s.get("exceptions") or () if isinstance(x, Mapping)),
                    s.get("open_model") if isinstance(s.get("open_model"), Mapping) else None, gen, refused)


def read_truth(run_dir: Path) -> RunTruth:
    """:func:`truth_of` the files of ``run_dir``; what cannot be read is left out (the report says so)."""
    docs = []
    for name in ("summary.json", "manifest.json"):
        try:
            doc = read_json(Path(run_dir) / name) if (Path(run_dir) / name).exists() else None
        except LoadkitError:
            doc = None
        docs.append(doc if isinstance(doc, Mapping) else None)
    return truth_of(*docs)


def _n(v: float) -> str:
    return format_value("count", v)


def _s(v: Any) -> str:
    return f"{format_value('metric', float(v))} s"


def _pct(v: float | None) -> str:
    return "(absent)" if v is None else f"{format_value('metric', v)}%"


def _ms(v: float | None) -> str:
    return format_value("latency", v)


def disturbance(g: GeneratorHealth | None) -> list[str]:
    """Why the generator's own state disturbed the measurement (empty: it did not, or it is unknown)."""
    if g is None or not g.known:
        return []
    why = []
    if g.saturated_s and g.saturated_share >= DISTURBED_SHARE:
        waited = f", waiting for a CPU {_pct(g.wait_mean)} of the time" if g.wait_mean and g.wait_mean >= 5 else ""
        why.append(f"it ran or waited for a CPU {SATURATED_CPU:g}% of a core or more in {_n(g.saturated_s)} of "
                   f"{_n(g.seconds)} s{waited}")
    if g.lagging_s and g.lagging_share >= DISTURBED_SHARE:
        why.append(f"its event loop lagged {_ms(LAGGING_MS)} or more in {_n(g.lagging_s)} of {_n(g.seconds)} s "
                   f"(up to {_ms(g.lag_max_ms)}), a delay that is inside the measured latencies")
    if g.steal_mean is not None and g.steal_mean >= STEAL_PCT:
        why.append(f"the hypervisor stole {_pct(g.steal_mean)} of the machine's CPU")
    return why


def facts(t: RunTruth) -> list[Fact]:
    """Everything worth saying about the measurement: what invalidates it first, then what to read with care,
    then the rest."""
    out: list[Fact] = []
    for s in t.stalls[:5]:
        out.append(Fact(BAD, "stall", f"Stall: no request completed from {_s(s.get('from_s', 0))} to "
                                      f"{_s(s.get('to_s', 0))} of the run ({_s(s.get('seconds', 0))}) while "
                                      f"{_n(s.get('inflight', 0))} or more requests were in flight."))
    if len(t.stalls) > 5:
        out.append(Fact(BAD, "stall", f"{_n(len(t.stalls) - 5)} more stalls."))
    if t.inflight_at_end:
        level = BAD if t.stalls else INFO
        out.append(Fact(level, "inflight", f"{_n(t.inflight_at_end)} request(s) were still in flight when the load "
                                           f"stopped: counted as failures '{INFLIGHT}', their latency is their age "
                                           "(a lower bound)."))
    if t.exceptions:
        total = sum(int(e.get("count") or 0) for e in t.exceptions)
        kinds = len(t.exceptions)
        top = "; ".join(f"{e.get('message', '?')}" + (f" at {e['where']}" if e.get("where") else "")
                        + f" ({_n(int(e.get('count') or 0))})" for e in t.exceptions[:3])
        more = f"; {_n(kinds - 3)} more kind(s)" if kinds > 3 else ""
        out.append(Fact(BAD, "exceptions", f"{_n(total)} uncaught exception(s) in user code: {top}{more}."))
    om = t.open_model
    if om is not None:
        scheduled, started = int(om.get("scheduled") or 0), int(om.get("started") or 0)
        late, dropped = int(om.get("late") or 0), int(om.get("dropped") or max(0, scheduled - started))
        if late or dropped:
            out.append(Fact(WARN, "schedule", (
                f"Open model: {_n(late)} of {_n(scheduled)} scheduled starts were late by more than "
                f"{_ms(LATE_S * 1000)} (p95 {_ms(_scaled(om.get('late_p95_s')))}, max "
                f"{_ms(_scaled(om.get('late_max_s')))}) and {_n(dropped)} never started.")))
        else:
            out.append(Fact(INFO, "schedule", f"Open model: all {_n(scheduled)} scheduled starts started on time "
                                              f"(within {_ms(LATE_S * 1000)})."))
    g = t.generator
    if g is not None and g.known:
        state = (f"CPU p95 {_pct(g.cpu_p95)} of a core (max {_pct(g.cpu_max)}), event-loop lag p99 "
                 f"{_ms(g.lag_p99_ms)} (max {_ms(g.lag_max_ms)}), CPU steal {_pct(g.steal_mean)}, machine "
                 f"{_pct(g.host_cpu_mean)} busy, over {_n(g.seconds)} s")
        why = disturbance(g)
        if why:
            out.append(Fact(WARN, "generator", f"The measurement was disturbed: the load generator was short of "
                                               f"CPU ({'; '.join(why)}). Generator: {state}."))
        else:
            out.append(Fact(INFO, "generator", f"Load generator healthy: {state}."))
    if t.refused:
        hosts = ", ".join(f"{h} ({_n(n)})" for h, n in sorted(t.refused.items(), key=lambda kv: -kv[1]))
        out.append(Fact(BAD, "hosts", f"{_n(sum(t.refused.values()))} request(s) refused before they were sent, "
                                      f"their host is not in target.allowed_hosts: {hosts}."))
    rank = {BAD: 0, WARN: 1, INFO: 2}
    return sorted(out, key=lambda f: rank[f.level])


def _scaled(seconds: Any) -> float | None:
    return float(seconds) * 1000 if isinstance(seconds, (int, float)) else None


# -- promotion advice --------------------------------------------------------------------------------
#: How a comparison's reason ends when the run improved beyond noise (loadkit.verdict.compare), written
#: before the verdict was known: shown only when the whole run passed.
_ADVICE = "; consider promoting this run"


def may_promote(verdict_status: object) -> bool:
    """Only a passing run may be suggested as a baseline: a failed, errored or warned one never is."""
    return str(verdict_status) == "PASS"


def shown_reason(reason: object, verdict_status: object) -> str:
    """A check's reason as outputs show it: without the promotion advice unless the run passed."""
    text = "" if reason is None else str(reason)
    return text if may_promote(verdict_status) else text.replace(_ADVICE, "")
