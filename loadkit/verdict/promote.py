"""Promotion into a baseline: the run is judged against the baseline it joins, not against whatever its
``verdict.json`` says.

A run that FAILED its comparison can be re-judged against an empty folder (``loadkit compare RUN
--baselines EMPTY``) and so carry a PASS; promoting on that verdict would launder a regression into
the baseline. Here the run is judged again, purely, against the very runs it would join; only a
PASS or WARN joins, and only when it is not an outlier among those runs (a run measured during a
neighbour's burst would otherwise join as "accepted"; :func:`~loadkit.verdict.compare.outliers`).
``--force`` accepts anything and marks the record forced.
"""

from __future__ import annotations

from pathlib import Path

from ..baseline import BaselineRun, BaselineStore
from ..errors import ConfigError
from ..runfolder import RunPaths, read_json
from ..status import Outcome
from .compare import OUTLIER_Z, outliers
from .evaluate import judge
from .judge import baseline_view, checks_from_manifest, read_facts, reference_identity

__all__ = ["promote_run"]


def promote_run(store: BaselineStore, run_dir: Path, environment: str, now: float,
                force: bool = False) -> tuple[BaselineRun, list[str]]:
    """Judge ``run_dir`` against ``store``'s baseline for ``environment``, then add it; ConfigError when refused."""
    if not force:
        manifest = read_json(RunPaths(Path(run_dir)).manifest)
        checks, compare = checks_from_manifest(manifest)
        facts = read_facts(run_dir)
        view = baseline_view(store, manifest["scenario"]["name"], environment, facts.run_id,
                             reference_identity(manifest))
        verdict = judge(facts, checks, compare, view)
        if verdict.status not in (Outcome.PASS, Outcome.WARN):
            raise ConfigError(f"{run_dir}: judged against the {view.label} baseline it would join "
                              f"({len(view.run_ids)} runs) the verdict is {verdict.status}: {verdict.reason}; "
                              "only passing runs become baselines (--force to override)")
        odd = outliers(verdict.comparisons)
        if odd:
            raise ConfigError(f"{run_dir}: an outlier among the {len(view.run_ids)} runs of the {view.label} baseline "
                              f"(more than {OUTLIER_Z:g} noise widths from their median): {'; '.join(odd)}; a "
                              "neighbour's burst or a real change: rerun, or --force to accept it")
    return store.promote(run_dir, environment, now, force=force)
