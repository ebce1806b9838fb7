"""The verdict: each check against the summary, then one status for the build.

Outcomes are a closed set, each with a reason a person can act on:
check: PASS, WARN (a ``severity: warn`` check that failed), FAIL, NODATA (nothing to judge:
no NODATA ever passes); verdict: PASS, WARN, FAIL, ERROR (the run itself is not valid).
"""

from __future__ import annotations

from dataclasses import dataclass

from .analysis import Stats, Summary
from .checks import Check

__all__ = ["CheckResult", "Verdict", "evaluate"]


@dataclass(frozen=True)
class CheckResult:
    check: str
    observed: float | None
    limit: float
    status: str
    reason: str

    def to_json(self) -> dict:
        return {"check": self.check, "observed": self.observed, "limit": self.limit,
                "status": self.status, "reason": self.reason}


@dataclass(frozen=True)
class Verdict:
    status: str
    reason: str
    checks: tuple[CheckResult, ...]

    def to_json(self) -> dict:
        return {"status": self.status, "reason": self.reason, "checks": [c.to_json() for c in self.checks]}


def observe(check: Check, summary: Summary) -> tuple[float | None, str]:
    """The value a check looks at, or None with the reason there is none."""
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


def judge(check: Check, summary: Summary) -> CheckResult:
    observed, why = observe(check, summary)
    if observed is None:
        return CheckResult(check.text, None, check.threshold, "NODATA", why)
    shown, limit = check.format_value(observed), check.format_value(check.threshold)
    if check.holds(observed):
        return CheckResult(check.text, observed, check.threshold, "PASS", f"{shown} {check.op} {limit}")
    status = "WARN" if check.severity == "warn" else "FAIL"
    return CheckResult(check.text, observed, check.threshold, status, f"observed {shown}, limit {check.op} {limit}")


def evaluate(checks: tuple[Check, ...], summary: Summary | None, run_status: str, run_reason: str = "") -> Verdict:
    """One verdict for the build. A run that is not valid is ERROR, never PASS."""
    results = tuple(judge(c, summary) for c in checks) if summary is not None else ()
    if run_status == "interrupted":
        return Verdict("ERROR", run_reason or "the run was interrupted before it finished", results)
    if run_status in ("error", "aborted"):
        return Verdict("ERROR" if run_status == "error" else "FAIL", run_reason or f"the run ended: {run_status}", results)
    if summary is None or summary.run_total == 0:
        return Verdict("ERROR", "no request completed", results)
    if summary.run_total == summary.run_failures:
        example = summary.errors[0][1] if summary.errors else "unknown error"
        return Verdict("ERROR", f"no request succeeded ({summary.run_total} failed; e.g. {example})", results)
    failed = [r for r in results if r.status in ("FAIL", "NODATA")]
    if failed:
        return Verdict("FAIL", f"{len(failed)} of {len(results)} checks failed: " + "; ".join(
            f"{r.check} ({r.reason})" for r in failed), results)
    warned = [r for r in results if r.status == "WARN"]
    if warned:
        return Verdict("WARN", "; ".join(f"{r.check} ({r.reason})" for r in warned), results)
    if not results:
        return Verdict("WARN", "no checks defined: the run completed but nothing was asserted", results)
    return Verdict("PASS", f"all {len(results)} checks passed", results)
