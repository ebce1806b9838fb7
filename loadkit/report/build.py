"""``write_report``: a run folder in, ``report.html`` and its charts as PNG files out.

The HTML embeds the same PNGs as data URIs so it can be mailed or archived as one file and
opened offline; the PNG files beside it are for PR comments and chat. Files are written
atomically (temporary name, then rename) because the report lands in the run folder at the
end of every run, where a reader must never see half a file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..baseline import BaselineStore
from ..files import atomic_write
from ..runfolder import iso
from . import charts
from .data import load_report_data
from .page import render_html

__all__ = ["ReportFiles", "write_report", "CHART_NAMES"]

CHART_NAMES = ("latency", "rate", "errors", "metrics")


@dataclass(frozen=True)
class ReportFiles:
    """What was written: the HTML, the PNGs (only charts with data), and what the report says is missing."""

    html: Path
    charts: tuple[Path, ...]
    missing: tuple[str, ...]

    @property
    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.html, *self.charts))


def _write(path: Path, data: bytes) -> None:
    atomic_write(path, data)


def write_report(run_dir: Path, out: Path | None = None, baselines: BaselineStore | None = None,
                 environment: str = "staging", now: float | None = None) -> ReportFiles:
    """Write the report of ``run_dir`` to ``out`` (default ``run_dir/report.html``) and its charts beside it
    as ``<stem>-latency.png``, ``<stem>-rate.png``, ``<stem>-errors.png``, ``<stem>-metrics.png``.

    ``baselines`` adds the baseline band and deltas for ``environment``; ``now`` (Unix seconds)
    stamps the page. Raises :class:`ResultsError` only when ``manifest.json`` is missing or
    unreadable, or a file cannot be written; every other missing input is stated in the report.
    """
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "report.html"
    data = load_report_data(run_dir, baselines, environment)
    pngs = {"latency": charts.latency_png(data), "rate": charts.rate_png(data), "errors": charts.errors_png(data),
            "metrics": charts.metrics_png(data)}
    written = []
    for name in CHART_NAMES:
        path = out.with_name(f"{out.stem}-{name}.png")
        png = pngs[name]
        if png:
            _write(path, png)
            written.append(path)
        elif path.exists():  # a stale chart from an earlier report of this folder would mislead
            path.unlink()
    page = render_html(data, pngs, iso(time.time() if now is None else now), __version__)
    _write(out, page.encode("utf-8"))
    return ReportFiles(out, tuple(written), data.missing)
