"""The verdict for CI systems: JUnit XML (one testcase per check) and a Markdown summary.

JUnit is what GitHub Actions, GitLab and Jenkins all render; the Markdown fits a pull
request comment or ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..status import Outcome
from ..verdict import Verdict

__all__ = ["junit_xml", "markdown"]

_ICON = {"PASS": "✅", "WARN": "⚠️", "FAIL": "❌", "NODATA": "❔", "ERROR": "💥"}


def _rows(verdict: Verdict) -> list[dict]:
    rows = [{"check": c.check, "status": c.status, "reason": c.reason, "observed": c.observed, "baseline": None}
            for c in verdict.all_checks]
    rows += [{"check": c.name, "status": c.status,
              "reason": c.reason, "observed": c.observed, "baseline": c.baseline} for c in verdict.comparisons]
    return rows


def junit_xml(verdict: Verdict, suite: str, duration_s: float = 0.0) -> str:
    rows = _rows(verdict)
    failures = sum(r["status"] in (Outcome.FAIL,) or (r["status"] == Outcome.NODATA and _blocking(verdict, r)) for r in rows)
    run_error = verdict.status == Outcome.ERROR
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(rows) + 1), failures=str(failures),
                       errors="1" if run_error else "0", skipped=str(sum(r["status"] == Outcome.NODATA and not _blocking(verdict, r) for r in rows)),
                       time=f"{duration_s:.3f}")
    run = ET.SubElement(ts, "testcase", classname=suite, name="run", time=f"{duration_s:.3f}")
    if run_error:
        ET.SubElement(run, "error", message=verdict.reason, type=Outcome.ERROR).text = verdict.reason
    elif verdict.status == Outcome.FAIL and not failures:
        ET.SubElement(run, "failure", message=verdict.reason, type=Outcome.FAIL).text = verdict.reason
    for r in rows:
        case = ET.SubElement(ts, "testcase", classname=suite, name=r["check"])
        if r["status"] == Outcome.FAIL or (r["status"] == Outcome.NODATA and _blocking(verdict, r)):
            ET.SubElement(case, "failure", message=r["reason"], type=r["status"]).text = r["reason"]
        elif r["status"] == "NODATA":
            ET.SubElement(case, "skipped", message=r["reason"])
        elif r["status"] == "WARN":
            ET.SubElement(case, "system-out").text = f"WARN: {r['reason']}"
    if verdict.drift:
        ET.SubElement(ts, "system-out").text = "configuration drift:\n" + "\n".join(
            f"{d.key}: {d.old} -> {d.new}" for d in verdict.drift)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _blocking(verdict: Verdict, row: dict) -> bool:
    for c in verdict.comparisons:
        if row["check"] == c.name:
            return c.blocking
    return True


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(verdict: Verdict, title: str, run_id: str = "") -> str:
    lines = [f"### {_ICON.get(verdict.status, '')} {_md(title)}: {verdict.status}", "", _md(verdict.reason), ""]
    if run_id:
        lines += [f"Run `{_md(run_id)}`", ""]
    rows = _rows(verdict)
    if rows:
        lines += ["| | check | result |", "|---|---|---|"]
        lines += [f"| {_ICON.get(r['status'], '')} {r['status']} | `{_md(r['check'])}` | {_md(r['reason'])} |"
                  for r in rows]
        lines.append("")
    if verdict.drift:
        lines += ["**Configuration drift since the baseline**", "", "| key | baseline | this run |", "|---|---|---|"]
        lines += [f"| `{_md(d.key)}` | {_md(d.old)} | {_md(d.new)} |" for d in verdict.drift]
        lines.append("")
    if verdict.improvements:
        lines += ["Improvements beyond noise: consider `loadkit baseline promote` for this run.", ""]
    if verdict.notes:
        lines += [f"- {_md(n)}" for n in verdict.notes] + [""]
    return "\n".join(lines)
