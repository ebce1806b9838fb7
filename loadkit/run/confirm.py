"""``--confirm N``: a run that fails only its baseline comparisons is run again, up to N more times, and
the comparisons judge the runs' values together, so one unlucky run does not fail a build.

Sequential: after each rerun the comparisons are judged on the combined values (the mean on the log
scale of every run so far, the predicted spread shrinking as ``1/n``: :func:`loadkit.verdict.compare.
predicted_sd`); it stops as soon as they no longer FAIL. A FAIL therefore has to hold at every look,
which keeps the false-FAIL rate at or below a single run's; a real regression keeps failing. A run
that fails an absolute check or a built-in one (a stall, an exception, a refused host) is not rerun:
the comparison is not what failed. The reruns are ordinary run folders; the first run's
``verdict.json``, report, JUnit and Markdown are rewritten with the combined verdict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..status import Outcome, RunStatus
from .runner import LoadRun, RunOutcome

__all__ = ["ConfirmedRun", "only_comparisons_failed"]


def only_comparisons_failed(outcome: RunOutcome) -> bool:
    """The run completed and FAILed, and every failing item is a blocking comparison with the baseline."""
    v = outcome.verdict
    if outcome.status != RunStatus.COMPLETE or v.status != Outcome.FAIL:
        return False
    own = [c for c in v.all_checks if c.status in (Outcome.FAIL, Outcome.NODATA, Outcome.ERROR)]
    return not own and any(c.status == Outcome.FAIL and c.blocking for c in v.comparisons)


class ConfirmedRun:
    """``LoadRun`` plus confirmation; ``make(rerun)`` builds the run (a rerun has no promotion or CI files)."""

    def __init__(self, make: Callable[[bool], LoadRun], times: int,
                 on_rerun: Callable[[int, RunOutcome], None] | None = None):
        self.make, self.times, self.on_rerun = make, times, on_rerun
        self.current: LoadRun | None = None
        self._stop: str | None = None

    def interrupt(self, reason: str = "interrupted by signal") -> None:
        self._stop = self._stop or reason
        if self.current is not None:
            self.current.interrupt(reason)

    def execute(self) -> RunOutcome:
        from ..report.publish import publish
        from ..verdict import judge_run

        self.current = first_run = self.make(False)
        first = first_run.execute()
        outcome, reruns = first, []
        while len(reruns) < self.times and self._stop is None and only_comparisons_failed(outcome):
            if self.on_rerun is not None:
                self.on_rerun(len(reruns) + 1, outcome)
            self.current = self.make(True)
            again = self.current.execute()
            if again.status != RunStatus.COMPLETE:  # an unusable rerun ends the confirmation; the first stands
                break
            reruns.append(again)
            o, s = first_run.options, first_run.scenario
            verdict = judge_run(first.paths.root, s.checks, s.compare, o.baselines, o.environment,
                                tuple(r.paths.root for r in reruns))
            published = publish(first.paths.root, verdict, baselines=o.baselines, environment=o.environment,
                                junit=o.junit, markdown_file=o.markdown, report=o.report)
            outcome = dataclasses.replace(first, verdict=verdict, files=published.files, warnings=published.warnings)
        return outcome
