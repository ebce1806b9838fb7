"""The endpoint mix per block (NAME.mix.csv), exclusions, the endpoint cap, the flags, and format-1 profiles."""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from loadkit.cli import main
from loadkit.errors import ConfigError
from loadkit.profiles import (
    OTHER,
    Exclusion,
    add_import_arguments,
    load_profile,
    peak_window,
    profile_from_logs,
    profile_from_rate_csv,
    run_import,
    save_profile,
)

T0 = 1_714_557_600  # 2024-05-01T10:00:00Z, a whole minute


def line(t: float, request: str, status: int = 200) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t))
    return f'10.0.0.1 - - [{stamp}] "{request} HTTP/1.1" {status} 512 "-" "curl/8"'


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def shifting_log(tmp_path: Path, start: float = T0 + 20) -> tuple[Path, list[tuple[float, str]]]:
    """Three minutes whose mix changes: minute 0 all /a, minute 1 /a and /b, minute 2 all /b; "-" lines too."""
    reqs: list[tuple[float, str]] = []
    for s in range(int(start - T0), 180):
        minute = s // 60
        reqs += [(T0 + s, "GET /a/1")] * (2 if minute < 2 else 0)
        reqs += [(T0 + s, f"GET /b?x={s}")] * (3 if minute > 0 else 0)
        if s % 10 == 0:
            reqs.append((T0 + s, "-"))
    return write(tmp_path / "access.log", [line(t, r) for t, r in reqs]), reqs


def test_mix_per_block_is_counted_exactly_and_round_trips(tmp_path):
    log, reqs = shifting_log(tmp_path)
    profile = profile_from_logs([str(log)])
    assert profile.mix_interval == 60 and profile.start == T0 + 20
    expected = {}
    for t, r in reqs:
        if r != "-":
            ep = ("GET", "/a/{id}") if r.startswith("GET /a") else ("GET", "/b?x={x}")
            expected.setdefault(int(t // 60), Counter())[ep] += 1
    assert {b.index: dict(b.counts) for b in profile.blocks} == {j: dict(c) for j, c in expected.items()}
    files = save_profile(profile, tmp_path / "p.csv", chart=False)
    rows = files.mix.read_text().splitlines()
    assert rows[0] == "start,method,path,requests"
    # the first block starts with the profile, the others on whole minutes; endpoints sorted in a block
    assert rows[1:4] == ["2024-05-01T10:00:20Z,GET,/a/{id},80", "2024-05-01T10:01:00Z,GET,/a/{id},120",
                         "2024-05-01T10:01:00Z,GET,/b?x={x},180"]
    assert rows[4:] == ["2024-05-01T10:02:00Z,GET,/b?x={x},180"]
    back = load_profile(files.json)
    assert back.blocks == profile.blocks and back.format == "loadkit-profile/2"
    assert back.unclassified == 16 == sum(1 for _, r in reqs if r == "-")


def test_the_cap_sums_the_rest_per_block(tmp_path):
    log, _ = shifting_log(tmp_path)
    profile = profile_from_logs([str(log)], max_endpoints=1)
    assert [(e.method, e.path) for e in profile.endpoints] == [("GET", "/b?x={x}")]
    assert profile.other_endpoints == 200 and profile.distinct_endpoints == 2
    assert [dict(b.counts).get(OTHER, 0) for b in profile.blocks] == [80, 120, 0]
    rows = save_profile(profile, tmp_path / "p.csv", chart=False).mix.read_text().splitlines()
    assert "2024-05-01T10:00:20Z,*,*,80" in rows
    assert load_profile(tmp_path / "p.csv").blocks == profile.blocks


def test_mix_interval_flag(tmp_path):
    log, _ = shifting_log(tmp_path)
    assert profile_from_logs([str(log)], mix_interval=120).mix_interval == 120
    assert len(profile_from_logs([str(log)], mix_interval=1).blocks) == 160  # every second with requests
    with pytest.raises(ConfigError, match=r"--mix-interval 90s: expected a whole number of intervals of 1m"):
        profile_from_logs([str(log)], interval=60, mix_interval=90)
    assert profile_from_logs([str(log)], interval=7).mix_interval == 63  # the default, rounded up to intervals


def test_peak_windows_start_and_end_on_blocks(tmp_path):
    log, _ = shifting_log(tmp_path)
    per_minute = profile_from_logs([str(log)])
    pw = peak_window(per_minute, 60)  # the busiest whole minute, so its mix is exactly known
    assert (pw.start, pw.end, pw.requests) == (T0 + 60, T0 + 120, 300 + 6)
    per_second = profile_from_logs([str(log)], mix_interval=1)
    assert peak_window(per_second, 60).start == T0 + 60  # the same minute: busier at every second
    with pytest.raises(ValueError, match="no 90s window starts and ends on the profile's 1m mix blocks"):
        peak_window(per_minute, 90)
    with pytest.raises(ValueError, match="a 10m window is longer than the profile"):
        peak_window(per_minute, 600)


def test_exclusion_rules():
    static = Exclusion(static=True)
    for path in ("/wp-includes/js/jquery.js?ver={ver}", "/s/app.{hash}.CSS", "/favicon.ico", "/fonts/a.woff2",
                 "/img/{id}.webp", "/favicon.png", "/app.js.map"):
        assert static(("GET", path)), path
    for path in ("/", "/feed/", "/wp-admin/admin-ajax.php", "/search?q={q}", "/js/", "/style.css.php"):
        assert not static(("GET", path)), path
    rules = Exclusion(("HEAD /", "/feed/*", "*.php", "P* /wp-admin/*"))
    assert rules(("HEAD", "/")) and not rules(("GET", "/"))
    assert rules(("GET", "/feed/atom/")) and rules(("GET", "/xmlrpc.php?rsd={rsd}"))
    assert rules(("POST", "/wp-admin/x")) and not rules(("GET", "/wp-admin/x"))
    assert rules.describe() == ["HEAD /", "/feed/*", "*.php", "P* /wp-admin/*"]
    assert Exclusion(("/x",), static=True).describe() == ["static", "/x"]


def test_excluded_requests_leave_rate_mix_and_statuses(tmp_path):
    log, reqs = shifting_log(tmp_path)
    full = profile_from_logs([str(log)])
    cut = profile_from_logs([str(log)], exclusion=Exclusion(("/b*",)))
    b = sum(1 for _, r in reqs if r.startswith("GET /b"))
    assert cut.excluded == b and cut.total_requests == full.total_requests - b
    assert [(e.method, e.path) for e in cut.endpoints] == [("GET", "/a/{id}")]
    assert sum(s.requests for s in cut.statuses) == cut.total_requests
    assert cut.exclude == ("/b*",)
    with pytest.raises(ConfigError, match=r"all 560 requests were excluded by --exclude/--exclude-static \(/\*\)"):
        profile_from_logs([str(write(tmp_path / "only.log", [line(T0 + i, "GET /x") for i in range(560)]))],
                          exclusion=Exclusion(("/*",)))


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_import_arguments(p)
    return p.parse_args(argv)


@pytest.mark.parametrize(("flags", "message"), [
    (["--max-endpoints", "0"], "argument --max-endpoints: expected a whole number >= 1, got '0'"),
    (["--max-endpoints", "lots"], "argument --max-endpoints: expected a whole number >= 1, got 'lots'"),
    (["--exclude", "feed/*"], "argument --exclude: a path pattern starts with / or *"),
    (["--exclude", "get /x"], "argument --exclude: expected METHOD /path (e.g. 'HEAD /') or a path pattern"),
    (["--mix-interval", "soon"], "argument --mix-interval: expected a duration such as 30s"),
    (["--mix-interval", "90s", "--interval", "1m"], "--mix-interval 90s: expected a whole number of intervals of 1m"),
    (["--peak-window", "1h"], "--peak-window 1h: a 1h window is longer than the profile (160s, 2024-05-01T10:00:20Z to"),
    (["--peak-window", "90s"], "--peak-window 90s: no 90s window starts and ends on the profile's 1m mix blocks; "
                               "pass a multiple of the 1m --mix-interval"),
])
def test_bad_flag_values_are_one_line_exit_2(tmp_path, capsys, flags, message):
    log, _ = shifting_log(tmp_path)
    code = main(["profile", "import", str(log), "-o", str(tmp_path / "p.csv"), "--no-chart", *flags])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert "Traceback" not in err


def test_json_is_a_summary_unless_intervals_are_asked_for(tmp_path, capsys):
    log, _ = shifting_log(tmp_path)
    assert main(["profile", "import", str(log), "-o", str(tmp_path / "p.csv"), "--no-chart", "--json",
                 "--exclude", "/b*"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "rates" not in doc and doc["intervals"] == 151 and doc["exclude"] == ["/b*"]
    assert doc["counts"]["excluded"] == 360 and doc["mix_interval_s"] == 60 and doc["mix_blocks"] == 2
    assert main(["profile", "import", str(log), "-o", str(tmp_path / "p.csv"), "--no-chart", "--json-intervals"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["rates"]) == 160 and doc["rates"][0] == {"start": "2024-05-01T10:00:20Z", "requests": 3, "rate": 3}


def test_rate_series_without_endpoints_has_no_mix(tmp_path):
    f = tmp_path / "rates.csv"
    f.write_text("timestamp,rate\n" + "".join(f"{T0 + 60 * i},{5 + i}\n" for i in range(30)))
    files = save_profile(profile_from_rate_csv(str(f)), tmp_path / "r.csv", chart=False)
    back = load_profile(files.csv)
    assert files.mix is None and not (tmp_path / "r.mix.csv").exists()
    assert back.blocks == () and back.mix_interval is None and json.loads(files.json.read_text())["mix"] is None


def test_rate_series_with_endpoints_has_a_mix(tmp_path):
    f = tmp_path / "rates.csv"
    rows = ["timestamp,rate,endpoint"]
    for i in range(10):  # 30 s steps: /a in the first 2.5 minutes, /b after
        rows.append(f"{T0 + 30 * i},{2},{'GET /a' if i < 5 else 'GET /b'}")
    f.write_text("\n".join(rows) + "\n")
    p = profile_from_rate_csv(str(f))
    assert p.interval == 30 and p.mix_interval == 60
    assert [(b.index - T0 // 60, dict(b.counts)) for b in p.blocks] == [
        (0, {("GET", "/a"): 120}), (1, {("GET", "/a"): 120}), (2, {("GET", "/a"): 60, ("GET", "/b"): 60}),
        (3, {("GET", "/b"): 120}), (4, {("GET", "/b"): 120})]
    assert profile_from_rate_csv(str(f), exclusion=Exclusion(("/a",))).excluded == 300


def test_format_1_profiles_are_still_read(tmp_path):
    """A profile as loadkit wrote it before the mix per block: read, with no blocks, saying so in its format."""
    (tmp_path / "old.csv").write_text("start,requests,rate\n" + "".join(
        f"2024-05-01T10:00:{s:02d}Z,{s % 5},{s % 5}\n" for s in range(60)))
    (tmp_path / "old.json").write_text(json.dumps({
        "format": "loadkit-profile/1", "rates": "old.csv", "chart": None, "interval_s": 1,
        "start": "2024-05-01T10:00:00Z", "end": "2024-05-01T10:01:00Z", "intervals": 60, "requests": 120,
        "unclassified_requests": 0, "other_endpoints_requests": 20,
        "summary": {"peak_window": {"name": "peak-10s", "length_s": 10}},
        "sources": [{"path": "access.log", "format": "combined", "lines": 120, "malformed": 0}],
        "statuses": [{"status": "200", "requests": 120, "share": 1.0}],
        "endpoints": [{"method": "GET", "path": "/a", "requests": 100, "share": 100 / 120}]}))
    p = load_profile(tmp_path / "old.csv")
    assert p.format == "loadkit-profile/1" and p.blocks == () and p.mix_interval is None
    assert p.total_requests == 120 and p.endpoints[0].requests == 100 and p.max_endpoints == 200
    assert peak_window(p).name == "peak-10s"  # interval-resolution windows, as before


@pytest.mark.parametrize(("mix", "message"), [
    ("start,method,path\n", ":1: expected the header start,method,path,requests; re-import the profile"),
    ("start,method,path,requests\n2024-05-01T10:00:20Z,GET,/a/{id},lots\n", ":2: requests: expected a count >= 0"),
    ("start,method,path,requests\nyesterday,GET,/a,1\n", ":2: start: expected an ISO 8601 time, got 'yesterday'"),
    ("start,method,path,requests\n2024-05-01T10:00:20Z,GET,a,1\n", ":2: path: expected a method and a templated path"),
    ("start,method,path,requests\n2024-05-01T11:00:00Z,GET,/a,1\n", ":2: start: 2024-05-01T11:00:00Z is outside"),
    ("start,method,path,requests\n2024-05-01T10:00:20Z,GET,/a,1000\n",
     ": the block starting 2024-05-01T10:00:20Z holds 1000 requests but the rate series only 84"),
    ("start,method,path,requests\n2024-05-01T10:01:00Z,GET,/a,1\n2024-05-01T10:00:20Z,GET,/a,1\n",
     ":3: start: rows are not in time order"),
])
def test_a_damaged_mix_file_is_one_located_line(tmp_path, mix, message):
    log, _ = shifting_log(tmp_path)
    files = save_profile(profile_from_logs([str(log)]), tmp_path / "p.csv", chart=False)
    files.mix.write_text(mix)
    with pytest.raises(ConfigError) as err:
        load_profile(files.csv)
    (text,) = err.value.lines()
    assert text.startswith(str(files.mix)) and message in text, text


def test_a_missing_mix_file_says_re_import(tmp_path):
    log, _ = shifting_log(tmp_path)
    files = save_profile(profile_from_logs([str(log)]), tmp_path / "p.csv", chart=False)
    files.mix.unlink()
    with pytest.raises(ConfigError, match=r"p\.mix\.csv: cannot read the endpoint mix: .*; re-import the profile"):
        load_profile(files.csv)


def test_reimport_without_endpoints_removes_the_stale_mix(tmp_path):
    log, _ = shifting_log(tmp_path)
    run_import(parse([str(log), "-o", str(tmp_path / "p.csv"), "--no-chart"]))
    assert (tmp_path / "p.mix.csv").exists()
    f = tmp_path / "rates.csv"
    f.write_text("timestamp,rate\n" + "".join(f"{T0 + 60 * i},1\n" for i in range(5)))
    run_import(parse([str(f), "-o", str(tmp_path / "p.csv"), "--no-chart"]))
    assert not (tmp_path / "p.mix.csv").exists() and load_profile(tmp_path / "p.csv").blocks == ()
