"""Analysis: exact statistics over full-resolution samples, metric summaries, log histograms.

Pure functions over arrays returning frozen dataclasses (``summary``, ``metrics``, ``histogram``),
plus the thin shell that reads a run folder (``read``).
"""

from .histogram import LogHistogram
from .metrics import per_request_factor, summarize_metrics
from .read import summarize_run
from .summary import (
    INFLIGHT,
    LATE_S,
    LatencyStats,
    OpenModelSummary,
    OpenPlan,
    RunPart,
    Stall,
    Stats,
    Summary,
    SummaryBuilder,
    Timeline,
    bin_width,
    endpoint_key,
    summarize,
)

__all__ = ["LatencyStats", "Stats", "Summary", "RunPart", "Stall", "Timeline", "OpenPlan", "OpenModelSummary",
           "SummaryBuilder", "summarize", "endpoint_key", "bin_width", "INFLIGHT", "LATE_S", "summarize_metrics",
           "per_request_factor", "summarize_run", "LogHistogram"]
