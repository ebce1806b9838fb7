"""Profile import from access logs: exact round trip of a known rate curve and endpoint mix, formats, bad input."""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from loadkit.errors import ConfigError
from loadkit.profiles import (
    add_import_arguments,
    default_output,
    endpoint_of_request,
    load_profile,
    parse_timestamp,
    profile_from_logs,
    run_import,
    sniff,
    template_path,
)

T0 = 1_714_557_600  # 2024-05-01T10:00:00Z
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0"
# (method, raw path maker, expected template)
ENDPOINTS = [
    ("GET", lambda r: f"/tickets/{r.integers(1, 10**6)}", "/tickets/{id}"),
    ("GET", lambda r: f"/faq/search?q={r.choice(['refund', 'login'])}", "/faq/search?q={q}"),
    ("POST", lambda r: "/tickets", "/tickets"),
    ("GET", lambda r: f"/users/{r.integers(0, 2**32):08x}-1234-4abc-8def-{r.integers(0, 2**40):012x}/avatar",
     "/users/{uuid}/avatar"),
    ("GET", lambda r: f"/files/ab{r.integers(2**40, 2**44):x}9?size={r.integers(1, 9)}&fmt=png", "/files/{hash}?fmt={fmt}&size={size}"),
]
WEIGHTS = [0.4, 0.25, 0.15, 0.1, 0.1]
STATUSES = ["200", "201", "404", "500"]


def clf_time(t: int, offset_h: int = 0) -> str:
    sign = "+" if offset_h >= 0 else "-"
    return time.strftime("%d/%b/%Y:%H:%M:%S", time.gmtime(t + offset_h * 3600)) + f" {sign}{abs(offset_h):02d}00"


def synthetic_log(seconds: int = 120, seed: int = 42, combined: bool = True, offset_h: int = 2):
    """Lines with a known per-second count (a ramp plus noise), known endpoint and status counts."""
    rng = np.random.default_rng(seed)
    curve = (5 + 10 * np.sin(np.linspace(0, np.pi, seconds)) + rng.integers(0, 4, seconds)).astype(int)
    curve[seconds // 3] = 0  # an idle second must appear as a zero interval
    lines: list[str] = []
    endpoints: Counter = Counter()
    statuses: Counter = Counter()
    for s, count in enumerate(curve):
        for _ in range(count):
            k = int(rng.choice(len(ENDPOINTS), p=WEIGHTS))
            method, make, template = ENDPOINTS[k]
            status = str(rng.choice(STATUSES, p=[0.85, 0.05, 0.07, 0.03]))
            endpoints[(method, template)] += 1
            statuses[status] += 1
            line = f'10.1.2.{k} - - [{clf_time(T0 + s, offset_h)}] "{method} {make(rng)} HTTP/1.1" {status} 512'
            lines.append(line + (f' "-" "{UA}"' if combined else ""))
    return lines, [int(c) for c in curve], endpoints, statuses


def write(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def assert_matches(profile, curve, endpoints, statuses) -> None:
    assert profile.interval == 1.0
    assert profile.start == T0
    assert list(profile.requests) == curve
    assert list(profile.rates) == [float(c) for c in curve]
    total = sum(endpoints.values())
    assert {(e.method, e.path): e.requests for e in profile.endpoints} == dict(endpoints)
    assert {(e.method, e.path): e.share for e in profile.endpoints} == {k: v / total for k, v in endpoints.items()}
    assert {s.status: s.requests for s in profile.statuses} == dict(statuses)


@pytest.mark.parametrize(("raw", "expected"), [
    ("/tickets/42", "/tickets/{id}"),
    ("/tickets/42/comments/7.json", "/tickets/{id}/comments/{id}.json"),
    ("/faq/search?q=refund", "/faq/search?q={q}"),
    ("/faq/search?page=2&q=a&q=b&debug", "/faq/search?debug={debug}&page={page}&q={q}"),
    ("/u/550e8400-e29b-41d4-a716-446655440000", "/u/{uuid}"),
    ("/commits/9fceb02d0ae598e95dc970b74767f19372d61af8", "/commits/{hash}"),
    ("/static/app.3f9a2c1be7.js", "/static/app.{hash}.js"),
    ("/defaced/feedbeef", "/defaced/feedbeef"),  # hex letters without a digit stay words
    ("/v2/health", "/v2/health"),
    ("https://helpdesk.example/tickets/9?x=1#top", "/tickets/{id}?x={x}"),
])
def test_templates(raw, expected):
    assert template_path(raw) == expected


def test_request_lines():
    assert endpoint_of_request("GET /tickets/42 HTTP/1.1") == ("GET", "/tickets/{id}")
    assert endpoint_of_request("-") is None
    assert endpoint_of_request("\\x16\\x03\\x01\\x02\\x00") is None


def test_timestamps():
    assert parse_timestamp("01/May/2024:12:00:00 +0200") == T0
    assert parse_timestamp("2024-05-01T10:00:00Z") == T0
    assert parse_timestamp("2024-05-01T12:00:00.250+02:00") == T0 + 0.25
    assert parse_timestamp("2024-05-01 10:00:00") == T0  # no zone: UTC
    assert parse_timestamp(str(T0)) == T0 and parse_timestamp(T0 * 1000) == T0
    with pytest.raises(ValueError):
        parse_timestamp("2024-13-01T00:00:00Z")


def test_combined_log_round_trips_exactly(tmp_path):
    lines, curve, endpoints, statuses = synthetic_log()
    log = write(tmp_path / "access.log", lines)
    assert sniff(str(log)).format == "combined"
    profile = profile_from_logs([str(log)])
    assert_matches(profile, curve, endpoints, statuses)
    assert profile.malformed_count == 0 and profile.lines == len(lines)
    assert profile.endpoints[0].method == "GET" and profile.endpoints[0].path == "/tickets/{id}"


def test_saved_profile_loads_back(tmp_path):
    lines, curve, endpoints, statuses = synthetic_log(seconds=30)
    profile = profile_from_logs([str(write(tmp_path / "access.log", lines))])
    from loadkit.profiles import save_profile

    files = save_profile(profile, tmp_path / "out" / "helpdesk.csv", chart=False)
    rows = files.csv.read_text().splitlines()
    assert rows[0] == "start,requests,rate" and rows[1] == f"2024-05-01T10:00:00Z,{curve[0]},{curve[0]}"
    doc = json.loads(files.json.read_text())
    assert doc["format"] == "loadkit-profile/2" and doc["interval_s"] == 1 and doc["rates"] == "helpdesk.csv"
    assert doc["mix"] == "helpdesk.mix.csv" and doc["mix_interval_s"] == 60 and files.mix == files.csv.with_name(
        "helpdesk.mix.csv")
    back = load_profile(files.json)
    assert back.requests == profile.requests and back.start == profile.start
    assert [(e.method, e.path, e.requests) for e in back.endpoints] == [
        (e.method, e.path, e.requests) for e in profile.endpoints]
    assert back.blocks == profile.blocks and back.mix_interval == 60
    assert load_profile(files.mix).blocks == profile.blocks  # any of the files names the profile


def test_common_format_and_out_of_order_lines(tmp_path):
    lines, curve, endpoints, statuses = synthetic_log(combined=False, offset_h=-5)
    lines[10], lines[40] = lines[40], lines[10]  # slightly out of order: bucketing, not order, decides
    log = write(tmp_path / "access.log", lines)
    assert sniff(str(log)).format == "common"
    assert_matches(profile_from_logs([str(log)]), curve, endpoints, statuses)


def test_gzip_detected_by_magic_and_rotated_files_merged(tmp_path):
    lines, curve, endpoints, statuses = synthetic_log()
    a, b = len(lines) // 3, 2 * len(lines) // 3
    files = [
        write(tmp_path / "access.log", lines[b:]),
        write(tmp_path / "access.log.1", lines[a:b], gz=True),  # gzip without a .gz suffix
        write(tmp_path / "access.log.2.gz", lines[:a], gz=True),
    ]
    assert sniff(str(files[1])).gzip
    profile = profile_from_logs([str(f) for f in files])
    assert_matches(profile, curve, endpoints, statuses)
    assert [s.format for s in profile.sources] == ["combined", "combined (gzip)", "combined (gzip)"]


def test_rotated_set_with_an_empty_current_log(tmp_path):
    lines, curve, endpoints, statuses = synthetic_log(seconds=20)
    old = write(tmp_path / "access.log.1", lines)
    (tmp_path / "access.log").write_text("")
    assert_matches(profile_from_logs([str(tmp_path / "access.log"), str(old)]), curve, endpoints, statuses)


def test_json_lines_with_configured_fields_and_subsecond_interval(tmp_path):
    rng = np.random.default_rng(3)
    offsets = np.sort(rng.uniform(0, 10, 400))
    rows = []
    for off in offsets:
        ms = int(off * 1000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(T0 + ms // 1000)) + f".{ms % 1000:03d}Z"
        rows.append(json.dumps({"time": stamp, "verb": "get", "uri": f"/tickets/{rng.integers(1, 99)}", "code": 200}))
    log = write(tmp_path / "app.jsonl", rows)
    profile = profile_from_logs([str(log)], json_fields="ts=time,method=verb,path=uri,status=code", interval=0.5)
    expected = np.bincount((offsets * 1000).astype(int) // 500, minlength=20)
    assert profile.interval == 0.5 and profile.start == T0
    assert list(profile.requests) == [int(x) for x in expected[: len(profile.requests)]]
    assert [(e.method, e.path, e.share) for e in profile.endpoints] == [("GET", "/tickets/{id}", 1.0)]
    assert [(s.status, s.requests) for s in profile.statuses] == [("200", 400)]


def test_json_lines_fields_guessed(tmp_path):
    rows = [json.dumps({"@timestamp": T0 + i // 3, "request": f"GET /faq/{i} HTTP/1.1", "status": 200})
            for i in range(30)]
    profile = profile_from_logs([str(write(tmp_path / "nginx.json", rows))])
    assert sniff(str(tmp_path / "nginx.json")).format == "jsonl"
    assert list(profile.requests) == [3] * 10 and profile.endpoints[0].path == "/faq/{id}"


def one_line(exc: ConfigError) -> str:
    assert exc.exit_code == 2
    (line,) = exc.lines()
    return line


def test_binary_junk(tmp_path):
    junk = tmp_path / "access.log"
    junk.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ConfigError) as err:
        profile_from_logs([str(junk)])
    assert one_line(err.value).startswith(f"{junk}: binary data, not a text log; expected nginx/Apache common")


def test_empty_file(tmp_path):
    empty = tmp_path / "access.log"
    empty.write_text("\n\n")
    with pytest.raises(ConfigError) as err:
        profile_from_logs([str(empty)])
    assert one_line(err.value).startswith(f"{empty}: empty file: no lines to import; expected")


def test_unknown_format(tmp_path):
    f = write(tmp_path / "notes.txt", ["hello there", "this is not a log", "at all"])
    with pytest.raises(ConfigError) as err:
        profile_from_logs([str(f)])
    line = one_line(err.value)
    assert line.startswith(f"{f}:1: unknown format: expected nginx/Apache common or combined log lines")
    assert "'hello there'" in line and "pass --format" in line


def test_other_compression_is_named(tmp_path):
    f = tmp_path / "access.log.bz2"
    f.write_bytes(b"BZh91AY&SY" + bytes(40))
    with pytest.raises(ConfigError, match="bzip2-compressed; only gzip is read"):
        profile_from_logs([str(f)])


def test_malformed_above_threshold_fails(tmp_path):
    lines = synthetic_log(seconds=10)[0][:95] + ["garbage line"] * 5
    f = write(tmp_path / "access.log", lines)
    with pytest.raises(ConfigError) as err:
        profile_from_logs([str(f)])
    assert one_line(err.value) == (
        f"{f}:96: 5 of 100 lines (5.00%) are malformed, above --max-malformed 1.00%; this one reads 'garbage line'; "
        "check --format/--json-fields, or raise --max-malformed")
    assert profile_from_logs([str(f)], max_malformed=0.05).malformed_count == 5


def test_malformed_below_threshold_passes_with_a_count(tmp_path):
    lines, curve, endpoints, statuses = synthetic_log()
    lines.insert(7, "oops, a torn line")
    f = write(tmp_path / "access.log", lines)
    profile = profile_from_logs([str(f)])
    assert_matches(profile, curve, endpoints, statuses)
    assert profile.malformed_count == 1 and profile.lines == len(lines)
    (m,) = profile.malformed
    assert (m.file, m.line, m.text) == (str(f), 8, "oops, a torn line")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_import_arguments(p)
    return p.parse_args(argv)


def test_import_command_json_summary_and_chart(tmp_path):
    lines, curve, endpoints, _ = synthetic_log(seconds=120)
    log = write(tmp_path / "access.log.1", lines)
    report = run_import(parse([str(log), "-o", str(tmp_path / "profiles" / "helpdesk.csv"), "--json"]))
    doc = json.loads(json.dumps(report.json()))
    assert doc["files"]["mix"] == str(tmp_path / "profiles" / "helpdesk.mix.csv")
    assert doc["format"] == "loadkit-profile/2" and doc["intervals"] == 120 and "rates" not in doc
    assert doc["requests"] == sum(curve) and doc["peak_rate"] == max(curve)
    assert doc["counts"]["endpoints"] == len(endpoints) == doc["counts"]["distinct_endpoints"]
    assert doc["counts"]["excluded"] == 0 and doc["counts"]["malformed"] == 0
    total = sum(endpoints.values())
    assert [(e["method"], e["path"], e["requests"]) for e in doc["top_endpoints"]] == [
        (m, p, n) for (m, p), n in sorted(endpoints.items(), key=lambda kv: (-kv[1], kv[0]))]
    assert doc["top_endpoints"][0]["share"] == round(endpoints[("GET", "/tickets/{id}")] / total, 6)
    # 120 s profile: the default window is the largest standard one that fits twice (1 min); with a mix per
    # minute it is one of the two whole minutes
    best = max((0, 60), key=lambda i: (sum(curve[i:i + 60]), -i))
    assert report.summary.peak_window.name == "peak-1m"
    assert doc["peak_window"]["start"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + best))
    assert [w["name"] for w in doc["windows"]] == ["peak-1m"]
    with_rates = report.json(intervals=True)
    assert [i["requests"] for i in with_rates["rates"]] == curve
    assert all(list(i) == ["start", "requests", "rate"] for i in with_rates["rates"])
    png = report.files.chart
    assert png == tmp_path / "profiles" / "helpdesk.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    assert matplotlib.image.imread(png).shape[:2] == (400, 1000)
    text = "\n".join(report.lines())
    assert "peak-1m" in text and "GET /tickets/{id}" in text and report.warnings() == []
    assert "mix: per 1m block, 2 blocks with requests (helpdesk.mix.csv)" in text


def test_import_command_flags(tmp_path):
    lines = synthetic_log(seconds=600)[0]
    log = write(tmp_path / "access.log", lines)
    report = run_import(parse([str(log), "-o", str(tmp_path / "p.csv"), "--interval", "10s", "--peak-window", "1m",
                               "--no-chart", "--max-malformed", "0.5%"]))
    assert report.profile.interval == 10 and len(report.profile.requests) == 60
    assert report.summary.peak_window.name == "peak-1m" and report.files.chart is None
    assert json.loads((tmp_path / "p.json").read_text())["summary"]["peak_window"]["name"] == "peak-1m"
    assert default_output(["/var/log/nginx/access.log.2.gz"]) == Path("scenarios/profiles/access.csv")
    with pytest.raises(ConfigError, match="--query/--start are for --prometheus URL"):
        run_import(parse([str(log), "--query", "x"]))
    with pytest.raises(SystemExit):  # argparse usage error; loadkit's parser turns it into ConfigError (exit 2)
        parse([str(log), "--interval", "soon"])


def test_import_command_bad_flags(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        run_import(parse([str(tmp_path / "missing.log")]))
    with pytest.raises(ConfigError, match="1-second timestamps"):
        log = write(tmp_path / "access.log", synthetic_log(seconds=5)[0])
        run_import(parse([str(log), "--interval", "100ms"]))
    with pytest.raises(ConfigError, match="--json-fields: expected KEY=FIELD"):
        profile_from_logs([str(log)], json_fields="when=time")
