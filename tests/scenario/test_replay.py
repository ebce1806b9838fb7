"""``load: {replay: ...}``: each window replays its own endpoint mix, unmapped traffic is a stated choice, bad
windows are located errors. Checked on the real WordPress log against an independent reader."""

from __future__ import annotations

import json
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import read_log, real_log

from loadkit.cli import main
from loadkit.errors import ConfigError
from loadkit.profiles import profile_from_logs, save_profile
from loadkit.scenario import load_scenario

WORDPRESS = "wordpress-2013.access.log.gz"
HOUR = 3600
# six endpoints carrying a third of the day's requests with a mapping (the case)
SIX = {"HEAD /": "head", "GET /wp-includes/js/jquery/jquery-migrate.min.js?ver={ver}": "migrate",
       "GET /wp-includes/js/jquery/jquery.js?ver={ver}": "jquery", "GET /js/baidu.js": "baidu",
       "GET /js/google.js": "google", "POST /wp-admin/admin-ajax.php": "ajax"}


@pytest.fixture(scope="module")
def records():
    return read_log(real_log(WORDPRESS))


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    """The WordPress log imported with the default 1-minute mix blocks, and with 1-second ones."""
    folder = tmp_path_factory.mktemp("profiles")
    log = str(real_log(WORDPRESS))
    save_profile(profile_from_logs([log]), folder / "wp.csv", chart=False)
    save_profile(profile_from_logs([log], mix_interval=1), folder / "wp1s.csv", chart=False)
    return folder


def scenario(folder: Path, load: str, mapping: dict[str, str] | None = SIX, name: str = "s.yaml") -> Path:
    """A scenario with one request per mapped name, replaying with ``load`` lines and ``map:`` last."""
    names = sorted(set((mapping or {"x": "r"}).values()))
    requests = "\n".join(f"      - {{name: {n}, path: /{n}}}" for n in names)
    body = textwrap.dedent("""\
        name: replay
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            requests:
        """) + requests + "\nload:\n" + textwrap.indent(textwrap.dedent(load), "  ")
    if mapping is not None:
        body += "  map:\n" + "".join(f"    {json.dumps(k)}: {v}\n" for k, v in mapping.items())
    path = folder / name
    path.write_text(body)
    return path


def busiest(records, length: int, step: int) -> int:
    """Start of the busiest ``length`` seconds starting on a multiple of ``step`` (or the log's first second)."""
    times = sorted(t for t, _ in records)
    first, last = times[0], times[-1] + 1
    starts = [first] + list(range((first // step + 1) * step, last - length + 1, step))
    import bisect

    return max(starts, key=lambda s: (bisect.bisect_left(times, s + length) - bisect.bisect_left(times, s), -s))


def shares(records, start: float, end: float) -> Counter:
    counts = Counter(ep for t, ep in records if start <= t < end and ep)
    total = sum(counts.values())
    return Counter({f"{m} {p}": n / total for (m, p), n in counts.items()})


def test_the_peak_hour_replays_the_peak_hour_s_mix(profiles, records):
    """HEAD / is 21.2 % of the day but 5.6-5.7 % of the busiest hour; the replay must send the hour's share."""
    path = scenario(profiles, "replay: wp.csv\nwindow: peak-1h\nunmapped: redistribute\nspeedup: 10\n")
    open_load = load_scenario(str(path)).load.open
    start = busiest(records, HOUR, 60)  # whole minutes, as the 1-minute mix blocks
    assert time.strftime("%H:%M:%S", time.gmtime(start)) == "07:57:00"
    hour = shares(records, start, start + HOUR)
    mix = dict(open_load.mix)
    assert mix["head"] == pytest.approx(hour["HEAD /"], abs=1e-12) and round(mix["head"], 3) == 0.057
    sent = 10 * sum(x.requests for x in open_load.segments)  # speedup 10: the same rates for a tenth of the time
    assert sent == pytest.approx(sum(1 for t, _ in records if start <= t < start + HOUR), abs=1e-6)
    # the mix as it changes in the hour: one block per minute, starting in replay seconds (speedup 10)
    assert [b.start for b in open_load.mixes] == [6.0 * k for k in range(60)]
    for k, block in enumerate(open_load.mixes):
        minute = shares(records, start + 60 * k, start + 60 * (k + 1))
        expected = {name: minute[ep] for ep, name in SIX.items() if minute[ep] > 0}
        assert dict(block.weights) == pytest.approx(expected or mix, abs=1e-12), k
    # the whole day, and the 5.6 % with one-second blocks (the hour then starts at any second)
    day = dict(load_scenario(str(path), overrides=["load.window=full"]).load.open.mix)
    assert day["head"] == pytest.approx(shares(records, 0, 2e9)["HEAD /"], abs=1e-12) and round(day["head"], 3) == 0.212
    fine = scenario(profiles, "replay: wp1s.csv\nwindow: peak-1h\nunmapped: redistribute\n", name="fine.yaml")
    start = busiest(records, HOUR, 1)
    assert time.strftime("%H:%M:%S", time.gmtime(start)) == "08:12:27"
    head = dict(load_scenario(str(fine)).load.open.mix)["head"]
    assert head == pytest.approx(shares(records, start, start + HOUR)["HEAD /"], abs=1e-12) and round(head, 3) == 0.056


def test_unmapped_traffic_above_5_percent_is_refused_without_a_choice(profiles, records, capsys):
    path = scenario(profiles, "replay: wp.csv\nwindow: peak-1h\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    start = busiest(records, HOUR, 60)
    hour = shares(records, start, start + HOUR)
    unmapped = sorted(((ep, sh) for ep, sh in hour.items() if ep not in SIX), key=lambda kv: (-kv[1], kv[0]))
    top = unmapped[:5]
    map_line = path.read_text().splitlines().index("  map:") + 1
    assert line == (
        f"loadkit: error: {path}:{map_line}: load.map: {sum(sh for _, sh in unmapped):.1%} of the requests in the "
        "peak-1h window are of endpoints no map line covers (more than 5%); the biggest: "
        + ", ".join(f"{ep} {sh:.1%}" for ep, sh in top)
        + "; cover them with map lines such as " + ", ".join(f'"{ep}": REQUEST-NAME' for ep, _ in top)
        + "; or state load.unmapped: redistribute (send the full rate over the mapped requests) or drop "
          "(send only the mapped share)")
    assert "80.9% of the requests" in line


def test_redistribute_sends_the_full_rate_over_the_mapped_requests(profiles, records):
    path = scenario(profiles, "replay: wp.csv\nwindow: full\nunmapped: redistribute\n")
    open_load = load_scenario(str(path)).load.open
    profile_rates = [float(r) for r in (profiles / "wp.csv").read_text().splitlines()[1:] for r in [r.split(",")[2]]]
    assert [s.rate_start for s in open_load.segments] == profile_rates
    assert open_load.unmapped_mode == "redistribute" and open_load.warnings == ()
    day = shares(records, 0, 2e9)
    assert sum(w for _, w in open_load.mix) == pytest.approx(sum(day[ep] for ep in SIX), abs=1e-12)
    assert open_load.unmapped[0] == ("GET /wp-content/themes/silesia/js/jquery.cycle.all.min.js",
                                     pytest.approx(day["GET /wp-content/themes/silesia/js/jquery.cycle.all.min.js"]))
    assert "unmapped redistribute" in open_load.source and "mix per 1m block" in open_load.source


@pytest.mark.parametrize("window", ["full", "peak-1h", "peak-10m"])
def test_drop_sends_exactly_the_mapped_requests(profiles, records, window):
    path = scenario(profiles, f"replay: wp.csv\nwindow: {window}\nunmapped: drop\n")
    open_load = load_scenario(str(path)).load.open
    if window == "full":
        start, end = 0, 2e9
    else:
        length = HOUR if window == "peak-1h" else 600
        start = busiest(records, length, 60)
        end = start + length
    keys = {tuple(k.split(" ", 1)) for k in SIX}
    mapped = sum(1 for t, ep in records if start <= t < end and ep in keys)
    assert sum(s.requests for s in open_load.segments) == pytest.approx(mapped, abs=1e-6)
    assert open_load.unmapped_mode == "drop"
    unclassified = sum(1 for t, ep in records if start <= t < end and ep is None)
    inside = sum(1 for t, _ in records if start <= t < end)
    assert open_load.warnings == (f"unmapped: drop also leaves out the {unclassified / inside:.1%} of the {window} "
                                  "window's requests that had no method/path",)


def test_drop_follows_the_blocks(profiles, records):
    """Each interval's rate is cut by its own minute's unmapped share, not by the window's."""
    path = scenario(profiles, "replay: wp.csv\nwindow: peak-1h\nunmapped: drop\n")
    segments = load_scenario(str(path)).load.open.segments
    start = busiest(records, HOUR, 60)
    keys = {tuple(k.split(" ", 1)) for k in SIX}
    for k in range(60):
        minute = [ep for t, ep in records if start + 60 * k <= t < start + 60 * (k + 1)]
        sent = sum(s.requests for s in segments[60 * k:60 * (k + 1)])
        assert sent == pytest.approx(sum(1 for ep in minute if ep in keys), abs=1e-9), k


def write_log(path: Path, seconds: int, request_of) -> Path:
    t0 = 1_714_557_600
    lines = []
    for s in range(seconds):
        for r in request_of(s):
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t0 + s))
            lines.append(f'10.0.0.1 - - [{stamp}] "{r} HTTP/1.1" 200 5 "-" "curl/8"')
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_small_unmapped_share_is_redistributed_and_said(tmp_path):
    # 97 of every 100 requests to /a, 3 to /b: 3 % unmapped, under the 5 % that needs a choice
    log = write_log(tmp_path / "access.log", 600, lambda s: ["GET /a"] * 97 + ["GET /b"] * 3)
    save_profile(profile_from_logs([str(log)]), tmp_path / "p.csv", chart=False)
    open_load = load_scenario(str(scenario(tmp_path, "replay: p.csv\n", {"GET /a": "a"}))).load.open
    assert open_load.unmapped_mode == "redistribute" and open_load.unmapped == (("GET /b", pytest.approx(0.03)),)
    assert open_load.warnings == ("3.0% of the full window's requests are of unmapped endpoints and are redistributed "
                                  "over the mapped requests (state load.unmapped to choose)",)
    assert sum(s.requests for s in open_load.segments) == 60_000  # the full rate
    everything = load_scenario(str(scenario(tmp_path, "replay: p.csv\n", {"GET /a": "a", "GET /b": "a"}))).load.open
    assert everything.unmapped_mode == "" and everything.unmapped == () and everything.warnings == ()


def test_a_window_without_any_mapped_request_is_refused(tmp_path):
    # /b only in the first, quiet minute; the busiest minute has none of it
    log = write_log(tmp_path / "access.log", 180, lambda s: ["GET /b"] if s < 60 else ["GET /a"] * 3)
    save_profile(profile_from_logs([str(log)]), tmp_path / "p.csv", chart=False)
    path = scenario(tmp_path, "replay: p.csv\nwindow: peak-1m\nunmapped: drop\n", {"GET /b": "b"})
    with pytest.raises(ConfigError) as err:
        load_scenario(str(path))
    (line,) = err.value.lines()
    assert line.endswith("load.map: none of the mapped endpoints has requests in the peak-1m window")


@pytest.fixture(scope="module")
def half_hour(tmp_path_factory):
    folder = tmp_path_factory.mktemp("half")
    log = write_log(folder / "access.log", 1800, lambda s: ["GET /a"] * (1 + s % 7))
    save_profile(profile_from_logs([str(log)]), folder / "p.csv", chart=False)
    return folder


@pytest.mark.parametrize(("window", "message"), [
    ("peak-2h", "load.window: peak-2h is longer than the profile (30m, 2024-05-01T10:00:00Z to 2024-05-01T10:30:00Z); "
                "use full, or peak-DURATION of at most 30m"),
    ("peak-31m", "load.window: peak-31m is longer than the profile (30m"),
    ("peak-0s", "load.window: peak-0s: expected a window longer than 0"),
    ("peak-soon", "load.window: expected full, peak or peak-DURATION (peak-1h, peak-10m), got 'peak-soon'"),
    ("peak-1.5s", "load.window: peak-1.5s is not a whole number of the profile's 1s intervals; use peak-1s or peak-2s"),
    ("peak-90s", "load.window: peak-90s: a replayed window is made of whole 1m mix blocks, so its endpoint mix is "
                 "the recorded one; use peak-1m or peak-2m, or re-import the profile with a --mix-interval that "
                 "divides 90s"),
    ("peak-30s", "load.window: peak-30s: a replayed window is made of whole 1m mix blocks"),
    ("busiest", "load.window: expected full, peak or peak-DURATION (peak-1h, peak-10m), got 'busiest'"),
    ("5", "load.window: expected full, peak or peak-DURATION (peak-1h, peak-10m), got int 5"),
    ("[peak]", "load.window: expected full, peak or peak-DURATION (peak-1h, peak-10m), got list ['peak']"),
])
def test_bad_windows_are_located_errors(half_hour, capsys, window, message):
    path = scenario(half_hour, f"replay: p.csv\nwindow: {window}\n", {"GET /a": "a"})
    assert main(["validate", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert path.read_text().splitlines()[8].startswith("  window:")
    assert line.startswith(f"loadkit: error: {path}:9: ") and message in line, line


def test_windows_that_fit(half_hour):
    path = scenario(half_hour, "replay: p.csv\nwindow: peak-30m\n", {"GET /a": "a"})
    assert load_scenario(str(path)).load.open.duration == 1800
    peak = load_scenario(str(path), overrides=["load.window=peak"]).load.open
    assert peak.duration == 600 and peak.source.startswith("p.csv peak (peak-10m) x1")


@pytest.mark.parametrize(("load", "message"), [
    ("replay: p.csv\nunmapped: keep\n", "load.unmapped: expected redistribute or drop, got str 'keep'"),
    ("arrival: {rate: 5/s, duration: 5s}\nunmapped: drop\n", "load.unmapped: 'unmapped' applies to replay loads"),
])
def test_bad_unmapped_values(half_hour, load, message):
    with pytest.raises(ConfigError) as err:
        load_scenario(str(scenario(half_hour, load, {"GET /a": "a"})))
    assert any(message in line for line in err.value.lines()), err.value.lines()


def test_unmapped_without_map_is_refused(half_hour):
    with pytest.raises(ConfigError) as err:
        load_scenario(str(scenario(half_hour, "replay: p.csv\nunmapped: drop\n", None)))
    (line,) = err.value.lines()
    assert line.endswith("load.unmapped: applies with load.map: without map the scenario's own request weights take "
                         "the whole rate, so nothing is unmapped")


def test_a_format_1_profile_replays_the_whole_log_mix_and_says_so(tmp_path, capsys):
    """Profiles written before the mix per block still replay, with the whole log's mix and a warning."""
    (tmp_path / "old.csv").write_text("start,requests,rate\n" + "".join(
        f"2024-05-01T10:{m:02d}:{s:02d}Z,{1 + (s % 3)},{1 + (s % 3)}\n" for m in range(20) for s in range(60)))
    (tmp_path / "old.json").write_text(json.dumps({
        "format": "loadkit-profile/1", "rates": "old.csv", "chart": None, "interval_s": 1,
        "start": "2024-05-01T10:00:00Z", "end": "2024-05-01T10:20:00Z", "intervals": 1200, "requests": 2400,
        "unclassified_requests": 0, "other_endpoints_requests": 0,
        "summary": {"peak_window": {"name": "peak-5m", "length_s": 300}}, "sources": [], "statuses": [],
        "endpoints": [{"method": "GET", "path": "/a", "requests": 1800, "share": 0.75},
                      {"method": "GET", "path": "/b", "requests": 600, "share": 0.25}]}))
    path = scenario(tmp_path, "replay: old.csv\nwindow: peak-10m\n", {"GET /a": "a", "GET /b": "b"})
    open_load = load_scenario(str(path)).load.open
    assert dict(open_load.mix) == {"a": 0.75, "b": 0.25} and open_load.mixes == ()
    warning = ("profile old.csv is format 1 and has no mix per block: the whole log's endpoint mix is replayed for "
               "the peak-10m window; re-import it with loadkit profile import for the window's own mix")
    assert open_load.warnings == (warning,) and "whole-log mix" in open_load.source
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().err == f"loadkit: warning: {path}: load.replay: {warning}\n"


def test_a_rate_only_profile_replays_as_before(tmp_path):
    f = tmp_path / "rates.csv"
    f.write_text("timestamp,rate\n" + "".join(f"{1_714_557_600 + 60 * i},{5 + i}\n" for i in range(30)))
    save_profile(__import__("loadkit.profiles", fromlist=["x"]).profile_from_rate_csv(str(f)), tmp_path / "r.csv",
                 chart=False)
    open_load = load_scenario(str(scenario(tmp_path, "replay: r.csv\nwindow: peak-10m\n", None))).load.open
    assert (open_load.mix, open_load.mixes, open_load.unmapped, open_load.unmapped_mode, open_load.warnings) == (
        (), (), (), "", ())
    assert [s.rate_start for s in open_load.segments] == [5.0 + i for i in range(20, 30)]
    with pytest.raises(ConfigError, match=r"endpoint 'GET /a' is not in the profile \(the profile has no endpoints: "
                                          r"it records only a rate\)"):
        load_scenario(str(scenario(tmp_path, "replay: r.csv\n", {"GET /a": "a"})))
