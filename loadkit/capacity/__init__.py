"""Capacity planning with the Universal Scalability Law (Gunther, *Guerrilla Capacity Planning*, 2007).

Measured load levels (a CSV file or loadkit run folders) → a USL fit (σ contention, κ coherency,
λ single-user throughput, the peak N*) → headroom against a planned peak → a report. See
docs/capacity.md.

    points = load_points(["results/run-a", "results/run-b", ...])
    report = analyze(points, peak_rps=120, growth=1.5, latency_limit_ms=300)
    write_report(report, "capacity.html")
"""

from .inputs import Point, Stage, load_points, points_from_run, points_from_runs, read_points_csv, stages_from_manifest
from .report import CapacityReport, analyze, chart_png, render_text, report_html, report_markdown, write_report
from .usl import Headroom, LatencyMatch, UslFit, fit_usl, headroom, latency_match, usl_throughput

__all__ = ["Point", "Stage", "load_points", "points_from_run", "points_from_runs", "read_points_csv",
           "stages_from_manifest", "CapacityReport", "analyze", "chart_png", "render_text", "report_html",
           "report_markdown", "write_report", "Headroom", "LatencyMatch", "UslFit", "fit_usl", "headroom",
           "latency_match", "usl_throughput"]
