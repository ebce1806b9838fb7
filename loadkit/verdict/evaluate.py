"""The verdict: each check against the summary, then one status for the build.

Outcomes are a closed set, each with a reason a person can act on:
check: PASS, WARN (a ``severity: warn`` check that failed), FAIL, NODATA (nothing to judge:
no NODATA ever passes); verdict: PASS, WARN, FAIL, ERROR (the run itself is not valid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..analysis import Stats, Summary
from ..fingerprint import Change
from ..scenario.checks import Check
from .compare import Comparison

__all__ = ["CheckResult", "Verdict", "evaluate"]


@dataclass(frozen=True)
class CheckResult:
    check: str
    observed: float | None
    limit: float
    status: str
    reason: str

    def to_json(self) -> dict:
        return {"check": self.check, "key": None, "kind": "absolute", "observed": self.observed, "limit": self.limit,
                "status": self.status, "reason": self.reason, "baseline": None, "delta": None, "spread": None,
                "p_value": None, "interval": None, "baseline_runs": None, "blocking": self.status != "WARN",
                "improvement": False}


@dataclass(frozen=True)
class Verdict:
    status: str
    reason: str
    checks: tuple[CheckResult, ...]
    comparisons: tuple[Comparison, ...] = ()
    drift: tuple[Change, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def improvements(self) -> tuple[Comparison, ...]:
        return tuple(c for c in self.comparisons if c.improvement)

    def to_json(self) -> dict:
        return {"status": self.status, "reason": self.reason,
                "checks": [c.to_json() for c in self.checks] + [c.to_json() for c in self.comparisons],
                "drift": [d.to_json() for d in self.drift], "notes": list(self.notes)}


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
    stats: Stats | None = summary.requests if check.endpoint is None else summary.endpoints.get(check.endpoint)
    scope = "" if check.endpoint is None else f" to endpoint {check.endpoint!r}"
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
    if check.stat in ("min", "mean", "max"):
        return getattr(lat, check.stat), ""
    key = {"p50": "p50", "median": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "p99.9": "p99_9"}.get(check.stat or "")
    if key:
        return getattr(lat, key), ""
    return None, f"{check.stat} is not in the summary"


def judge(check: Check, summary: Summary, metrics: dict | None = None,
          missing: dict[str, str] | None = None) -> CheckResult:
    observed, why = observe(check, summary, metrics, missing)
    if observed is None:
        if check.nodata == "warn":
            return CheckResult(check.text, None, check.threshold, "WARN", f"no data ({why}); nodata: warn")
        return CheckResult(check.text, None, check.threshold, "NODATA", why)
    shown, limit = check.format_value(observed), check.format_value(check.threshold)
    if check.holds(observed):
        return CheckResult(check.text, observed, check.threshold, "PASS", f"{shown} {check.op} {limit}")
    status = "WARN" if check.severity == "warn" else "FAIL"
    return CheckResult(check.text, observed, check.threshold, status, f"observed {shown}, limit {check.op} {limit}")


def evaluate(checks: tuple[Check, ...], summary: Summary | None, run_status: str, run_reason: str = "",
             comparisons: Sequence[Comparison] = (), drift: Sequence[Change] = (),
             notes: Sequence[str] = (), metrics: dict | None = None, missing: dict[str, str] | None = None) -> Verdict:
    """One verdict for the build. A run that is not valid is ERROR (aborted: FAIL), never PASS.

    Comparisons with the baseline count like checks, except NODATA for want of a baseline,
    which is reported but does not block: the absolute checks still decide.
    """
    results = tuple(judge(c, summary, metrics, missing) for c in checks) if summary is not None else ()
    comps, drift_t, notes_t = tuple(comparisons), tuple(drift), tuple(notes)

    def verdict(status: str, reason: str) -> Verdict:
        return Verdict(status, reason, results, comps, drift_t, notes_t)

    if run_status == "interrupted":
        return verdict("ERROR", run_reason or "the run was interrupted before it finished")
    if run_status == "error":
        return verdict("ERROR", run_reason or "the run ended in error")
    if run_status == "aborted":
        return verdict("FAIL", run_reason or "the run was aborted")
    if summary is None or summary.run_total == 0:
        return verdict("ERROR", "no request completed")
    if summary.run_total == summary.run_failures:
        example = summary.errors[0][1] if summary.errors else "unknown error"
        return verdict("ERROR", f"no request succeeded ({summary.run_total} failed; e.g. {example})")
    judged = [(r.check, r.status, r.reason, True) for r in results]
    judged += [(c.name, c.status, c.reason, c.blocking) for c in comps]
    failed = [j for j in judged if j[1] == "FAIL" or (j[1] == "NODATA" and j[3])]
    if failed:
        return verdict("FAIL", f"{len(failed)} of {len(judged)} checks failed: " + "; ".join(
            f"{name} ({why})" for name, _, why, _ in failed))
    warned = [j for j in judged if j[1] == "WARN"]
    if warned:
        return verdict("WARN", "; ".join(f"{name} ({why})" for name, _, why, _ in warned))
    decided = [j for j in judged if j[1] != "NODATA"]
    if not decided:
        return verdict("WARN", "no checks defined: the run completed but nothing was asserted")
    watches_errors = any(c.kind in ("error_rate", "failures") for c in checks) or any(
        c.key.startswith("error_rate") for c in comps)
    if summary.requests.failures and not watches_errors:  # latency of successes alone must not hide failures
        return verdict("WARN", f"all {len(decided)} checks passed, but {summary.requests.failures} of "
                               f"{summary.requests.total} checked requests failed and no check looks at errors "
                               "(add e.g. \"error_rate < 1%\")")
    return verdict("PASS", f"all {len(decided)} checks passed")
