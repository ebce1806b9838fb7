"""The run report: one self-contained HTML page (verdict, checks, charts, endpoints, drift,
manifest) plus the charts as PNG files, written from a run folder. See docs/report.md."""

from __future__ import annotations

from .build import CHART_NAMES, ReportFiles, write_report

__all__ = ["ReportFiles", "write_report", "CHART_NAMES"]
