"""The load ends at its planned end: no user starts a task after it, as ``locust --run-time`` ends it.

Users finish the task in hand (loadkit stops like ``locust --stop-timeout``, so no request is cut
short on a healthy target), but one waiting for its next task when the time is up must not start it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from support.counting_server import CountingServer
from support.fidelity import LOADKIT, LOCUSTFILES, run_loadkit, write_scenario


def test_no_request_starts_after_the_planned_end_of_the_load(site: CountingServer, tmp_path: Path) -> None:
    path = write_scenario(tmp_path, f"""\
        name: late-tick
        target: {{host: {site.url(LOADKIT)}}}
        users: [{{locust: {LOCUSTFILES}/late_tick.py:LateTick}}]
        load: {{users: 20, spawn_rate: 20, duration: 2s}}
        """)
    lk = run_loadkit(path, tmp_path / "out")
    start = datetime.fromisoformat(lk.manifest["start"].replace("Z", "+00:00")).timestamp()
    starts = lk.samples().ts - start
    assert len(starts) == 20 * 4, sorted(starts.round(3))  # ticks at 0.02, 0.52, 1.02, 1.52; the one at 2.02 is too late
    assert (starts < 2.0).all(), sorted(starts.round(3))
    assert sum(site.counts(LOADKIT)["requests"].values()) == 20 * 4


def test_a_request_in_flight_at_the_end_is_answered_not_cut_short(site: CountingServer, tmp_path: Path) -> None:
    path = write_scenario(tmp_path, f"""\
        name: slow-task
        target: {{host: {site.url(LOADKIT)}}}
        users: [{{locust: {LOCUSTFILES}/late_tick.py:SlowTask}}]
        load: {{users: 5, spawn_rate: 5, duration: 2s}}
        """)
    lk = run_loadkit(path, tmp_path / "out")
    samples = lk.samples()
    assert len(samples) == 5 * 3 and samples.error.isna().all(), samples.error.unique()  # at 0.02, 0.72 and 1.42 s
    assert lk.summary["inflight_at_end"] == 0 and lk.manifest["status"] == "complete"
    assert site.counts(LOADKIT)["requests"] == {"GET /slow": 15}
