"""Judging a finished run folder: its checks, its comparison with the baseline, config drift.

Used right after a run and by ``loadkit compare RUN_DIR`` to re-evaluate a finished run
without re-running it; both read the same files and write ``verdict.json``.
"""

from __future__ import annotations

from pathlib import Path

from ..analysis import summarize_run
from ..baseline import BaselineStore, aggregates_from_summary
from ..errors import ResultsError
from ..fingerprint import drift
from ..runfolder import RunPaths, read_json, write_json
from ..scenario.checks import Check, CompareCheck, parse_check, parse_compare
from .compare import compare_all
from .evaluate import Verdict, evaluate

__all__ = ["judge_run", "checks_from_manifest"]


def checks_from_manifest(manifest: dict) -> tuple[tuple[Check, ...], tuple[CompareCheck, ...]]:
    """The checks a run was started with, as recorded in its manifest."""
    try:
        sources = [m["name"] for m in manifest.get("metrics", [])]  # validated when the run started
        checks = tuple(parse_check(c["check"], severity=c.get("severity", "fail"), metric_prefixes=sources,
                                   nodata=c.get("nodata", "fail")) for c in manifest.get("checks", []))
        compare = tuple(parse_compare(c) for c in manifest.get("compare", []))
    except (ValueError, KeyError, TypeError) as exc:
        raise ResultsError(f"manifest.json: unreadable checks ({exc})") from None
    return checks, compare


def judge_run(run_dir: Path, checks: tuple[Check, ...], compare: tuple[CompareCheck, ...],
              store: BaselineStore | None, environment: str, metrics: dict | None = None) -> Verdict:
    manifest = read_json(run_dir / "manifest.json")
    summary_json = read_json(run_dir / "summary.json")
    window = summary_json.get("window") or {}
    paths = RunPaths(run_dir)
    if not paths.samples.exists():
        raise ResultsError(f"{paths.samples}: missing; the run's samples are needed to judge it")
    summary = summarize_run(paths, float(window.get("start", 0.0)), float(window.get("end", 0.0)))
    notes: list[str] = list(manifest.get("warnings", []))
    comparisons = []
    changes = []
    if compare or store is not None:
        runs = [] if store is None else [r for r in store.runs(manifest["scenario"]["name"], environment)
                                         if r.run_id != manifest["run_id"]]
        current = aggregates_from_summary({**summary.to_json(), "metrics": summary_json.get("metrics", metrics or {})})
        comparisons = compare_all(compare, current, [r.aggregates for r in runs], sorted(summary.endpoints))
        if compare:
            notes.append(f"baseline {manifest['scenario']['name']}/{environment}: {len(runs)} run(s)"
                         + (f", latest {runs[-1].run_id}" if runs else ""))
        env_file = run_dir / "environment.json"
        if runs and env_file.exists():
            fp = read_json(env_file)
            changes = drift(runs[-1].fingerprint, fp.get("values", {}))
            notes += [f"environment fingerprint incomplete: {e}" for e in fp.get("errors", [])]
    verdict = evaluate(checks, summary, manifest.get("status", "error"), manifest.get("reason", ""),
                       comparisons, changes, notes, summary_json.get("metrics") or metrics or {},
                       manifest.get("metrics_missing") or {})
    write_json(run_dir / "verdict.json", verdict.to_json())
    return verdict
