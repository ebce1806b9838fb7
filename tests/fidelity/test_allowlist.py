"""No request of any user leaves ``target.allowed_hosts``: every way around it, tried against a listener on
127.0.0.2 (outside an allow-list of 127.0.0.1), is refused before anything is sent, recorded as a
failure with the reason, counted in ``manifest.json`` ``refused`` and fails the verdict.

The listener counts TCP connections, so "received nothing" means not even a connection.
Metric-source URLs (``metrics:``) are held to the allow-list by the collectors and tested there.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from support.counting_server import CountingServer
from support.fidelity import LOADKIT, LOCUSTFILES, OUTSIDE, run_loadkit, write_scenario

from loadkit.cli import main

ESCAPES = ["AbsoluteHttp", "RedirectHttp", "SecondHttpSession", "SpellingsHttp", "PlainRequests", "Urllib",
           "AbsoluteFast", "RedirectFast", "SecondFastSession", "SpellingsFast", "RawSocket"]
REFUSED = "refused: host '127.0.0.2' is not in target.allowed_hosts (127.0.0.1); nothing was sent"
SPELLINGS = ["0x7f000002", "0X7F000002", "2130706434", "127.2", "0177.0.0.2", "127.0.0.2.", "[::ffff:127.0.0.2]",
             "[::ffff:7f00:2]", "userinfo host@outside", "userinfo host:port@outside"]


def _nothing_reached(site: CountingServer) -> None:
    assert site.counts(OUTSIDE) == {"connections": 0, "requests": {}, "logins": []}


def test_every_way_past_the_allow_list_is_refused_recorded_and_fails_the_verdict(site: CountingServer,
                                                                                  tmp_path: Path) -> None:
    outside = site.url(OUTSIDE)
    users = "".join(f"  - locust: {{class: {LOCUSTFILES}/escapes.py:{c}, options: {{outside: \"{outside}\"}}}}\n"
                    for c in ESCAPES)
    path = write_scenario(tmp_path, f"""\
name: escapes
target: {{host: {site.url(LOADKIT)}, allowed_hosts: [127.0.0.1]}}
users:
  - name: yaml
    wait: {{pacing: 0.3}}
    requests: [{{name: YAML redirect, path: "/redirect?to={outside}/yaml"}}]
{users}environment:
  urls: ["/redirect?to={outside}/config"]
load: {{users: {len(ESCAPES) + 1}, spawn_rate: {len(ESCAPES) + 1}, duration: 2s}}
checks: ["rps > 0"]
""")
    lk = run_loadkit(path, tmp_path / "out")
    _nothing_reached(site)
    assert lk.code == 1, lk.stderr
    samples = lk.samples()
    refused = samples[samples.error.fillna("").str.contains("not in target.allowed_hosts")]
    names = {
        "YAML redirect", "HttpUser absolute URL", "HttpUser redirect", "second HttpSession", "requests.get", "urlopen",
        "FastHttpUser absolute URL", "FastHttpUser redirect", "second FastHttpSession", "raw socket",
        *(f"HttpUser spelling {s}" if not s.startswith("userinfo") else f"HttpUser {s}" for s in SPELLINGS),
        *(f"FastHttpUser spelling {s}" if not s.startswith("userinfo") else f"FastHttpUser {s}" for s in SPELLINGS),
    }
    by_name = samples.groupby("endpoint")
    for name in sorted(names):
        rows = by_name.get_group(name) if name in by_name.groups else None
        assert rows is not None and len(rows) >= 1, (name, sorted(by_name.groups))
        assert rows.error.notna().all(), (name, rows.error.tolist())
        assert rows.error.str.contains(REFUSED, regex=False).all(), (name, rows.error.unique())
    # "http://127.0.0.2:P\\@127.0.0.1:Q/": requests reads host 127.0.0.2 (refused), geventhttpclient 127.0.0.1, where
    # it then went; either way to the host it names, checked at the connection too
    assert REFUSED in by_name.get_group("HttpUser userinfo backslash").error.iloc[0]
    backslash = by_name.get_group("FastHttpUser userinfo backslash")
    assert (backslash.status == 200).all() and site.counts(LOADKIT)["requests"]["GET /about"] == len(backslash)
    allowed = samples[samples.endpoint == "allowed"]
    assert len(allowed) >= len(ESCAPES) and allowed.error.isna().all()  # the allowed host was served throughout
    manifest, verdict = lk.manifest, lk.verdict
    environment = lk.json("environment.json")
    assert any("not in target.allowed_hosts" in e for e in environment["errors"]), environment["errors"]
    # every refusal counted once: each refused request, and the environment URL's redirect
    assert manifest["refused"] == {"127.0.0.2": len(refused) + 1}, (manifest["refused"], len(refused))
    check = next(c for c in verdict["checks"] if c["check"] == "only allowed hosts")
    assert verdict["status"] == "FAIL" and check["status"] == "FAIL", verdict
    assert f"{len(refused) + 1} request(s) refused before they were sent" in check["reason"]
    assert "127.0.0.2" in check["reason"]


@pytest.mark.parametrize("host", ["http://127.0.0.2:{port}", "http://0x7f000002:{port}", "http://2130706434:{port}",
                                  "http://127.2:{port}", "http://[::ffff:127.0.0.2]:{port}", "http://127.0.0.2.:{port}",
                                  "http://127.0.0.1@127.0.0.2:{port}", "http://127.0.0.1:{port}@127.0.0.2:{port}"])
def test_a_target_host_outside_the_list_in_any_spelling_is_refused_before_the_run(site: CountingServer,
                                                                                 tmp_path: Path, host: str) -> None:
    url = host.format(port=site.ports[OUTSIDE])
    path = write_scenario(tmp_path, """\
        name: spelled
        target: {host: http://127.0.0.1:9, allowed_hosts: [127.0.0.1]}
        users:
          - name: u
            requests: [{path: /}]
        load: {users: 1, duration: 1s}
        """)
    for argv in (["run", str(path), "--host", url], ["run", str(path), "--set", f"target.host={url}"]):
        err = io.StringIO()
        assert main([*argv, "--out", str(tmp_path / "out"), "--quiet"], stdout=io.StringIO(), stderr=err) == 2
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and "host '127.0.0.2' is not in target.allowed_hosts (127.0.0.1)" in lines[0], lines
    assert not (tmp_path / "out").exists()
    _nothing_reached(site)


def test_an_environment_url_outside_the_list_is_refused_before_the_run(site: CountingServer, tmp_path: Path) -> None:
    path = write_scenario(tmp_path, f"""\
        name: env-url
        target: {{host: {site.url(LOADKIT)}, allowed_hosts: [127.0.0.1]}}
        users:
          - name: u
            requests: [{{path: /}}]
        environment: {{urls: ["http://0x7f000002:{site.ports[OUTSIDE]}/config"]}}
        load: {{users: 1, duration: 1s}}
        """)
    err = io.StringIO()
    assert main(["validate", str(path)], stdout=io.StringIO(), stderr=err) == 2
    assert "host '127.0.0.2' is not in target.allowed_hosts" in err.getvalue(), err.getvalue()
    _nothing_reached(site)


@pytest.mark.parametrize("caught", [False, True])
def test_a_locustfile_whose_top_level_code_connects_outside_the_list_is_refused_at_validation(
        site: CountingServer, tmp_path: Path, caught: bool) -> None:
    """As in Locust's ``examples/test_data_management.py``, a file may fetch test data when it is imported."""
    fetch = f'requests.get("{site.url(OUTSIDE)}/testdata", timeout=5)'
    body = f"try:\n    {fetch}\nexcept OSError:\n    pass\n" if caught else f"DATA = {fetch}.text\n"
    (tmp_path / "fetching.py").write_text(
        f'import requests\nfrom locust import HttpUser, task\n\nrequests.get("{site.url(LOADKIT)}/about", timeout=5)\n'
        f"{body}\n\nclass Fetcher(HttpUser):\n    @task\n    def t(self):\n        self.client.get('/')\n")
    path = write_scenario(tmp_path, f"""\
        name: fetching
        target: {{host: {site.url(LOADKIT)}, allowed_hosts: [127.0.0.1]}}
        users: [{{locust: {tmp_path}/fetching.py:Fetcher}}]
        load: {{users: 1, duration: 1s}}
        """)
    err = io.StringIO()
    assert main(["validate", str(path)], stdout=io.StringIO(), stderr=err) == 2
    assert err.getvalue().splitlines() == [
        f"loadkit: error: {path}:3: users.0.locust: importing {tmp_path}/fetching.py failed: its top-level code "
        "connects to '127.0.0.2', which is not in target.allowed_hosts (127.0.0.1); nothing was sent"]
    _nothing_reached(site)
    assert site.counts(LOADKIT)["requests"] == {"GET /about": 1}  # the allowed host was reached as written
