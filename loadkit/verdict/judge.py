"""Judging a finished run folder: the thin I/O shell around :func:`~loadkit.verdict.evaluate.judge`.

Used right after a run and by ``loadkit compare RUN_DIR`` to re-evaluate a finished run without
re-running it: both read ``manifest.json``, ``summary.json`` and ``environment.json`` (never the
samples again) and write ``verdict.json``.
"""

from __future__ import annotations

from pathlib import Path

from ..analysis import Summary
from ..analysis.health import GeneratorHealth
from ..baseline import BaselineStore
from ..errors import ConfigError, ResultsError
from ..parity import ParitySpec, reference_from_json
from ..runfolder import RunPaths, read_json, write_json
from ..scenario.checks import Check, CompareCheck, parse_check, parse_compare
from .evaluate import BaselineView, RunFacts, Verdict, judge

__all__ = ["judge_run", "checks_from_manifest", "read_facts", "baseline_view", "reference_identity"]


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


def read_facts(run_dir: Path) -> RunFacts:
    """What :func:`judge` needs of a run, from its folder; ResultsError when a file is missing or damaged."""
    paths = RunPaths(Path(run_dir))
    manifest = read_json(paths.manifest)
    summary_json = read_json(paths.summary)
    try:
        summary = Summary.from_json(summary_json)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ResultsError(f"{paths.summary}: not a loadkit summary ({type(exc).__name__}: {exc})") from None
    fp = read_json(paths.environment) if paths.environment.exists() else None
    return RunFacts(
        fingerprint_sources=dict((fp or {}).get("sources") or {}), parity=_parity(paths, manifest),
        run_id=str(manifest.get("run_id", paths.root.name)), status=str(manifest.get("status", "error")),
        reason=str(manifest.get("reason", "")), summary=summary, metrics=summary_json.get("metrics") or {},
        missing=manifest.get("metrics_missing") or {}, warnings=tuple(manifest.get("warnings", [])),
        fingerprint=None if fp is None else fp.get("values", {}),
        fingerprint_errors=() if fp is None else tuple(fp.get("errors", [])),
        exceptions=tuple(summary_json.get("exceptions") or ()), refused=dict(manifest.get("refused") or {}),
        generator=GeneratorHealth.from_json(summary_json["generator"]) if summary_json.get("generator") else None)


def _parity(paths: RunPaths, manifest: dict) -> ParitySpec | None:
    """The reference the run was started with (``reference.json``) and what the manifest says was asked of it."""
    asked = manifest.get("parity")
    if not asked:
        return None
    if not paths.reference.exists():
        raise ResultsError(f"{paths.reference}: missing, but the manifest names reference {asked.get('reference')!r}")
    try:
        return ParitySpec.from_json(asked, reference_from_json(read_json(paths.reference), str(asked["reference"])))
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise ResultsError(f"{paths.reference}: unreadable parity reference ({exc})") from None


def reference_identity(manifest: dict) -> tuple[str, str] | None:
    """(name, hash) of the reference a run was compared with, None without one."""
    p = manifest.get("parity") or None
    return None if p is None else (str(p.get("reference", "")), str(p.get("hash", "")))


def baseline_view(store: BaselineStore, scenario: str, environment: str, exclude: str = "",
                  reference: tuple[str, str] | None = None) -> BaselineView:
    """The baseline runs of ``scenario`` in ``environment`` (the run being judged left out).

    Runs recorded against another parity reference (another hash, or none where this run has one and
    the other way round) are left out and named: their environment was held to another yardstick."""
    runs, other = [], []
    for r in store.runs(scenario, environment):
        if r.run_id == exclude:
            continue
        theirs = r.reference[1] if r.reference else None
        mine = reference[1] if reference else None
        (runs if theirs == mine else other).append(r)
    notes = ()
    if other:
        def shown(ref: tuple[str, str] | None) -> str:
            return "no reference" if ref is None else f"reference {ref[0]} ({ref[1][:12]})"
        seen = sorted({shown(r.reference) for r in other})
        notes = (f"{len(other)} baseline run(s) left out of the comparison: recorded against {', '.join(seen)}, "
                 f"this run against {shown(reference)} (record a baseline against this reference)",)
    return BaselineView(f"{scenario}/{environment}", tuple(r.run_id for r in runs), tuple(r.aggregates for r in runs),
                        runs[-1].fingerprint if runs else None, notes)


def judge_run(run_dir: Path, checks: tuple[Check, ...], compare: tuple[CompareCheck, ...],
              store: BaselineStore | None, environment: str, also: tuple[Path, ...] = ()) -> Verdict:
    """Read the run, judge it against the baseline in ``store`` (if any), write ``verdict.json``; ``also``:
    reruns (``--confirm``) whose values are combined with this run's for the comparisons."""
    facts = read_facts(run_dir)
    manifest = read_json(RunPaths(Path(run_dir)).manifest)
    view = None if store is None else baseline_view(store, manifest["scenario"]["name"], environment, facts.run_id,
                                                    reference_identity(manifest))
    verdict = judge(facts, checks, compare, view, tuple(read_facts(p) for p in also))
    write_json(RunPaths(Path(run_dir)).verdict, verdict.to_json())
    return verdict
