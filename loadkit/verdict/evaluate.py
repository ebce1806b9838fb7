"""The verdict: each check against the summary, then one outcome for the build. Pure: no files, no clock.

Outcomes are a closed set (:class:`~loadkit.status.Outcome`), each with a reason a person can act on:
check: PASS, WARN (a ``severity: warn`` check that failed), FAIL, NODATA (nothing to judge:
no NODATA ever passes); verdict: PASS, WARN, FAIL, ERROR (the run itself is not valid).

:func:`judge` is the whole pipeline in one short function: the run's facts and its baseline runs
in, the comparisons and the configuration drift computed, one :class:`Verdict` out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..analysis import Stats, Summary
from ..analysis.health import GeneratorHealth
from ..baseline import aggregates_from_summary
from ..fingerprint import Change, drift
from ..parity import ParityMode, ParityResult, ParitySpec, entry_text
from ..parity import compare as parity_compare
from ..scenario.checks import Check, CompareCheck
from ..status import Outcome, RunStatus
from .compare import Comparison, combine, compare_all
from .truth import builtin_checks

__all__ = ["CheckResult", "Verdict", "RunFacts", "BaselineView", "evaluate", "judge", "parity_checks"]


@dataclass(frozen=True)
class RunFacts:
    """What judging needs to know of a finished run (read from its folder by :func:`~loadkit.verdict.judge_run`)."""

    run_id: str
    status: str
    reason: str
    summary: Summary | None
    metrics: dict = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # metric source → why it has no data
    warnings: tuple[str, ...] = ()
    fingerprint: dict[str, str] | None = None
    fingerprint_errors: tuple[str, ...] = ()
    fingerprint_sources: dict[str, str] = field(default_factory=dict)
    parity: ParitySpec | None = None  # the reference the scenario named, as the run read it
    exceptions: tuple[dict, ...] = ()  # uncaught exceptions in user code (summary.json ``exceptions``)
    refused: dict[str, int] = field(default_factory=dict)  # host → requests refused (not in allowed_hosts)
    generator: GeneratorHealth | None = None  # the load generator's health over the checked window


@dataclass(frozen=True)
class BaselineView:
    """The baseline runs a run is compared with, oldest first: their aggregates and the latest fingerprint."""

    label: str  # "scenario/environment"
    run_ids: tuple[str, ...] = ()
    aggregates: tuple[dict[str, float], ...] = ()
    latest_fingerprint: dict[str, str] | None = None
    notes: tuple[str, ...] = ()  # e.g. runs left out because they were recorded against another reference


@dataclass(frozen=True)
class CheckResult:
    check: str
    observed: float | None
    limit: float | None
    status: Outcome
    reason: str
    kind: str = "absolute"  # "absolute" (the scenario's) or "built-in" (every run: stall, schedule, …)

    def to_json(self) -> dict:
        return {"check": self.check, "key": None, "kind": self.kind, "observed": self.observed, "limit": self.limit,
                "status": self.status, "reason": self.reason, "baseline": None, "delta": None, "spread": None,
                "p_value": None, "interval": None, "baseline_runs": None, "blocking": self.status != Outcome.WARN,
                "improvement": False}


@dataclass(frozen=True)
class Verdict:
    status: Outcome
    reason: str
    checks: tuple[CheckResult, ...]
    comparisons: tuple[Comparison, ...] = ()
    drift: tuple[Change, ...] = ()
    notes: tuple[str, ...] = field(default=())
    builtins: tuple[CheckResult, ...] = ()  # what every run is judged on (stall, schedule, exceptions, hosts)
    parity: ParityResult | None = None  # how this environment differs from the scenario's reference
    parity_checks: tuple[CheckResult, ...] = ()  # one per must_match glob


    @property
    def improvements(self) -> tuple[Comparison, ...]:
        return tuple(c for c in self.comparisons if c.improvement)

    @property
    def all_checks(self) -> tuple[CheckResult, ...]:
        return self.builtins + self.parity_checks + self.checks

    def to_json(self) -> dict:
        return {"status": self.status, "reason": self.reason,
                "checks": [c.to_json() for c in self.all_checks] + [c.to_json() for c in self.comparisons],
                "drift": [d.to_json() for d in self.drift], "notes": list(self.notes),
                "parity": None if self.parity is None else self.parity.to_json()}


def parity_checks(p: ParityResult) -> tuple[CheckResult, ...]:
    """One check per ``must_match`` glob: FAIL (WARN with ``parity: warn``) naming each key and both values."""
    out = []
    for glob, keys in p.must_match:
        name = f"parity must_match {glob}"
        failing = p.failing(glob)
        if not keys:
            out.append(CheckResult(name, None, None, Outcome.FAIL, f"matches no key of {p.reference} or of this "
                                                                   "environment", "parity"))
        elif failing:
            status = Outcome.WARN if p.mode == ParityMode.WARN else Outcome.FAIL
            why = "; ".join(entry_text(e, tag=False) for e in failing)
            out.append(CheckResult(name, None, None, status, why + ("; parity: warn" if status == Outcome.WARN else ""),
                                   "parity"))
        else:
            out.append(CheckResult(name, None, None, Outcome.PASS, f"{len(keys)} key(s) as in {p.reference}", "parity"))
    return tuple(out)


def observe(check: Check, summary: Summary, metrics: dict | None = None,
            missing: dict[str, str] | None = None) -> tuple[float | None, str]:
    """The value a check looks at, or None with the reason there is none."""
    if check.kind == "metric":
        assert check.metric is not None
        series = (metrics or {}).get(check.metric)
        source = check.metric.split(".", 1)[0].split("{", 1)[0]
        if series is None or series.get(check.stat) is None:
            why = (missing or {}).get(source)
            if why:
                return None, f"metric source {source!r} failed: {why}"
            if series is not None:
                return None, f"{check.stat} is not defined for {check.metric} (a gauge has no per-request total)"
            return None, f"no samples of {check.metric} in the checked window"
        return float(series[check.stat]), ""
    scope = "" if check.endpoint is None else f" to endpoint {check.endpoint!r}"
    if check.endpoint is None:
        stats: Stats | None = summary.requests
    elif check.endpoint.startswith("group="):
        group = check.endpoint.split("=", 1)[1]
        stats, scope = summary.groups.get(group), f" in group {group!r}"
    else:
        stats, why = summary.lookup(check.endpoint)
        if stats is None:
            return None, why
    if stats is None or stats.total == 0:
        return None, f"no requests{scope} in the checked window"
    if check.kind == "error_rate":
        return stats.error_rate, ""
    if check.kind == "rps":
        return stats.rps, ""
    if check.kind == "requests":
        return float(stats.total), ""
    if check.kind == "failures":
        return float(stats.failures), ""
    lat = stats.latency_ms
    if lat is None:
        return None, f"no successful request{scope} in the checked window ({stats.failures} failed)"
    return lat.get(check.stat or ""), ""


def judge_check(check: Check, summary: Summary, metrics: dict | None = None,
                missing: dict[str, str] | None = None) -> CheckResult:
    observed, why = observe(check, summary, metrics, missing)
    if observed is None:
        if check.nodata == "warn":
            return CheckResult(check.text, None, check.threshold, Outcome.WARN, f"no data ({why}); nodata: warn")
        return CheckResult(check.text, None, check.threshold, Outcome.NODATA, why)
    shown, limit = check.format_value(observed), check.format_value(check.threshold)
    if check.holds(observed):
        return CheckResult(check.text, observed, check.threshold, Outcome.PASS, f"{shown} {check.op} {limit}")
    status = Outcome.WARN if check.severity == "warn" else Outcome.FAIL
    return CheckResult(check.text, observed, check.threshold, status, f"observed {shown}, limit {check.op} {limit}")


def evaluate(checks: tuple[Check, ...], summary: Summary | None, run_status: str, run_reason: str = "",
             comparisons: Sequence[Comparison] = (), drift: Sequence[Change] = (),
             notes: Sequence[str] = (), metrics: dict | None = None, missing: dict[str, str] | None = None, *,
             exceptions: Sequence[dict] = (), refused: dict[str, int] | None = None,
             generator: GeneratorHealth | None = None, parity: ParityResult | None = None) -> Verdict:
    """One verdict for the build. A run that is not valid is ERROR (aborted: FAIL), never PASS.

    The built-in checks (:mod:`.truth`) come first: a stalled target, a schedule not kept, an
    exception in user code or a refused host can never be PASS. Comparisons with the baseline
    count like checks, except NODATA for want of a baseline, which is reported but does not block.
    """
    comparing = any(c.blocking for c in comparisons)
    builtins = tuple(CheckResult(name, None, None, status, reason, "built-in") for name, status, reason in
                     builtin_checks(summary, list(exceptions), dict(refused or {}), generator, comparing)) \
        if summary is not None and summary.run_total else ()
    results = tuple(judge_check(c, summary, metrics, missing) for c in checks) if summary is not None else ()
    comps, drift_t, notes_t = tuple(comparisons), tuple(drift), tuple(notes)
    matched = parity_checks(parity) if parity is not None else ()

    def verdict(status: Outcome, reason: str) -> Verdict:
        return Verdict(status, reason, results, comps, drift_t, notes_t, builtins, parity, matched)

    if run_status == RunStatus.INTERRUPTED:
        return verdict(Outcome.ERROR, run_reason or "the run was interrupted before it finished")
    if run_status == RunStatus.ERROR:
        return verdict(Outcome.ERROR, run_reason or "the run ended in error")
    if run_status == RunStatus.ABORTED:
        return verdict(Outcome.FAIL, run_reason or "the run was aborted")
    if summary is None or summary.run_total == 0:
        return verdict(Outcome.ERROR, "no request completed")
    if summary.run_total == summary.run_failures:
        example = summary.errors[0][1] if summary.errors else "unknown error"
        return verdict(Outcome.ERROR, f"no request succeeded ({summary.run_total} failed; e.g. {example})")
    broken = [r for r in builtins if r.status == Outcome.ERROR]
    if broken:
        return verdict(Outcome.ERROR, "; ".join(f"{r.check}: {r.reason}" for r in broken))
    judged = [(r.check, r.status, r.reason, True) for r in builtins + matched + results]
    judged += [(c.name, c.status, c.reason, c.blocking) for c in comps]
    failed = [j for j in judged if j[1] == Outcome.FAIL or (j[1] == Outcome.NODATA and j[3])]
    if failed:
        return verdict(Outcome.FAIL, f"{len(failed)} of {len(judged)} checks failed: " + "; ".join(
            f"{name} ({why})" for name, _, why, _ in failed))
    warned = [j for j in judged if j[1] == Outcome.WARN]
    if warned:
        return verdict(Outcome.WARN, "; ".join(f"{name} ({why})" for name, _, why, _ in warned))
    decided = [j for j in judged[len(builtins):] if j[1] != Outcome.NODATA]
    if not decided:
        return verdict(Outcome.WARN, "no checks defined: the run completed but nothing was asserted")
    watches_errors = any(c.kind in ("error_rate", "failures") for c in checks) or any(
        c.key.startswith("error_rate") for c in comps)
    if summary.requests.failures and not watches_errors:  # latency of successes alone must not hide failures
        return verdict(Outcome.WARN, f"all {len(decided)} checks passed, but {summary.requests.failures} of "
                               f"{summary.requests.total} checked requests failed and no check looks at errors "
                               "(add e.g. \"error_rate < 1%\")")
    return verdict(Outcome.PASS, f"all {len(decided)} checks passed")


def _aggregates(facts: RunFacts) -> dict[str, float]:
    assert facts.summary is not None
    return aggregates_from_summary({**facts.summary.to_json(), "metrics": facts.metrics})


def judge(facts: RunFacts, checks: tuple[Check, ...], compare: tuple[CompareCheck, ...],
          baseline: BaselineView | None, also: Sequence[RunFacts] = ()) -> Verdict:
    """The verdict of a run: its checks, its comparison with the baseline runs, its configuration drift.

    ``also``: reruns of the same scenario (``--confirm``) whose values are combined with this run's for
    the comparisons; the run's own checks are judged on the run alone."""
    notes = list(facts.warnings) + list(baseline.notes if baseline is not None else ())
    comparisons: list[Comparison] = []
    changes: list[Change] = []
    summary = facts.summary
    if summary is not None and (compare or baseline is not None):
        base = baseline or BaselineView("")
        extra = [f for f in also if f.summary is not None]
        current = combine([_aggregates(facts), *map(_aggregates, extra)]) if extra else _aggregates(facts)
        comparisons = compare_all(compare, current, list(base.aggregates), sorted(summary.endpoints), 1 + len(extra))
        if extra:
            notes.append(f"comparisons over {1 + len(extra)} runs combined (--confirm): {facts.run_id}, "
                         + ", ".join(f.run_id for f in extra))
        if compare:
            notes.append(f"baseline {base.label}: {len(base.run_ids)} run(s)"
                         + (f", latest {base.run_ids[-1]}" if base.run_ids else ""))
        if base.run_ids and facts.fingerprint is not None:
            changes = drift(base.latest_fingerprint or {}, facts.fingerprint)
            notes += [f"environment fingerprint incomplete: {e}" for e in facts.fingerprint_errors]
    parity = None
    if facts.parity is not None and facts.fingerprint is None:
        notes.append(f"parity with {facts.parity.reference.name} not checked: the target's configuration was not "
                     "read (no environment.json)")
    elif facts.parity is not None:  # the configuration read before the load, against the reference
        parity = parity_compare(facts.parity, facts.fingerprint or {}, facts.fingerprint_sources,
                                facts.fingerprint_errors)
    return evaluate(checks, summary, facts.status, facts.reason, comparisons, changes, notes, facts.metrics,
                    facts.missing, exceptions=facts.exceptions, refused=facts.refused, generator=facts.generator,
                    parity=parity)
