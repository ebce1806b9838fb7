"""What every run is judged on before its own checks: did it measure what the scenario asked for?

Built-in checks, pure, each a :class:`~loadkit.verdict.evaluate.CheckResult` shown beside the
scenario's own checks (so JUnit, Markdown and the report list them):

* **stall**: no stretch of the checked window in which nothing completed while requests were in
  flight. A target that hangs mid-run fails, with the stretch and the requests left waiting.
* **schedule** (open model): the planned starts started on time. When they did not, the cause is
  named: the generator itself saturated (its CPU or its event loop; more workers would help) is an
  ERROR of the instrument; every user busy waiting on the target (Little's law: rate × latency >
  concurrency) is a FAIL of the target.
* **exceptions**: user code raised; the load was not the one the scenario describes.
* **hosts**: requests were refused because their host is not in ``allowed_hosts``.
* **measurement** (runs compared with a baseline): more than half of the checked window's slices
  had a disturbed generator (its event loop late, CPU stolen, the machine saturated), so what is
  left is too little to compare with: ERROR "measurement disturbed", rerun. Fewer disturbed
  slices are set aside and the comparison uses the rest (:mod:`loadkit.analysis.windows`).
"""

from __future__ import annotations

from ..analysis.health import SATURATED_CPU, GeneratorHealth
from ..analysis.summary import LATE_S, OpenModelSummary, Summary
from ..analysis.windows import DISTURBED_BUSY, DISTURBED_LAG_MS, DISTURBED_OTHERS, DISTURBED_STEAL
from ..status import Outcome
from ..units import format_value

__all__ = ["BuiltIn", "builtin_checks", "LATE_SHARE", "DISTURBED_SHARE"]

#: More late or never-started requests than this share of the schedule means the planned load was not applied.
LATE_SHARE = 0.02
#: More disturbed slices than this share of the checked window: too little undisturbed time to compare.
DISTURBED_SHARE = 0.5


class BuiltIn:
    """The names of the built-in checks, as they appear beside the scenario's checks."""

    STALL = "no stall (requests keep completing)"
    SCHEDULE = "open-model schedule kept"
    EXCEPTIONS = "no uncaught exception in user code"
    HOSTS = "only allowed hosts"
    MEASUREMENT = "measurement"


def _stall(summary: Summary) -> tuple[Outcome, str]:
    if not summary.stalls:
        return Outcome.PASS, "requests completed throughout the checked window"
    s = max(summary.stalls, key=lambda x: x.seconds)
    tail = (f"; {summary.inflight_at_end} request(s) were still in flight when the load stopped "
            "(recorded as failures 'in flight at end of run')") if summary.inflight_at_end else ""
    more = f" ({len(summary.stalls)} such stretches)" if len(summary.stalls) > 1 else ""
    return Outcome.FAIL, (f"no request completed from {s.start:.1f}s to {s.end:.1f}s of the run ({s.seconds:.1f}s) "
                          f"while {s.inflight} or more were in flight: the target stopped answering{more}{tail}")


def _schedule(om: OpenModelSummary, gen: GeneratorHealth | None) -> tuple[Outcome, str]:
    behind = om.late + om.dropped
    if om.scheduled == 0 or behind <= max(2, LATE_SHARE * om.scheduled):
        return Outcome.PASS, (f"{om.started} of {om.scheduled} scheduled starts, {om.late} late by more than "
                              f"{LATE_S * 1000:.0f} ms")
    what = (f"{om.late} of {om.scheduled} scheduled starts were late by more than {LATE_S * 1000:.0f} ms "
            f"(p95 {format_value('latency', (om.late_p95_s or 0) * 1000)}, max "
            f"{format_value('latency', (om.late_max_s or 0) * 1000)}) and {om.dropped} never started")
    if gen is not None and gen.known and (gen.saturated_share >= 0.2 or gen.lagging_share >= 0.2):
        return Outcome.ERROR, (
            f"the load generator could not keep the schedule: {what}; it ran or waited for a CPU "
            f"{SATURATED_CPU:g}% of a core or more in {gen.saturated_s} of {gen.seconds} s (CPU p95 "
            f"{gen.cpu_p95 or 0:.0f}%, waiting for a CPU {gen.wait_mean or 0:.0f}% of the time) and its event loop "
            f"lagged up to {gen.lag_max_ms or 0:.0f} ms, so this measures the generator, not the target: add "
            "--workers or give it a core")
    needed = ""
    if om.mean_latency_s is not None and om.intended:
        rate = om.scheduled / (len(om.intended) * om.interval)
        needed = (f"; at {rate:.1f}/s and a mean latency of {format_value('latency', om.mean_latency_s * 1000)}, "
                  f"Little's law needs {rate * om.mean_latency_s:.0f} users at once, more than the "
                  f"{om.concurrency} of load.concurrency")
    return Outcome.FAIL, (f"the target was too slow for the planned rate: {what}, because all {om.concurrency} users "
                          f"were busy waiting on it{needed}. Latency counts from each request's intended start, so "
                          "the waiting is in the percentiles")


def _exceptions(exceptions: list[dict]) -> tuple[Outcome, str]:
    if not exceptions:
        return Outcome.PASS, "none"
    n = sum(int(e.get("count", 0)) for e in exceptions)
    top = exceptions[0]
    where = f" at {top['where']}" if top.get("where") else ""
    return Outcome.FAIL, (f"{n} uncaught exception(s) in user code, e.g. {top.get('message', '')!s}{where} "
                          f"({len(exceptions)} kind(s); see summary.json exceptions): the users did not run as written")


def _hosts(refused: dict[str, int]) -> tuple[Outcome, str]:
    if not refused:
        return Outcome.PASS, "no request went to a host outside target.allowed_hosts"
    hosts = ", ".join(f"{h} ({n})" for h, n in sorted(refused.items(), key=lambda kv: -kv[1]))
    return Outcome.FAIL, (f"{sum(refused.values())} request(s) refused before they were sent, their host is not in "
                          f"target.allowed_hosts: {hosts}")


def _measurement(summary: Summary, gen: GeneratorHealth | None) -> tuple[Outcome, str]:
    robust = summary.robust
    if robust is None:
        return Outcome.PASS, "no slices recorded (a summary from before slices): the whole window is compared"
    bad, n, width = len(robust.excluded), robust.slices, robust.width
    if robust.disturbed_share <= DISTURBED_SHARE and robust.requests.total:
        kept = f"{n - bad} of {n} slices of {width:g} s compared"
        return Outcome.PASS, kept + (f"; {bad} with a disturbed generator set aside" if bad else "")
    seen = ""
    if gen is not None and gen.known:
        seen = (f" (event-loop lag up to {gen.lag_max_ms or 0:.0f} ms, steal {gen.steal_mean or 0:.1f}%, "
                f"machine {gen.host_cpu_mean or 0:.0f}% busy on average)")
    return Outcome.ERROR, (
        f"disturbed in {bad} of {n} slices of {width:g} s{seen}: the generator's event loop ran "
        f"{DISTURBED_LAG_MS:g} ms late, {DISTURBED_STEAL:g}% of the CPU was stolen, or other processes used "
        f"{DISTURBED_OTHERS:g}% of all cores while the machine was {DISTURBED_BUSY:g}% busy, so the latencies are "
        "the machine's, not the target's; rerun when the machine is quieter, or give the generator its own core")


def builtin_checks(summary: Summary, exceptions: list[dict], refused: dict[str, int],
                   generator: GeneratorHealth | None, comparing: bool = False) -> list[tuple[str, Outcome, str]]:
    """(name, outcome, reason) of every built-in check that applies to this run; ``comparing``: the run is
    judged against baseline runs, so its measurement must be undisturbed."""
    out = [(BuiltIn.STALL, *_stall(summary))]
    if summary.open_model is not None:
        out.append((BuiltIn.SCHEDULE, *_schedule(summary.open_model, generator)))
    out.append((BuiltIn.EXCEPTIONS, *_exceptions(exceptions)))
    if refused:
        out.append((BuiltIn.HOSTS, *_hosts(refused)))
    if comparing:
        out.append((BuiltIn.MEASUREMENT, *_measurement(summary, generator)))
    return out
