"""JUnit, Markdown and the terminal print, from literal verdicts: escaped for their medium, honest about
absent values and promotion. Each test reproduces a wrong output of issue 10 or 13."""

from __future__ import annotations

import io
import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from report_helpers import CONTROL, HOSTILE

from loadkit.analysis.health import GeneratorHealth
from loadkit.cli import _print_verdict
from loadkit.fingerprint import Change
from loadkit.report import ci
from loadkit.status import Outcome
from loadkit.verdict import Verdict
from loadkit.verdict.evaluate import CheckResult

EVERY_CONTROL = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0), 0xFFFE, 0xFFFF, 0xD800, 0xDFFF, 0x202E,
                                  0x2028, 0x200B, 0xFEFF]))


def _verdict(name: str = HOSTILE, drift: tuple[Change, ...] = (), status: Outcome = Outcome.FAIL) -> Verdict:
    checks = (CheckResult(f"p95(latency, {name}) < 300ms", 512.0, 300.0, status, f"observed {name}, limit 300 ms"),
              CheckResult("error_rate < 1%", 0.0, 0.01, Outcome.PASS, "0.00% < 1.00%"))
    builtins = (CheckResult("no stall (requests keep completing)", None, None, Outcome.PASS, "fine", "built-in"),)
    return Verdict(status, f"1 of 3 checks failed: {name}", checks, (), drift, (f"note {name}",), builtins)


def _printed(verdict: Verdict, run_dir: Path) -> str:
    out = io.StringIO()
    _print_verdict(verdict, run_dir, (run_dir / "report.html",), (f"warning {HOSTILE}",), out)
    return out.getvalue()


def _outside_code(md: str) -> str:
    """The Markdown with its code spans removed: what GitHub would render as text, links or HTML."""
    return re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", md)


def test_junit_is_well_formed_xml_whatever_the_names(tmp_path):
    drift = (Change(f"/config#{EVERY_CONTROL}", None, HOSTILE), Change("/config#x", EVERY_CONTROL, None))
    text = ci.junit_xml(_verdict(HOSTILE + EVERY_CONTROL, drift), f"loadkit.{EVERY_CONTROL}", 12.5)
    path = tmp_path / "junit.xml"
    path.write_text(text, encoding="utf-8")
    suite = ET.parse(path).getroot().find("testsuite")  # what a CI server does first
    names = [c.get("name") for c in suite.findall("testcase")]
    assert "run" in names and any("\\x1b]0;pwned\\x07" in n for n in names)  # shown, escaped
    assert not any(c in text for c in CONTROL)
    assert suite.get("failures") == "1"


def test_markdown_renders_nothing_that_came_from_the_run():
    drift = (Change(f"/config#{HOSTILE}", "old", HOSTILE), Change("/config#motd", None, "@here see http://evil.example"))
    md = ci.markdown(_verdict(HOSTILE, drift), f"loadkit {HOSTILE}", run_id=f"run-{HOSTILE}")
    assert not any(c in md for c in CONTROL) and "\\x1b]0;pwned\\x07" in md
    rendered = _outside_code(md)
    assert "<" not in rendered  # no HTML tag at all (&lt; instead)
    assert "@channel" not in rendered and "@here" not in rendered  # mentions only inside code spans
    assert "http" not in rendered and "![" not in rendered  # no link, no image
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = re.split(r"(?<!\\)\|", _outside_code(line.replace("\\|", "")))
            assert len(cells) == 5, line  # | a | b | c |: a name cannot add a column


def test_markdown_helpers_keep_text_as_written():
    from loadkit.report.text import md_code, md_text

    assert md_code("a`b") == "``a`b``" and md_code("|") == "`\\|`" and md_code("") == "*(empty)*"
    assert md_text("1. not a list") == "1\\. not a list" and md_text("# no heading") == "\\# no heading"
    assert md_text("p95 rose (+26%, tolerance +10%)") == "p95 rose (+26%, tolerance +10%)"
    assert md_text("ping @team on #12") == "ping `@team` on `#12`"


def test_terminal_print_shows_control_characters_escaped(tmp_path):
    drift = (Change("/config#title", "ok", "\x1b]0;pwned\x07"), Change("/config#cls", "\x1b[2J", None))
    printed = _printed(_verdict(HOSTILE, drift), tmp_path)
    assert not any(c in printed for c in CONTROL)
    assert "\\x1b]0;pwned\\x07" in printed and "\\x1b[2J" in printed


def test_a_missing_baseline_value_reads_absent_never_none(tmp_path):
    drift = (Change("/config#new", None, "1"), Change("/config#gone", "2", None))
    verdict = _verdict("ep", drift)
    printed = _printed(verdict, tmp_path)
    md = ci.markdown(verdict, "loadkit s", "run-1")
    junit = ci.junit_xml(verdict, "loadkit.s")
    for text in (printed, md, junit):
        assert "None" not in text and "(absent)" in text
    assert "/config#new: (absent) -> 1" in printed and "/config#gone: 2 -> (absent)" in printed
    assert "| `/config#new` | *(absent)* | `1` |" in md


def test_a_failed_run_is_never_suggested_as_a_baseline(tmp_path):
    from loadkit.verdict.compare import Comparison

    better = Comparison("p95(latency) <= +10%", "p95(latency)", Outcome.PASS,
                        "p95 fell from 40 ms to 20 ms (-50%): an improvement beyond noise (p=0.001); "
                        "consider promoting this run", 20.0, 40.0, -0.5, 0.01, 0.001, (35.0, 45.0), 3,
                        improvement=True)
    failed = Verdict(Outcome.FAIL, "1 of 2 checks failed", (CheckResult("p95(latency) < 1ms", 20.0, 1.0,
                                                                        Outcome.FAIL, "observed 20 ms"),), (better,))
    for text in (_printed(failed, tmp_path), ci.markdown(failed, "s", "r"), ci.junit_xml(failed, "s")):
        assert "promot" not in text, text
    passed = Verdict(Outcome.PASS, "all passed", (), (better,))
    for text in (_printed(passed, tmp_path), ci.markdown(passed, "s", "r"), ci.junit_xml(passed, "s")):
        assert "promot" in text  # a passing run that improved is worth promoting: say so


def test_outputs_list_built_in_checks_first(tmp_path):
    lines = [line for line in _printed(_verdict("ep"), tmp_path).splitlines() if line.startswith("  ")]
    assert "no stall" in lines[0] and "p95(latency, ep)" in lines[1]
    md = ci.markdown(_verdict("ep"), "s")
    assert md.index("no stall") < md.index("p95(latency, ep)")


def test_visible_shows_every_invisible_character_escaped():
    from loadkit.report.text import visible

    hidden = {chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) in ("Cc", "Cf", "Cs", "Zl", "Zp")}
    shown = visible("".join(sorted(hidden)) + "\ufffe\uffff")
    assert not set(shown) & (hidden | {"\ufffe", "\uffff"})
    assert visible("tab\there", keep="\t") == "tab\there" and visible("é ü 日本 ✅") == "é ü 日本 ✅"


@pytest.mark.parametrize("lag_s, steal, disturbed", [(0, 0.4, False), (6, 0.4, True), (0, 12.0, True)])
def test_a_disturbed_generator_is_said_plainly(tmp_path, lag_s, steal, disturbed):
    from loadkit.report.facts import RunTruth, facts

    gen = GeneratorHealth(29, 14.9, 15.5, 170.0, 187.9, steal, 87.1, 0, lag_s)
    said = [f for f in facts(RunTruth(generator=gen)) if f.topic == "generator"]
    assert len(said) == 1
    assert said[0].text.startswith("The measurement was disturbed") == disturbed
    assert (said[0].level == "warn") == disturbed and "14.9% of a core" in said[0].text
    printed = "\n".join(ci.terminal_lines(_verdict("ep"), tmp_path, truth=RunTruth(generator=gen)))
    assert ("measurement was disturbed" in printed) == disturbed
