"""The closed sets of outcomes, as types (Kayenta's judge: every outcome is one of a few, each with a reason).

``RunStatus`` is what happened to the load; ``Outcome`` is what a check, a comparison or the
whole verdict concluded. Both are ``str`` subclasses, so they are written to JSON as their value.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["RunStatus", "Outcome", "EXIT_CODES", "exit_code"]


class _StrEnum(str, Enum):
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class RunStatus(_StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    ABORTED = "aborted"
    ERROR = "error"


class Outcome(_StrEnum):
    """PASS, WARN, FAIL, NODATA (a check with nothing to judge) and ERROR (a verdict on an invalid run)."""

    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    NODATA = "NODATA"
    ERROR = "ERROR"


EXIT_CODES = {Outcome.PASS: 0, Outcome.WARN: 0, Outcome.FAIL: 1, Outcome.NODATA: 1, Outcome.ERROR: 3}


def exit_code(outcome: str, run_status: str = RunStatus.COMPLETE) -> int:
    """0 PASS/WARN, 1 FAIL, 3 ERROR; 130 when the run was interrupted."""
    if run_status == RunStatus.INTERRUPTED:
        return 130
    return EXIT_CODES.get(Outcome(outcome), 3) if outcome in Outcome._value2member_map_ else 3
