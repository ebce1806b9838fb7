"""Capacity planning with the Universal Scalability Law (Gunther, *Guerrilla Capacity Planning*, 2007).

Measured load levels (a CSV file or loadkit run folders) → what limited each step (generator or
target) → a USL fit (σ contention, κ coherency, λ single-user throughput) with 95 % intervals for
every figure → what the data can and cannot decide → headroom against a planned peak, the
latency view, and whether repeated runs agree → a report. See docs/capacity.md.

    data = load_input(["results/step-run-a", "results/step-run-b"])
    report = analyze(data.points, loads=read_step_loads(data), runs=data.runs, peak_rps=120, growth=1.5,
                     latency_limit_ms=300, rng=numpy.random.default_rng(0))
    write_report(report, "capacity.html")
"""

from .analysis import CapacityReport, Prediction, analyze
from .bottleneck import StepLoad, read_step_loads
from .chart import chart_png
from .findings import Figures, Judgement, figures, judge
from .inputs import (
    CapacityInput,
    Point,
    RunInfo,
    Stage,
    load_input,
    load_points,
    points_from_run,
    points_from_runs,
    read_points_csv,
    stages_from_manifest,
)
from .planning import Headroom, LatencyView, headroom, latency_view
from .repeat import Agreement, compare_runs
from .report import render_text, report_html, report_markdown, write_report
from .uncertainty import Interval, draw_parameters
from .usl import UslFit, fit_usl, usl_throughput

__all__ = ["CapacityReport", "Prediction", "analyze", "StepLoad", "read_step_loads", "chart_png", "Figures",
           "Judgement", "figures", "judge", "CapacityInput", "Point", "RunInfo", "Stage", "load_input", "load_points",
           "points_from_run", "points_from_runs", "read_points_csv", "stages_from_manifest", "Headroom",
           "LatencyView", "headroom", "latency_view", "Agreement", "compare_runs", "render_text", "report_html",
           "report_markdown", "write_report", "Interval", "draw_parameters", "UslFit", "fit_usl", "usl_throughput"]
