"""Every output of a judged run, written by the library: ``report.html``, and JUnit and Markdown when asked.

The run (and ``loadkit compare``) call :func:`publish` once the verdict is known, so a library
user of ``LoadRun(...).execute()`` gets the same files as the command line. A report that cannot
be written is a warning: it never changes the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..baseline import BaselineStore
from ..errors import LoadkitError
from ..files import atomic_write
from ..runfolder import read_json
from ..verdict import Verdict
from .build import write_report
from .ci import junit_xml, markdown
from .facts import read_truth

__all__ = ["Published", "publish"]


@dataclass(frozen=True)
class Published:
    files: tuple[Path, ...]
    warnings: tuple[str, ...]


def publish(run_dir: Path, verdict: Verdict, *, baselines: BaselineStore | None = None,
            environment: str = "staging", junit: Path | None = None, markdown_file: Path | None = None,
            report: bool = True) -> Published:
    """Write the report (unless ``report`` is False), then the JUnit and Markdown files asked for."""
    manifest = read_json(run_dir / "manifest.json")
    name = manifest["scenario"]["name"]
    files: list[Path] = []
    warnings: list[str] = []
    if report:
        try:
            files.append(write_report(run_dir, baselines=baselines, environment=environment).html)
        except LoadkitError as exc:  # a report problem is shown, never changes the verdict
            warnings.append(f"no report: {exc}")
    truth = read_truth(run_dir) if junit or markdown_file else None
    if junit:
        junit.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(junit, junit_xml(verdict, f"loadkit.{name}", manifest.get("duration_s") or 0.0, truth))
        files.append(junit)
    if markdown_file:
        markdown_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(markdown_file, markdown(verdict, f"loadkit {name}", manifest["run_id"], truth))
        files.append(markdown_file)
    return Published(tuple(files), tuple(warnings))
