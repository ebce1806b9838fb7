"""Profile import on two real access logs (../shared/data/access-logs), checked against an independent reader.

The figures asserted here are the ones docs/profiles.md quotes.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from helpers import read_log, real_log

from loadkit.cli import main
from loadkit.profiles import OTHER, Exclusion, load_profile, profile_from_logs, save_profile

WORDPRESS, APACHE = "wordpress-2013.access.log.gz", "apache-2015.access.log.gz"
# the --exclude-static preset, written out independently of loadkit's list
STATIC = (".css", ".js", ".map", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".woff", ".woff2",
          ".ttf", ".eot", ".otf")


@pytest.fixture(scope="module")
def logs():
    return {name: read_log(real_log(name)) for name in (WORDPRESS, APACHE)}


def other_share(records, cap: int) -> float:
    """Share of the requests with an endpoint that fall beyond the ``cap`` busiest endpoints."""
    counts = Counter(ep for _, ep in records if ep)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return sum(n for _, n in ranked[cap:]) / sum(counts.values())


@pytest.mark.parametrize(("name", "cap", "share"), [
    (WORDPRESS, 200, 0.1278), (APACHE, 200, 0.2179),  # the old cap: 13 % and 22 % left in "other"
    (WORDPRESS, 1000, 0.0008), (APACHE, 1000, 0.0391),  # the new default
])
def test_endpoint_cap_and_the_other_share(logs, name, cap, share):
    profile = profile_from_logs([str(real_log(name))], max_endpoints=cap)
    measured = profile.other_endpoints / profile.classified
    assert measured == pytest.approx(other_share(logs[name], cap), abs=1e-12)
    assert round(measured, 4) == share
    assert len(profile.endpoints) == cap and profile.distinct_endpoints == len({ep for _, ep in logs[name] if ep})


def test_default_cap_is_1000(logs):
    profile = profile_from_logs([str(real_log(APACHE))])
    assert profile.max_endpoints == 1000 and len(profile.endpoints) == 1000 and profile.distinct_endpoints == 1391


@pytest.mark.parametrize("name", [WORDPRESS, APACHE])
def test_the_mix_of_every_minute_is_the_log_s(logs, name, tmp_path):
    profile = load_profile(save_profile(profile_from_logs([str(real_log(name))]), tmp_path / "p.csv", chart=False).csv)
    named = {(e.method, e.path) for e in profile.endpoints}
    expected: dict[int, Counter] = {}
    for t, ep in logs[name]:
        if ep:
            expected.setdefault(t // 60, Counter())[ep if ep in named else OTHER] += 1
    assert {b.index: dict(b.counts) for b in profile.blocks} == {j: dict(c) for j, c in expected.items()}


@pytest.mark.parametrize(("name", "static_share"), [(WORDPRESS, 0.554), (APACHE, 0.541)])
def test_exclude_static_on_real_logs(logs, name, static_share):
    records = logs[name]
    static = sum(1 for _, ep in records if ep and ep[1].partition("?")[0].lower().endswith(STATIC))
    profile = profile_from_logs([str(real_log(name))], exclusion=Exclusion(static=True))
    assert profile.excluded == static and profile.total_requests == len(records) - static
    assert round(static / sum(1 for _, ep in records if ep), 3) == static_share  # of the requests with an endpoint
    assert not [e for e in profile.endpoints if e.path.partition("?")[0].lower().endswith(STATIC)]
    assert profile.exclude == ("static",)


def test_exclude_globs_on_the_wordpress_log(logs):
    records = logs[WORDPRESS]
    head = sum(1 for _, ep in records if ep == ("HEAD", "/"))
    uploads = sum(1 for _, ep in records if ep and ep[1].startswith("/wp-content/uploads/"))
    profile = profile_from_logs([str(real_log(WORDPRESS))], exclusion=Exclusion(("HEAD /", "/wp-content/uploads/*")))
    assert profile.excluded == head + uploads and (head, uploads) == (2922, 2351)
    assert ("HEAD", "/") not in {(e.method, e.path) for e in profile.endpoints}
    assert profile.total_requests == len(records) - head - uploads


def test_json_summary_of_a_long_profile_and_every_interval_on_request(logs, tmp_path, capsys):
    """The Apache log spans 3.5 days: 298,860 one-second intervals, which --json no longer prints."""
    out = tmp_path / "apache.csv"
    assert main(["profile", "import", str(real_log(APACHE)), "-o", str(out), "--no-chart", "--json"]) == 0
    text = capsys.readouterr().out
    doc = json.loads(text)
    assert len(text) < 10_000 and "rates" not in doc
    assert doc["intervals"] == 298_860 and doc["requests"] == 10_000
    assert (doc["peak_rate"], doc["peak_at"]) == (9, "2015-05-17T23:05:30Z")  # the data README's figure
    assert [w["name"] for w in doc["windows"]] == ["peak-1m", "peak-5m", "peak-10m", "peak-30m", "peak-1h"]
    assert doc["counts"] == {"lines": 10_000, "malformed": 0, "unclassified": 0, "excluded": 0,
                             "other_endpoints": 391, "endpoints": 1000, "distinct_endpoints": 1391,
                             "max_endpoints": 1000}
    assert doc["top_endpoints"][0] == {"method": "GET", "path": "/favicon.ico", "requests": 799, "share": 0.0799}
    assert main(["profile", "import", str(real_log(APACHE)), "-o", str(out), "--no-chart", "--json-intervals"]) == 0
    rates = json.loads(capsys.readouterr().out)["rates"]
    assert len(rates) == 298_860 and sum(r["requests"] for r in rates) == 10_000


def test_import_summary_names_what_was_left_out(logs, capsys, tmp_path):
    records = logs[WORDPRESS]
    left = [ep for _, ep in records
            if ep and (ep == ("HEAD", "/") or ep[1].partition("?")[0].lower().endswith(STATIC))]
    kept = {ep for _, ep in records if ep} - set(left)
    assert (len(left), len(kept)) == (10544, 702)
    assert main(["profile", "import", str(real_log(WORDPRESS)), "-o", str(tmp_path / "wp.csv"), "--no-chart",
                 "--exclude-static", "--exclude", "HEAD /", "--max-endpoints", "200"]) == 0
    text = capsys.readouterr().out
    assert "excluded: 10544 requests (72.13% of 14619) by static, HEAD /; they are in neither the rate nor the mix" in text
    assert "endpoints: 702 distinct, 200 kept by name (--max-endpoints 200)" in text
    doc = json.loads((tmp_path / "wp.json").read_text())
    assert doc["excluded_requests"] == 10544 and doc["exclude"] == ["static", "HEAD /"] and doc["max_endpoints"] == 200
    assert doc["requests"] == len(records) - 10544
