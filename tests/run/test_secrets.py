"""No secret in any output: planted through every input path, grepped for in every file and on the terminal.

Secrets go in through environment variables interpolated into paths, headers and bodies, credentials
read from the environment, the target URL's userinfo and query, a DSN given with ``--set``, a broken
DSN of a metric source, configuration files with secrets nested under secret-looking keys, and an
environment variable recorded in the fingerprint. They must not come out, as written, URL-encoded or
base64-encoded, in the run folder, the baseline, the report, JUnit, Markdown, stdout or stderr.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

from helpers import only_run, scenario_file

from loadkit.cli import main

SECRETS = {
    "API_KEY": "ak-7f3c91d2e5b04a",
    "BEARER": "tok-b9e2a6c1f0d3",
    "BASIC_USER": "svc-loadkit-user",
    "BASIC_PW": "pw-c4a8e1f7b2d9",
    "APP_PASS": "apppass-e8d1c3a9",
    "DB_PW": "dbpw-a1b2c3d4e5",
}
LITERAL = {  # secrets written in files and flags, not in the environment
    "nested": "nested-value-91f2e7",
    "token_list": "listed-token-3c8d",
    "auth_pass": "authpass-66a1e0",
    "dsn_pw": "setdsnpw-5d2f0b",
    "url_pw": "urlpw-0e4c9a",
    "pwd": "pwdkey-4d9c10",
    "passphrase": "phrase-8a7b6c",
    "private": "privkey-2f3e4d",
    "session": "sesskey-1a2b3c",
}


def forms(secret: str) -> set[str]:
    raw = secret.encode()
    return {secret, quote(secret, safe=""), quote_plus(secret), base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("=")}


def test_planted_secrets_never_reach_any_output(standin, tmp_path, capsys, monkeypatch):
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "app.yaml").write_text(json.dumps({
        "db": {"password": {"value": LITERAL["nested"]}, "pool": 10},
        "tokens": [LITERAL["token_list"]], "auth": {"pass": LITERAL["auth_pass"]},
        "pwd": LITERAL["pwd"], "passphrase": LITERAL["passphrase"], "private-key": LITERAL["private"],
        "session_key": LITERAL["session"], "cache": True}))
    path = scenario_file(tmp_path, """\
        name: secrets
        target:
          host: http://127.0.0.1:1
          headers: {X-Api-Key: "${API_KEY}"}
        users:
          - name: u
            wait: {constant: 0.05}
            auth: {basic: {username_env: BASIC_USER, password_env: BASIC_PW}}
            requests:
              - {name: search, path: "/faq/search?q=x&key=${API_KEY}"}
              - {path: "/nope/${API_KEY}"}
              - {name: bearer, path: /health, headers: {Authorization: "Bearer ${BEARER}"}}
        load: {users: 2, spawn_rate: 2, duration: 2s}
        metrics:
          - {name: db, source: postgres, dsn: "postgresql:/postgres:${DB_PW}@127.0.0.1:1/test", connect_timeout: 1s}
        environment:
          files: [app.yaml]
          env: [APP_PASS]
        checks: ["p95(latency) < 1s"]
        compare: ["p95(latency) <= +50%"]
        """)
    host = standin.url.replace("http://", f"http://admin:{LITERAL['url_pw']}@")
    out, base = tmp_path / "out", tmp_path / "baselines"
    junit, md = tmp_path / "junit.xml", tmp_path / "summary.md"
    assert main(["validate", path, "--set", f"target.host=http://127.0.0.1:1/?token={LITERAL['pwd']}"]) == 2
    code = main(["run", path, "--host", host, "--out", str(out), "--baselines", str(base), "--promote-on-pass",
                 "--quiet", "--junit", str(junit), "--markdown", str(md),
                 "--set", f"metrics.0.dsn=postgresql://postgres:{LITERAL['dsn_pw']}@127.0.0.1:1/test",
                 "--env-var", f"DB_PASSWORD={LITERAL['dsn_pw']}"])
    run = only_run(out)
    assert main(["compare", str(run), "--baselines", str(base), "--junit", str(junit), "--markdown", str(md)]) in (0, 1)
    assert main(["report", str(run), "--baselines", str(base)]) == 0
    terminal = capsys.readouterr()
    assert code in (0, 1), terminal.err
    texts = {"stdout": terminal.out, "stderr": terminal.err}
    for f in [*tmp_path.rglob("*")]:
        if f.is_file() and f.suffix in (".json", ".html", ".xml", ".md", ".log", ".txt", ".csv", ".parquet", ".png"):
            texts[str(f.relative_to(tmp_path))] = f.read_bytes().decode("utf-8", "replace")
    assert (run / "samples.parquet").exists()
    planted = {**SECRETS, **LITERAL}
    leaks = [(name, where) for name, secret in planted.items() for where, text in texts.items()
             if where != "app.yaml" and where != "s.yaml" and any(form in text for form in forms(secret))]
    assert not leaks, leaks
    # what must still be visible: the endpoint (masked), the configuration keys, the change digests
    env = json.loads((run / "environment.json").read_text())["values"]
    assert env["app.yaml#db.password.value"].startswith("***") and env["app.yaml#db.pool"] == "10"
    assert env["env#APP_PASS"].startswith("***")
    names = set(json.loads((run / "summary.json").read_text())["run"]["endpoints"])
    assert "GET search" in names and any("/nope/***" in n for n in names), names
