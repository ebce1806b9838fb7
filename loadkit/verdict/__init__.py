"""The verdict: checks and comparisons with the baseline, turned into one outcome for the build.

``evaluate`` is pure (summary + checks + baseline → :class:`Verdict`), ``compare`` is the noise
test against the baseline runs, ``judge`` reads a run folder, calls them and writes ``verdict.json``.
Nothing here imports Locust.
"""

from .compare import Comparison, compare_all
from .evaluate import BaselineView, CheckResult, RunFacts, Verdict, evaluate, judge
from .judge import baseline_view, checks_from_manifest, judge_run, read_facts

__all__ = ["Verdict", "CheckResult", "Comparison", "RunFacts", "BaselineView", "evaluate", "judge", "compare_all",
           "judge_run", "checks_from_manifest", "read_facts", "baseline_view"]
