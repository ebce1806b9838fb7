"""Locustfiles with the features of Locust's own ``examples/`` run under loadkit as ``locust --headless`` runs them.

Each case runs one locustfile of ``tests/support/locustfiles`` through ``locust --headless`` and
through ``loadkit run`` at the same time, for the same users and seconds, each against its own
listener of the counting server. Both must report the same endpoints (``METHOD name``) with the
same requests and failures, give or take the requests in flight when the load stopped (at most
one per user: Locust drops those, loadkit lets the task in hand finish); loadkit's own count must
equal Locust's (``manifest.json`` ``locust_totals``) and what the server received.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from support.counting_server import CountingServer
from support.fidelity import (
    LOADKIT,
    LOADKIT_API,
    LOCUST,
    LOCUST_API,
    LOCUSTFILES,
    LoadkitRun,
    LocustResult,
    LocustRun,
    run_loadkit,
    write_scenario,
)

SECONDS = 2


@dataclass(frozen=True)
class Case:
    """One locustfile, the Locust example whose features it uses, and what its runs must show."""

    example: str
    file: str
    classes: tuple[str, ...]
    users: int
    endpoints: frozenset[str]  # every one must be there, with at least one request per user
    failing: frozenset[str] = frozenset()  # endpoints whose every request fails
    options: Callable[[CountingServer, bool], dict[str, Any]] = field(default=lambda site, lk: {})
    listeners: tuple[int, ...] = (LOADKIT,)  # where loadkit's requests go (server-side count == samples)
    http: bool = True
    hops: frozenset[str] = frozenset()  # server paths reached by following a redirect: part of another request


CASES = [
    Case("basic", "browse_taskset.py", ("Visitor",), 4, frozenset({"GET home", "GET /", "GET /about"})),
    Case("fast_http_locust", "fast_client.py", ("FastVisitor",), 4,
         frozenset({"GET /", "GET /items", "GET /items/[id]"})),
    Case("custom_wait_function", "custom_wait.py", ("PacedVisitor",), 3,
         frozenset({"GET /", "GET /does_not_exist"}), failing=frozenset({"GET /does_not_exist"})),
    Case("nested_inline_tasksets", "nested_tasksets.py", ("Shopper",), 3,
         frozenset({"GET /items", "GET /items/[id]"})),
    Case("events", "hooks.py", ("Hooked",), 3, frozenset({"GET /"}), options=lambda site, lk: {"pace": 0.3}),
    Case("multiple_hosts", "two_hosts.py", ("TwoHostUser",), 3, frozenset({"GET /", "GET /stats/requests"}),
         options=lambda site, lk: {"api_host": site.url(LOADKIT_API if lk else LOCUST_API)},
         listeners=(LOADKIT, LOADKIT_API)),
    Case("semaphore_wait", "spawn_barrier.py", ("BarrierUser",), 4, frozenset({"GET /"})),
    Case("dynamic_user_credentials", "credentials.py", ("Member",), 4,
         frozenset({"POST /login", "GET /protected/resource"})),
    Case("csrf_form_authentication", "csrf_login.py", ("FormUser",), 3, frozenset({"GET /sign-in", "POST /sign-in"}),
         hops=frozenset({"GET /welcome"})),
    Case("manual_stats_reporting", "manual_report.py", ("Reporter",), 3,
         frozenset({"manual successful_step", "manual failing_step"}), failing=frozenset({"manual failing_step"}),
         http=False),
    Case("response_validations", "validations.py", ("Checkout",), 3,
         frozenset({"POST /authenticate", "POST /checkout/confirm", "GET flaky"}), failing=frozenset({"GET flaky"})),
    Case("custom_xmlrpc_client (Testing other systems)", "custom_client.py", ("GrpcLikeUser", "DatabaseUser"), 4,
         frozenset({"grpc Hello/SayHello", "db select items"})),
]


def _scenario(tmp: Path, case: Case, host: str, options: dict[str, Any], load: str) -> Path:
    users = "".join(f"  - locust: {{class: {LOCUSTFILES / case.file}:{cls}, options: {json.dumps(options)}}}\n"
                    for cls in case.classes)
    return write_scenario(tmp, f"name: {Path(case.file).stem}\ntarget: {{host: {host}}}\nusers:\n{users}load: {load}\n"
                          "checks: [\"rps > 0\"]\n")


def _timing(lk: LoadkitRun, lc: LocustResult) -> str:
    """When each run's requests started, for a message that says why counts differ."""
    start = pd.Timestamp(lk.manifest["start"]).timestamp()
    starts = sorted(round(t - start, 2) for t in lk.samples().ts)
    first = min((s["start_time"] for s in lc.stats), default=0.0)
    last = max((s["last_request_timestamp"] or 0.0 for s in lc.stats), default=0.0)
    return f"loadkit starts (s): {starts}; locust requests from first to last: {last - first:.2f} s"


def _compare(case: Case, lk: LoadkitRun, lc: LocustResult, site: CountingServer) -> None:
    lk_counts, lc_counts = lk.endpoint_counts(), lc.endpoint_counts()
    assert set(lk_counts) == set(lc_counts), (lk_counts, lc_counts)
    assert case.endpoints <= set(lk_counts), lk_counts
    in_flight = case.users  # at most one request per user was cut short by the end of the load
    for key in lk_counts:
        assert abs(lk_counts[key] - lc_counts[key]) <= in_flight, (key, lk_counts, lc_counts, _timing(lk, lc))
        assert abs(lk.failure_counts()[key] - lc.failure_counts()[key]) <= in_flight, (key, lk.failure_counts(),
                                                                                       lc.failure_counts())
    for key in case.endpoints:
        assert lk_counts[key] >= case.users, (key, lk_counts)
    for key in case.failing:
        assert lk.failure_counts()[key] == lk_counts[key], (key, lk.failure_counts())
    assert sum(lk.failure_counts().values()) == sum(lk.failure_counts()[k] for k in case.failing)
    manifest = lk.manifest
    assert manifest["status"] == "complete" and manifest["samples"] == manifest["locust_totals"]["requests"]
    assert lk.summary["inflight_at_end"] == 0  # a healthy target: every request loadkit started was answered
    if case.http:
        received = sum(n for i in case.listeners for k, n in site.counts(i)["requests"].items() if k not in case.hops)
        assert received == manifest["samples"], (received, manifest["samples"])


@pytest.mark.parametrize("case", CASES, ids=[c.example for c in CASES])
def test_a_locustfile_runs_under_loadkit_as_locust_headless_runs_it(site: CountingServer, tmp_path: Path,
                                                                   case: Case) -> None:
    locust = LocustRun(LOCUSTFILES / case.file, site.url(LOCUST), case.users, SECONDS, *case.classes,
                       options=case.options(site, False))
    path = _scenario(tmp_path, case, site.url(LOADKIT), case.options(site, True),
                     f"{{users: {case.users}, spawn_rate: {case.users}, duration: {SECONDS}s}}")
    lk = run_loadkit(path, tmp_path / "out")
    lc = locust.result()
    assert lc.code == (1 if case.failing else 0), lc.stderr[-2000:]
    assert lk.code == 0, lk.stderr
    assert lk.verdict["status"] == ("WARN" if case.failing else "PASS"), lk.verdict
    _compare(case, lk, lc, site)
    if not case.http or case.file == "custom_client.py":  # other systems: the request_type is the method, no status
        samples = lk.samples()
        assert set(samples.method) == {k.split(" ", 1)[0] for k in case.endpoints} and samples.status.isna().all()
    if case.file == "credentials.py":  # each user popped its own login, in both runs
        expected = sorted(f"user{i}" for i in range(10 - case.users, 10))
        assert sorted(site.counts(LOCUST)["logins"]) == sorted(site.counts(LOADKIT)["logins"]) == expected
