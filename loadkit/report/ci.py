"""The verdict for CI systems and terminals: JUnit XML (one testcase per check), a Markdown summary, the
lines ``loadkit run`` prints.

JUnit is what GitHub Actions, GitLab and Jenkins all render; the Markdown fits a pull
request comment or ``$GITHUB_STEP_SUMMARY``. All three list the built-in checks first, say what
the run itself tells about the measurement (:mod:`.facts`), put the configuration drift beside
the verdict with ``(absent)`` for a key that appeared or went away, and suggest promoting the
run only when it passed. Every text from outside is escaped for its medium (:mod:`.text`): the
JUnit file is well-formed XML whatever the names, the Markdown renders no HTML, image, link or
mention that came from the run, the terminal gets no escape sequence.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..parity import ABSENT, ParityResult, entry_text
from ..status import Outcome
from ..verdict import Verdict
from .facts import BAD, INFO, WARN, RunTruth, facts, may_promote, shown_reason
from .text import md_code, md_text, plain, xml_text

__all__ = ["junit_xml", "markdown", "terminal_lines", "parity_lines", "parity_headline", "ABSENT"]

_ICON = {"PASS": "✅", "WARN": "⚠️", "FAIL": "❌", "NODATA": "❔", "ERROR": "💥"}
_FACT_ICON = {BAD: "⛔", WARN: "⚠️", INFO: "ℹ️"}


@dataclass(frozen=True)
class _Row:
    check: str
    status: str
    reason: str
    blocking: bool
    kind: str


def _rows(verdict: Verdict) -> list[_Row]:
    """Built-in checks, the scenario's checks, then the comparisons; reasons as the outputs show them."""
    rows = [_Row(c.check, str(c.status), shown_reason(c.reason, verdict.status), True, c.kind)
            for c in verdict.all_checks]
    rows += [_Row(c.name, str(c.status), shown_reason(c.reason, verdict.status), c.blocking, "relative")
             for c in verdict.comparisons]
    rank = {"built-in": 0, "parity": 1, "absolute": 2, "relative": 3}
    return sorted(rows, key=lambda r: rank.get(r.kind, 4))


def _failing(r: _Row) -> bool:
    return r.status == Outcome.FAIL or (r.status == Outcome.NODATA and r.blocking)


def _drift_value(v: str | None) -> str:
    return ABSENT if v is None else v


def parity_headline(p: ParityResult, here: str = "this run") -> str:
    """One line: against what, how many keys differ, how many differ only as ``scale`` declares."""
    diff, scaled = p.differences, p.scaled
    head = f"parity with {p.reference} ({p.reference_hash[:12]}): "
    head += (f"{len(diff)} of {p.compared} key(s) differ between the reference and {here}" if diff
             else f"all {p.compared} key(s) as in the reference")
    return head + (f", {len(scaled)} scaled as declared" if scaled else "")


def parity_lines(p: ParityResult, here: str = "this run", indent: str = "  ") -> list[str]:
    """The headline, each differing key with both values, then the notes (``loadkit run`` and ``env diff``)."""
    out = [plain(parity_headline(p, here))]
    out += [indent + plain(entry_text(e, here)) for e in p.differences]
    out += [f"{indent}note: {plain(n)}" for n in p.notes]
    return out


def junit_xml(verdict: Verdict, suite: str, duration_s: float = 0.0, truth: RunTruth | None = None) -> str:
    """One testcase per check (a failure for FAIL and blocking NODATA, skipped for the rest of NODATA), and
    one ``run`` testcase holding the run's own verdict and facts. Well-formed whatever the texts hold."""
    rows = _rows(verdict)
    failures = sum(_failing(r) for r in rows)
    run_error = verdict.status == Outcome.ERROR
    name = xml_text(suite)
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", name=name, tests=str(len(rows) + 1), failures=str(failures),
                       errors="1" if run_error else "0",
                       skipped=str(sum(r.status == Outcome.NODATA and not r.blocking for r in rows)),
                       time=f"{duration_s:.3f}")
    run = ET.SubElement(ts, "testcase", classname=name, name="run", time=f"{duration_s:.3f}")
    reason = xml_text(verdict.reason)
    if run_error:
        ET.SubElement(run, "error", message=reason, type=str(Outcome.ERROR)).text = reason
    elif verdict.status == Outcome.FAIL and not failures:
        ET.SubElement(run, "failure", message=reason, type=str(Outcome.FAIL)).text = reason
    said = facts(truth) if truth is not None else []
    if said:
        ET.SubElement(run, "system-out").text = "\n".join(xml_text(f"{f.level}: {f.text}") for f in said)
    for r in rows:
        case = ET.SubElement(ts, "testcase", classname=name, name=xml_text(r.check))
        why = xml_text(r.reason)
        if _failing(r):
            ET.SubElement(case, "failure", message=why, type=r.status).text = why
        elif r.status == Outcome.NODATA:
            ET.SubElement(case, "skipped", message=why)
        elif r.status == Outcome.WARN:
            ET.SubElement(case, "system-out").text = f"WARN: {why}"
    out = []
    if verdict.parity is not None:
        p = verdict.parity
        out.append("\n".join(xml_text(x) for x in [parity_headline(p)] + [entry_text(e)
                                                                         for e in p.differences] + list(p.notes)))
    if verdict.drift:
        out.append("configuration drift since the baseline:\n" + "\n".join(
            xml_text(f"{d.key}: {_drift_value(d.old)} -> {_drift_value(d.new)}") for d in verdict.drift))
    if _promote(verdict):
        out.append(_PROMOTE)
    if out:
        ET.SubElement(ts, "system-out").text = "\n".join(out)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


_PROMOTE = "Improvements beyond noise and the run passed: consider `loadkit baseline promote` for this run."


def _promote(verdict: Verdict) -> bool:
    return bool(verdict.improvements) and may_promote(verdict.status)


def markdown(verdict: Verdict, title: str, run_id: str = "", truth: RunTruth | None = None) -> str:
    """The PR comment: verdict, drift beside it, what went wrong with the measurement, every check."""
    lines = [f"### {_ICON.get(str(verdict.status), '')} {md_text(title)}: {verdict.status}", "",
             md_text(verdict.reason), ""]
    if run_id:
        lines += [f"Run {md_code(run_id, table=False)}", ""]
    if verdict.parity is not None:
        p = verdict.parity
        lines += [f"**{md_text(parity_headline(p))}**", ""]
        if p.differences:
            lines += ["| key | reference | this run | |", "|---|---|---|---|"]
            lines += [f"| {md_code(e.key)} | {_md_drift(e.reference)} | {_md_drift(e.here)} | "
                      f"{md_text('; '.join(x for x in (e.note, 'must_match' if e.must_match else '') if x), line_start=False)} |"
                      for e in p.differences]
            lines.append("")
        lines += [f"- {md_text(n)}" for n in p.notes] + ([""] if p.notes else [])
    if verdict.drift:
        lines += [f"**Configuration drift since the baseline** ({len(verdict.drift)} key(s))", "",
                  "| key | baseline | this run |", "|---|---|---|"]
        lines += [f"| {md_code(d.key)} | {_md_drift(d.old)} | {_md_drift(d.new)} |" for d in verdict.drift]
        lines.append("")
    noteworthy = [f for f in facts(truth) if f.level != INFO] if truth is not None else []
    if noteworthy:
        lines += ["**Run integrity**", ""]
        lines += [f"- {_FACT_ICON[f.level]} {md_text(f.text)}" for f in noteworthy]
        lines.append("")
    rows = _rows(verdict)
    if rows:
        lines += ["| | check | result |", "|---|---|---|"]
        lines += [f"| {_ICON.get(r.status, '')} {r.status} | {md_code(r.check)} | {md_text(r.reason, line_start=False)} |"
                  for r in rows]
        lines.append("")
    if _promote(verdict):
        lines += [_PROMOTE, ""]
    if verdict.notes:
        lines += [f"- {md_text(n)}" for n in verdict.notes] + [""]
    return "\n".join(lines)


def _md_drift(v: str | None) -> str:
    return f"*{ABSENT}*" if v is None else md_code(v)


def terminal_lines(verdict: Verdict, run_dir: Path, files: Sequence[Path] = (), warnings: Sequence[str] = (),
                   truth: RunTruth | None = None) -> list[str]:
    """What ``loadkit run`` and ``loadkit compare`` print after the load: checks, the run's facts, notes,
    drift, the verdict, where the results are. No control character from the run reaches the terminal."""
    out = [f"  {r.status:<6} {plain(r.check):<40} {plain(r.reason)}" for r in _rows(verdict)]
    for f in facts(truth) if truth is not None else []:
        if f.level != INFO:
            out.append(f"run integrity: {plain(f.text)}")
    out += [f"note: {plain(n)}" for n in verdict.notes]
    if verdict.parity is not None:
        out += parity_lines(verdict.parity)
    if verdict.drift:
        out.append("configuration drift since the baseline:")
        out += [f"  {plain(d.key)}: {plain(_drift_value(d.old))} -> {plain(_drift_value(d.new))}"
                for d in verdict.drift]
    if _promote(verdict):
        out.append(f"improvements beyond noise and the run passed: consider loadkit baseline promote {plain(run_dir)}")
    out.append(f"verdict: {verdict.status}: {plain(verdict.reason)}")
    out.append(f"results: {plain(run_dir)}")
    out += [f"report: {plain(f)}" for f in files if f.name.endswith(".html")]
    out += [f"loadkit: warning: {plain(w)}" for w in warnings]
    return out
