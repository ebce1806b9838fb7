"""``write_report``: a run folder in, ``report.html`` and its charts as PNG files out.

The HTML embeds the same PNGs as data URIs so it can be mailed or archived as one file and
opened offline; the PNG files beside it are for PR comments and chat. Files are written
atomically (temporary name, then rename) because the report lands in the run folder at the
end of every run, where a reader must never see half a file.

The charts land beside an output the user chose (``-o docs/index.html``), where other files
live: loadkit replaces or removes only PNGs it wrote for that report, known by the
``loadkit-report`` text chunk each chart carries (naming the HTML file it belongs to). Any other
file of the same name is left alone, and said so.
"""

from __future__ import annotations

import struct
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
from .text import plain

__all__ = ["ReportFiles", "write_report", "CHART_NAMES"]

CHART_NAMES = ("latency", "distribution", "rate", "errors", "metrics")


@dataclass(frozen=True)
class ReportFiles:
    """What was written: the HTML, the PNGs (only charts with data), and what the report says is missing
    (plus a line for each chart file that was not written because a file loadkit did not write is there)."""

    html: Path
    charts: tuple[Path, ...]
    missing: tuple[str, ...]

    @property
    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.html, *self.charts))


def _write(path: Path, data: bytes) -> None:
    atomic_write(path, data)


def png_owner(path: Path) -> str | None:
    """The report a PNG was written for (its ``loadkit-report`` text chunk), None when it has none or is no PNG."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            for _ in range(64):  # text chunks come before the image data
                head = fh.read(8)
                if len(head) < 8:
                    return None
                length, kind = struct.unpack(">I4s", head)
                if kind == b"IDAT" or length > 1 << 20:
                    return None
                body = fh.read(length)
                fh.read(4)  # CRC
                if kind == b"tEXt":
                    key, _, value = body.partition(b"\0")
                    if key.decode("latin-1") == charts.PNG_OWNER_KEY:
                        return value.decode("latin-1")
    except OSError:
        return None
    return None


def _ours(path: Path, out: Path, run_dir: Path) -> bool:
    """May loadkit replace or remove ``path``? Only a chart it wrote for this report; in the run folder
    itself (loadkit's own) also the charts of reports written before charts were marked."""
    owner = png_owner(path)
    if owner is not None:
        return owner == out.name
    return out.parent.resolve() == run_dir.resolve() and path.name.startswith(f"{out.stem}-")


def write_report(run_dir: Path, out: Path | None = None, baselines: BaselineStore | None = None,
                 environment: str = "staging", now: float | None = None) -> ReportFiles:
    """Write the report of ``run_dir`` to ``out`` (default ``run_dir/report.html``) and its charts beside it
    as ``<stem>-latency.png``, ``<stem>-rate.png``, ``<stem>-errors.png``, ``<stem>-metrics.png``.

    ``baselines`` adds the baseline band and deltas for ``environment``; ``now`` (Unix seconds)
    stamps the page. A chart file is replaced, or removed when there is nothing to draw, only
    if loadkit wrote it for this report. Raises :class:`ResultsError` only when ``manifest.json``
    is missing or unreadable, or a file cannot be written; every other missing input is stated
    in the report.
    """
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "report.html"
    data = load_report_data(run_dir, baselines, environment)
    owner = out.name
    pngs = {"latency": charts.latency_png(data, owner), "distribution": charts.distribution_png(data, owner),
            "rate": charts.rate_png(data, owner),
            "errors": charts.errors_png(data, owner), "metrics": charts.metrics_png(data, owner)}
    written, left = [], []
    for name in CHART_NAMES:
        path = out.with_name(f"{out.stem}-{name}.png")
        png = pngs[name]
        exists = path.exists() or path.is_symlink()
        if exists and not _ours(path, out, run_dir):
            if png:
                left.append(f"{path} exists and was not written by loadkit: left alone (the {name} chart is in "
                            "the HTML only)")
            continue
        if png:
            _write(path, png)
            written.append(path)
        elif exists:  # a stale chart of an earlier report of this name would mislead
            path.unlink()
    page = render_html(data, pngs, iso(time.time() if now is None else now), __version__)
    _write(out, page.encode("utf-8"))
    # printed by `loadkit report`: metric names and error texts in them may come from the target
    return ReportFiles(out, tuple(written), tuple(plain(m) for m in data.missing + tuple(left)))
