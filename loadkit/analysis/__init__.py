"""Analysis: exact statistics over full-resolution samples, metric summaries, log histograms.

Pure functions over arrays returning frozen dataclasses (``summary``, ``metrics``, ``histogram``),
plus the thin shell that reads a run folder (``read``).
"""

from .histogram import LogHistogram
from .metrics import per_request_factor, summarize_metrics
from .read import summarize_run
from .summary import LatencyStats, Stats, Summary, latency_stats, summarize, summarize_coded

__all__ = ["LatencyStats", "Stats", "Summary", "summarize", "summarize_coded", "latency_stats", "summarize_metrics",
           "per_request_factor", "summarize_run", "LogHistogram"]
