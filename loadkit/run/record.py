"""``loadkit baseline record SCENARIO --runs N``: start a baseline with N accepted runs, spaced in time.

A comparison needs the run-to-run noise, and runs recorded back to back understate it (the machine's
load drifts over minutes: CPU per request moved 6.5 % over an hour and 1.5 % within ten consecutive
runs, issue 12). Spacing the runs (``--every``) lets the baseline see that drift. Each run is promoted
as ``--promote-on-pass`` would: judged against the runs already in the baseline, refused when it fails
or is an outlier among them (the reason is kept and shown), so a neighbour's burst does not join.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..baseline import BaselineStore
from ..errors import ConfigError
from ..status import Outcome, RunStatus
from .runner import LoadRun, RunOutcome

__all__ = ["Recorded", "record_baseline"]


@dataclass(frozen=True)
class Recorded:
    outcome: RunOutcome
    promoted: bool
    reason: str  # why it was not promoted ("" when it was)


def record_baseline(make: Callable[[], LoadRun], runs: int, every: float, store: BaselineStore, environment: str, *,
                    clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                    now: Callable[[], float] = time.time,
                    on_run: Callable[[int, Recorded], None] | None = None,
                    stopped: Callable[[], bool] = lambda: False) -> list[Recorded]:
    """Run ``make()`` ``runs`` times, starts ``every`` seconds apart, promoting each run that may join."""
    from ..verdict.promote import promote_run

    done: list[Recorded] = []
    for i in range(runs):
        if stopped():
            break
        began = clock()
        outcome = make().execute()
        if outcome.status != RunStatus.COMPLETE or outcome.verdict.status not in (Outcome.PASS, Outcome.WARN):
            rec = Recorded(outcome, False, f"the run is {outcome.status}, verdict {outcome.verdict.status}: "
                                           f"{outcome.verdict.reason}")
        else:
            try:
                promote_run(store, outcome.paths.root, environment, now())
                rec = Recorded(outcome, True, "")
            except ConfigError as exc:
                rec = Recorded(outcome, False, str(exc))
        done.append(rec)
        if on_run is not None:
            on_run(i + 1, rec)
        if i + 1 < runs and every > 0:
            sleep(max(0.0, began + every - clock()))
    return done
