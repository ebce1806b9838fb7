"""With ``--workers``, each worker walks its own share of a CSV data file, so unique data stays unique:
no login is used by two workers (the server's log of logins tells)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from support.counting_server import CountingServer
from support.fidelity import LOADKIT, LOCUSTFILES, run_loadkit, write_scenario

LOGINS = 200


def test_two_workers_never_use_the_same_login_from_a_sequential_csv(site: CountingServer, tmp_path: Path) -> None:
    (tmp_path / "accounts.csv").write_text("name\n" + "".join(f"user{i:03d}\n" for i in range(LOGINS)))
    path = write_scenario(tmp_path, f"""\
        name: shares
        target: {{host: {site.url(LOADKIT)}}}
        users:
          - name: member
            weight: 2
            wait: {{pacing: 0.1}}
            vars: {{account: {{csv: accounts.csv, order: sequential}}}}
            requests: [{{name: login, method: POST, path: /login, json: {{username: "{{account.name}}"}}}}]
          - locust: {LOCUSTFILES}/worker_share.py:ShareUser
        load: {{users: 6, spawn_rate: 6, duration: 2s}}
        checks: ["error_rate < 1%"]
        """)
    lk = run_loadkit(path, tmp_path / "out", "--workers", "2")
    assert lk.code == 0, lk.stderr
    samples = lk.samples()
    assert samples.worker.nunique() == 2
    logins = site.counts(LOADKIT)["logins"]
    yaml_logins = [n for n in logins if n.startswith("user")]
    assert len(yaml_logins) == (samples.endpoint == "login").sum() > 40
    assert len(yaml_logins) < LOGINS  # fewer requests than rows: any login seen twice was handed out twice
    twice = [n for n, k in Counter(yaml_logins).items() if k > 1]
    assert not twice, twice
    rows = sorted(int(n[4:]) for n in yaml_logins)
    assert {r % 2 for r in rows} == {0, 1}  # rows 0, 2, 4… went to one worker, 1, 3, 5… to the other
    # a locustfile splits its own data as under Locust: by the worker index the master gave each worker
    assert {n.split("-")[1] for n in logins if n.startswith("locust-")} == {"0", "1"}
