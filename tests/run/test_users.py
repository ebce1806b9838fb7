"""What YAML users actually send: variables, CSV rows, headers, auth, bodies, expectations.

A recording WSGI server runs in this process (gevent), loadkit runs against it for real.
"""

import json
import textwrap
import uuid

import pandas as pd
import pytest
from gevent.pywsgi import WSGIServer
from helpers import only_run, own_checks, read

from loadkit.cli import main


@pytest.fixture()
def recorder():
    seen: list[dict] = []

    def app(environ, start_response):
        body = environ["wsgi.input"].read()
        seen.append({
            "method": environ["REQUEST_METHOD"],
            "path": environ["PATH_INFO"] + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""),
            "headers": {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")},
            "body": body.decode(),
        })
        status = "201 Created" if environ["REQUEST_METHOD"] == "POST" else "200 OK"
        start_response(status, [("Content-Type", "text/plain")])
        return [b"hello world"]

    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.stop()


def test_requests_are_varied_and_carry_headers_and_auth(recorder, tmp_path, monkeypatch):
    url, seen = recorder
    (tmp_path / "people.csv").write_text("email,plan\nann@x.io,free\nbob@x.io,pro\ncid@x.io,team\n")
    (tmp_path / "s.yaml").write_text(textwrap.dedent("""\
        name: vars
        target:
          host: http://127.0.0.1:1
          headers: {X-Env: staging}
        users:
          - name: u
            wait: {constant: 0.01}
            headers: {X-User: "{person.email}"}
            auth: {bearer: {token_env: LK_TEST_TOKEN}}
            vars:
              topic: {choice: [refund, login]}
              n: {randint: [1, 3]}
              rid: {uuid: true}
              person: {csv: people.csv, order: sequential}
            requests:
              - {name: search, path: "/faq?q={topic}&plan={person.plan}", headers: {X-Req: "{rid}"}}
              - {name: create, method: POST, path: /tickets, json: {count: "{n}", note: "n={n}", who: "{person.email}"},
                 expect: {status: 201, contains: hello}}
        load: {users: 2, spawn_rate: 2, duration: 2s}
        checks: ["error_rate < 1%"]
        """))
    monkeypatch.setenv("LK_TEST_TOKEN", "s3cr3t-token")
    out = tmp_path / "res"
    assert main(["run", str(tmp_path / "s.yaml"), "--host", url, "--out", str(out), "--quiet"]) == 0
    searches = [r for r in seen if r["path"].startswith("/faq")]
    creates = [r for r in seen if r["method"] == "POST"]
    assert len(searches) > 10 and len(creates) > 10
    assert {r["path"].split("&")[0] for r in searches} == {"/faq?q=refund", "/faq?q=login"}
    assert {r["path"].split("plan=")[1] for r in searches} == {"free", "pro", "team"}
    for r in seen:
        assert r["headers"]["authorization"] == "Bearer s3cr3t-token"
        assert r["headers"]["x-env"] == "staging"
        assert r["headers"]["x-user"] in {"ann@x.io", "bob@x.io", "cid@x.io"}
    ids = [r["headers"]["x-req"] for r in searches]
    assert len(set(ids)) == len(ids) and all(uuid.UUID(i).version == 4 for i in ids)
    bodies = [json.loads(r["body"]) for r in creates]
    assert {b["count"] for b in bodies} <= {1, 2, 3} and all(isinstance(b["count"], int) for b in bodies)
    assert all(b["note"] == f"n={b['count']}" for b in bodies)
    run = only_run(out)
    assert "s3cr3t-token" not in "".join(p.read_text(errors="ignore") for p in run.glob("*.json"))


def test_expectation_failures_are_recorded_with_reason(recorder, tmp_path):
    url, _ = recorder
    (tmp_path / "s.yaml").write_text(textwrap.dedent("""\
        name: expect
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            wait: {constant: 0.02}
            requests:
              - {name: wrong-status, path: /a, expect: {status: 204}}
              - {name: wrong-body, path: /b, expect: {contains: goodbye}}
              - {name: fine, path: /c}
        load: {users: 2, spawn_rate: 2, duration: 2s}
        checks: ["error_rate(fine) < 1%", "error_rate < 10%"]
        """))
    out = tmp_path / "res"
    assert main(["run", str(tmp_path / "s.yaml"), "--host", url, "--out", str(out), "--quiet"]) == 1
    run = only_run(out)
    samples = pd.read_parquet(run / "samples.parquet")
    errors = samples.groupby("endpoint").error.first()
    assert "expected status 204, got 200" in errors["wrong-status"]
    assert "response does not contain 'goodbye'" in errors["wrong-body"]
    assert samples[samples.endpoint == "fine"].error.isna().all()
    verdict = read(run, "verdict.json")
    assert [c["status"] for c in own_checks(verdict)] == ["PASS", "FAIL"]


def test_seeded_runs_draw_the_same_values(recorder, tmp_path):
    url, seen = recorder
    (tmp_path / "s.yaml").write_text(textwrap.dedent("""\
        name: seeded
        seed: 7
        target: {host: http://127.0.0.1:1}
        users:
          - name: u
            wait: {constant: 0.05}
            vars: {n: {randint: [1, 1000000]}}
            requests: [{name: r, path: "/r/{n}"}]
        load: {users: 1, spawn_rate: 1, duration: 1s}
        """))
    paths = []
    for i in range(2):
        seen.clear()
        assert main(["run", str(tmp_path / "s.yaml"), "--host", url, "--out", str(tmp_path / f"r{i}"), "--quiet"]) == 0
        paths.append([r["path"] for r in seen][:5])
    assert paths[0] == paths[1] and len(set(paths[0])) == 5
