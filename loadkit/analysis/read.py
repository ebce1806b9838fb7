"""Summarising a run folder: the thin I/O shell over :class:`~loadkit.analysis.summary.SummaryBuilder`.

The samples are read one row group at a time, endpoints and methods dictionary-encoded, so memory
stays flat whatever the length of the run.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..runfolder import RunPaths, iter_samples
from .summary import OpenPlan, Summary, SummaryBuilder

__all__ = ["summarize_run"]

_COLUMNS = ("ts", "endpoint", "method", "latency_ms", "error", "intended_ts", "worker")


def summarize_run(paths: RunPaths, window_start: float, window_end: float, top_errors: int = 20, *,
                  run: tuple[float, float] | None = None, groups: dict[str, str] | None = None,
                  plan: OpenPlan | None = None, disturbed: Sequence[float] = ()) -> Summary:
    """The summary of the run's samples (``samples.parquet``, or the parts of an unfinished run)."""
    builder = SummaryBuilder((window_start, window_end), run or (window_start, window_end), groups, plan, top_errors,
                             disturbed=disturbed)
    for batch in iter_samples(paths, _COLUMNS, dictionary=("endpoint", "method", "worker")):
        builder.add(batch)
    return builder.result()
