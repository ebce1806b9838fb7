"""The report tells the truth about real runs: a hang is visible, errors are never green, the metrics
checks use are charted, what went wrong with the measurement is said in every output, hostile names
and configuration values stay text, the user's files are left alone, and samples are not read again.

Every run folder here comes from a real Locust run against a real server on 127.0.0.1 (the
stand-in, or a small hostile server whose ``/config`` and error bodies a test writes); each run
is made once per module and read by several tests.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from helpers import only_run
from report_helpers import CONTROL, HOSTILE, assert_renders, hostile_target

from loadkit.baseline import BaselineStore
from loadkit.cli import main
from loadkit.report import charts, write_report
from loadkit.report.data import load_report_data
from loadkit.standin import StandinConfig, start_standin


def run_cli(args: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, out, err)
    return code, out.getvalue() + err.getvalue()


def scenario(folder: Path, body: str, name: str = "s.yaml") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(body))
    return str(folder / name)


class Run:
    """A finished run folder, what ``loadkit run`` printed, and its --markdown and --junit files."""

    def __init__(self, root: Path, code: int, printed: str):
        self.root, self.code, self.printed = root, code, printed
        self.md = (root.parent.parent / "summary.md").read_text() if (root.parent.parent / "summary.md").exists() else ""
        self.junit = root.parent.parent / "junit.xml"

    @property
    def html(self) -> str:
        return (self.root / "report.html").read_text()


def real_run(base: Path, path: str, host: str, *extra: str) -> Run:
    out = base / "results"
    code, printed = run_cli(["run", path, "--host", host, "--out", str(out), "--quiet", "--markdown",
                             str(base / "summary.md"), "--junit", str(base / "junit.xml"), *extra])
    return Run(only_run(out), code, printed)


@pytest.fixture(scope="module")
def hung(tmp_path_factory) -> Run:
    """A target that answers for 2 s, then never again, in a 6 s run."""
    base = tmp_path_factory.mktemp("hung")
    path = scenario(base, """\
        name: hung
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            wait: {constant: 0.05}
            requests: [{name: health, path: /health}]
        load: {users: 4, spawn_rate: 20, duration: 6s, warmup: 1s}
        checks: ["p95(latency) < 300ms", "error_rate < 50%"]
        """)
    with start_standin(StandinConfig(stall=(2.0, 3600.0))) as target:
        return real_run(base, path, target.url)


@pytest.fixture(scope="module")
def troubled(tmp_path_factory, standin) -> Run:
    """Users that raise, call a host outside the allow-list, and hit an endpoint that fails 1 time in 4."""
    base = tmp_path_factory.mktemp("troubled")
    (base / "journey.py").write_text(textwrap.dedent("""\
        from locust import HttpUser, constant, task


        class Journey(HttpUser):
            wait_time = constant(0.02)
            n = 0

            @task
            def checkout(self):
                self.n += 1
                self.client.get("/nope" if self.n % 4 == 0 else "/health", name="mixed")
                if self.n % 10 == 0:
                    self.client.get("http://evil.example/steal", name="outside")
                if self.n % 5 == 0:
                    token = {}["token"]  # a bug in the journey
        """))
    path = scenario(base, f"""\
        name: troubled
        target: {{host: http://127.0.0.1:1}}
        users: [{{locust: {base}/journey.py:Journey}}]
        load: {{users: 3, spawn_rate: 10, duration: 3s}}
        checks: ["p95(latency, GET mixed) < 1s", "error_rate(GET mixed) < 40%"]
        """)
    return real_run(base, path, standin.url)


@pytest.fixture(scope="module")
def metered(tmp_path_factory, standin) -> Run:
    """Three metric sources (about 20 metrics, many flat), and two checks on target.cpu, sorted last by name."""
    base = tmp_path_factory.mktemp("metered")
    port = standin.url.rsplit(":", 1)[1]
    path = scenario(base, f"""\
        name: metered
        target: {{host: http://127.0.0.1:1}}
        users:
          - name: u
            wait: {{constant: 0.02}}
            requests: [{{name: faq, path: "/faq/search?q=refund"}}]
        load: {{users: 3, spawn_rate: 10, duration: 4s}}
        metrics:
          - {{name: aa, source: scrape, url: "{standin.url}/metrics", interval: 0.5s}}
          - {{name: box, source: host, interval: 0.5s}}
          - {{name: target, source: process, port: {port}, interval: 0.5s}}
        checks: ["mean(target.cpu) < 400", "error_rate < 1%"]
        compare: ["mean(target.cpu) <= +1000%"]
        """)
    return real_run(base, path, standin.url)


@pytest.fixture(scope="module")
def late(tmp_path_factory) -> Run:
    """An open model at 40/s with 2 users against a target that takes 300 ms: starts fall behind."""
    base = tmp_path_factory.mktemp("late")
    path = scenario(base, """\
        name: late
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            requests: [{name: health, path: /health}]
        load: {arrival: {rate: 40/s, duration: 3s}, concurrency: 2}
        checks: ["error_rate < 1%"]
        """)
    with start_standin(StandinConfig(latency_ms={"*": 300.0})) as target:
        return real_run(base, path, target.url)


def _figures(monkeypatch) -> dict[str, object]:
    """Capture the figures the charts draw (by the function that drew them), instead of their PNG bytes."""
    seen: dict[str, object] = {}
    real = charts._png

    def keep(fig, *args, **kwargs):
        import inspect

        if fig is not None:
            seen[inspect.stack()[1].function.split("_")[0]] = fig
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(charts, "_png", keep)
    return seen


# --- a hang ------------------------------------------------------------------------------------------

def test_the_time_axis_spans_the_whole_run_of_a_run_that_hung(hung, monkeypatch, tmp_path):
    summary = json.loads((hung.root / "summary.json").read_text())
    seconds = summary["run"]["end"] - summary["run"]["start"]
    assert seconds > 5.5 and summary["stalls"]  # the run went on for 6 s, nothing completed after 2 s
    figures = _figures(monkeypatch)
    write_report(hung.root, tmp_path / "r.html")
    assert {"latency", "rate", "errors"} <= set(figures)
    for name, fig in figures.items():
        if name == "distribution":  # by percentile, not time
            continue
        for ax in fig.axes:
            left, right = ax.get_xlim()
            assert left == 0 and right >= seconds - 0.01, (name, ax.get_title(), right)


def test_stalls_are_shaded_on_the_charts_and_said_in_words(hung, monkeypatch, tmp_path):
    figures = _figures(monkeypatch)
    write_report(hung.root, tmp_path / "r.html")
    stall = json.loads((hung.root / "summary.json").read_text())["stalls"][0]
    for name in ("latency", "rate"):
        ax = figures[name].axes[0]
        labels = ax.get_legend_handles_labels()[1]
        assert "stall: nothing completed" in labels, (name, labels)
        spans = [p for p in ax.patches if p.get_label() == "stall: nothing completed"]
        x0, x1 = spans[0].get_path().vertices[:, 0].min(), spans[0].get_path().vertices[:, 0].max()
        xs = spans[0].get_transform().transform([[x0, 0], [x1, 0]])  # to display, then back to data
        data = ax.transData.inverted().transform(xs)[:, 0]
        assert data[0] == pytest.approx(stall["from_s"], abs=0.01) and data[1] == pytest.approx(stall["to_s"], abs=0.01)
    said = f"Stall: no request completed from {stall['from_s']:g} s"
    assert said in hung.html and said in hung.md and said in hung.printed
    assert "still in flight when the load stopped" in hung.html and "still in flight" in hung.md


# --- errors, exceptions, refused hosts ----------------------------------------------------------------

def _row(page: str, first: str, cells: int = 0) -> str:
    """The one table row whose first cell is ``first`` (and that has at least ``cells`` cells)."""
    rows = [r for r in re.findall(r"<tr>(.*?)</tr>", page, re.S) if r.startswith(f"<td>{first}") and r.count("<td") >= cells]
    assert len(rows) == 1, (first, rows)
    return rows[0]


def test_an_endpoint_with_a_quarter_of_its_requests_failing_is_never_a_green_badge(troubled):
    summary = json.loads((troubled.root / "summary.json").read_text())
    mixed = summary["endpoints"]["GET mixed"]
    assert 0.2 < mixed["error_rate"] < 0.3  # a real quarter of its requests failed
    verdict = json.loads((troubled.root / "verdict.json").read_text())
    assert {c["check"]: c["status"] for c in verdict["checks"]}["p95(latency, GET mixed) < 1s"] == "PASS"
    row = _row(troubled.html, "GET mixed</td>", cells=12)  # the endpoints table
    assert 'class="b PASS"' not in row and 'class="b WARN"' in row and "class=bad" in row


def test_uncaught_exceptions_are_shown_with_where_and_count_and_their_traceback_folded(troubled):
    exc = json.loads((troubled.root / "summary.json").read_text())["exceptions"][0]
    assert exc["message"] == "KeyError: 'token'" and exc["where"].startswith("journey.py:")
    page = troubled.html
    row = _row(page, "<code>KeyError: &#x27;token&#x27;</code><details>")  # the exceptions table
    assert f"<code>{exc['where']}</code>" in row and f"<td class=n>{exc['count']}</td>" in row
    assert "<summary>traceback</summary><pre>Traceback (most recent call last):" in row
    said = f"KeyError: 'token' at {exc['where']} ({exc['count']})"
    assert said in troubled.printed and said in troubled.md.replace("\\", "")


def test_refused_hosts_are_said_in_every_output(troubled):
    refused = json.loads((troubled.root / "manifest.json").read_text())["refused"]
    assert refused == {"evil.example": refused["evil.example"]} and refused["evil.example"] > 0
    said = f"refused before they were sent, their host is not in target.allowed_hosts: evil.example ({refused['evil.example']})"
    assert said in troubled.html and said in troubled.printed and said in troubled.md.replace("\\", "")


def test_late_and_never_started_open_model_starts_are_said(late):
    om = json.loads((late.root / "summary.json").read_text())["open_model"]
    assert om["late"] > 0
    said = f"Open model: {om['late']} of {om['scheduled']} scheduled starts were late by more than 100 ms"
    assert said in late.html and said in late.printed and said in late.md
    assert f"and {om['dropped']} never started" in late.html


# --- metrics --------------------------------------------------------------------------------------------

def test_the_metric_two_checks_use_is_charted_first_even_among_many(metered):
    data = load_report_data(metered.root, None, "staging")
    names = [p.name for p in data.metrics]
    assert len(set(pq_metrics(metered.root))) >= 13, pq_metrics(metered.root)  # more than the 12-panel cap
    assert names[0] == "target.cpu" and data.metrics[0].group == "checked" and len(data.metrics[0].checks) == 2
    for p in data.metrics:  # nothing flat is drawn: a flat panel says nothing a line of text does not
        values = np.concatenate([y for _, _, y in p.series])
        assert np.nanmax(values) > np.nanmin(values), p.name
    assert any(n.startswith("constant over the run, not charted: ") for n in data.not_charted), data.not_charted
    assert "constant over the run, not charted" in metered.html


def pq_metrics(run: Path) -> list[str]:
    import pyarrow.parquet as pq

    return sorted(set(pq.read_table(run / "metrics.parquet", columns=["metric"]).column("metric").to_pylist()))


# --- no samples read again -------------------------------------------------------------------------------

def test_the_report_does_not_read_the_samples_again(metered, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(metered.root, copy)
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    before = write_report(copy, tmp_path / "before" / "r.html", now=0.0)
    (copy / "samples.parquet").write_bytes(b"not parquet at all")  # unreadable: the report must not need it
    after = write_report(copy, tmp_path / "after" / "r.html", now=0.0)
    assert [p.name for p in after.charts] == [p.name for p in before.charts]
    assert after.missing == before.missing and not any("samples" in m for m in after.missing)
    for a, b in zip(after.charts, before.charts, strict=True):
        assert a.read_bytes() == b.read_bytes()  # the same charts, byte for byte


def test_a_run_summarised_before_the_timeline_falls_back_to_the_samples_and_says_so(metered, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(metered.root, copy)
    summary = json.loads((copy / "summary.json").read_text())
    del summary["timeline"]
    (copy / "summary.json").write_text(json.dumps(summary))
    files = write_report(copy)
    assert any("written by an older loadkit" in m and "samples.parquet" in m for m in files.missing)
    assert "written by an older loadkit" in files.html.read_text()
    assert {p.name for p in files.charts} >= {"report-latency.png", "report-rate.png"}


# --- the user's files -----------------------------------------------------------------------------------------

def test_report_to_another_folder_leaves_the_users_charts_alone(metered, troubled, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    mine = {n: docs / f"index-{n}.png" for n in ("errors", "metrics")}
    for n, p in mine.items():
        p.write_bytes(b"\x89PNG\r\n\x1a\n" + f"the user's own {n} picture".encode())
    code, printed = run_cli(["report", str(metered.root), "-o", str(docs / "index.html")])
    assert code == 0 and (docs / "index.html").is_file() and (docs / "index-latency.png").is_file()
    for n, p in mine.items():
        assert p.read_bytes() == b"\x89PNG\r\n\x1a\n" + f"the user's own {n} picture".encode(), n
    assert f"{mine['metrics']} exists and was not written by loadkit: left alone" in printed

    # a chart loadkit wrote itself, and has nothing to draw the next time, is removed
    run_cli(["report", str(troubled.root), "-o", str(docs / "pr.html")])
    assert (docs / "pr-errors.png").is_file()
    run_cli(["report", str(metered.root), "-o", str(docs / "pr.html")])
    assert not (docs / "pr-errors.png").exists() and (docs / "pr-latency.png").is_file()


# --- hostile names and configuration ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Run:
    """A baseline run, then a run whose /config values, endpoint names and error texts are hostile."""
    base = tmp_path_factory.mktemp("hostile")
    (base / "hostile.py").write_text(textwrap.dedent(f"""\
        from locust import HttpUser, constant, task

        NAME = {HOSTILE!r}


        class Hostile(HttpUser):
            wait_time = constant(0.02)

            @task
            def go(self):
                self.client.get("/health", name=NAME)
                with self.client.get("/evil", name="evil " + NAME, catch_response=True) as r:
                    r.failure(r.text)
        """))
    path = scenario(base, f"""\
        name: hostile
        target: {{host: http://127.0.0.1:1}}
        users: [{{locust: {base}/hostile.py:Hostile}}]
        load: {{users: 2, spawn_rate: 10, duration: 2s}}
        checks: ["error_rate < 60%"]
        compare: ["p95(latency, *) <= +1000%"]
        environment: {{urls: [/config]}}
        """)
    store = base / "baselines"
    with hostile_target(base) as (url, config):
        config.write_text(json.dumps({"banner": "hello", "gone": "soon"}))
        code, printed = run_cli(["run", path, "--host", url, "--out", str(base / "first"), "--quiet",
                                 "--baselines", str(store), "--promote-on-pass"])
        assert code == 0 and "baseline: promoted" in printed, printed
        config.write_text(json.dumps({"banner": HOSTILE, "motd": "@here ![x](http://evil.example/x.png)",
                                      HOSTILE: "key"}))
        return real_run(base, path, url, "--baselines", str(store))


def test_hostile_names_and_configuration_values_stay_text_in_every_output(hostile, tmp_path):
    verdict = json.loads((hostile.root / "verdict.json").read_text())
    assert {d["key"] for d in verdict["drift"]} >= {"/config#banner", "/config#gone", "/config#motd"}
    assert any("\x1b" in d["key"] or "\x1b" in (d["new"] or "") for d in verdict["drift"])  # it really came through
    # JUnit: parses, whatever the names
    suite = ET.parse(hostile.junit).getroot().find("testsuite")
    assert any("\\x1b]0;pwned\\x07" in c.get("name") for c in suite.findall("testcase"))
    # the terminal: no escape sequence reaches it
    assert not any(c in hostile.printed for c in CONTROL) and "\\x1b]0;pwned\\x07" in hostile.printed
    assert "/config#gone: soon -> (absent)" in hostile.printed
    # Markdown: no HTML, image, link or mention outside code spans
    md = hostile.md
    assert not any(c in md for c in CONTROL)
    text = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", md)
    assert "<" not in text and "@channel" not in text and "@here" not in text and "http" not in text, text
    # HTML: shown as text in a real browser, nothing run, nothing fetched
    files = write_report(hostile.root, tmp_path / "page.html", baselines=BaselineStore(hostile.root.parents[1] /
                                                                                       "baselines"))
    page = files.html.read_text()
    assert "<img src=http" not in page and "<script>document" not in page and "\x1b" not in page
    seen = assert_renders(files, tmp_path, images=len(files.charts))
    assert "<img src=http://evil.example/x.png onerror=alert(1)>" in seen["text"]
    assert "\\x1b]0;pwned\\x07" in seen["text"] and "(absent)" in seen["text"]
