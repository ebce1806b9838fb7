"""The instrument knows when it is disturbed: which seconds are disturbed (rules on literal rows), the CPU of
others measured for real (a neighbour process is others', the target's process is not), and a run mostly
disturbed is ERROR when it is compared."""

# isort: off
import locust  # noqa: F401  (gevent's monkey patching first, as in every load generator)
# isort: on

import statistics
import subprocess
import sys
import time

import gevent
import numpy as np
import pytest

from loadkit.analysis import summarize
from loadkit.analysis.health import summarize_health
from loadkit.run.health import HealthMonitor, Ours, disturbed_seconds
from loadkit.scenario.checks import parse_compare
from loadkit.status import Outcome
from loadkit.verdict import evaluate
from loadkit.verdict.compare import compare_all

NAN = float("nan")


def row(ts, lag=5.0, steal=0.0, host=50.0, others=5.0, wait=1.0):
    return (ts, "local", 40.0, lag, steal, host, 8, 2, others, wait)


def test_which_seconds_are_disturbed():
    rows = [row(1.0), row(2.0, lag=30.0), row(3.0, steal=30.0), row(4.0, others=40.0, host=90.0),
            row(5.0, others=40.0, host=70.0),  # a neighbour, but the machine had headroom: not disturbed
            row(6.0, others=10.0, host=99.0),  # busy with our own load and the target's: not disturbed
            row(7.0, steal=10.0)]  # steal a shared VM has all day: not disturbed
    assert disturbed_seconds(rows) == [2.0, 3.0, 4.0]
    old = [(8.0, "local", 40.0, 5.0, 0.0, 96.0, 8, 2), (9.0, "local", 40.0, 5.0, 0.0, 90.0, 8, 2)]  # no others
    assert disturbed_seconds(old) == [8.0]  # recorded before others: the machine's busy share stands in
    assert disturbed_seconds([row(10.0, others=NAN, host=97.0)]) == [10.0]
    # the generator's thread kept waiting for a CPU while a neighbour ran: something shares its core
    assert disturbed_seconds([row(11.0, wait=30.0, host=60.0, others=20.0), row(12.0, wait=10.0, others=20.0),
                              row(13.0, wait=NAN), row(14.0, wait=30.0, others=NAN)]) == [11.0, 14.0]
    # ... but not when it was the target (or loadkit itself) that had the core: the baseline shares that
    assert disturbed_seconds([row(15.0, wait=40.0, host=90.0, others=3.0)]) == []


def test_a_generator_that_waits_for_its_core_is_short_of_cpu_at_half_a_core():
    """Running 50 % of a core and waiting 45 % for it wants 95 %: saturated, as a generator at 95 % is."""
    ts = np.arange(1.0, 11.0)
    cpu = np.array([50.0] * 5 + [95.0] * 2 + [40.0] * 3)
    wait = np.array([45.0] * 5 + [0.0] * 2 + [5.0] * 3)
    z = np.zeros(10)
    g = summarize_health(ts, cpu, z, z, z, (0.0, 10.0), wait)
    assert (g.saturated_s, g.wait_mean) == (7, pytest.approx(24.0))
    assert summarize_health(ts, cpu, z, z, z, (0.0, 10.0)).saturated_s == 2  # no wait recorded: CPU alone


def test_the_wait_for_a_cpu_is_measured_for_real_when_a_burner_shares_the_core():
    """A busy generator pinned to one core with a process burning it waits for the core a good part of each
    second; without the burner it waits far less."""
    import os

    core = sorted(os.sched_getaffinity(0))[0]
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        burner = subprocess.Popen([sys.executable, "-c", f"import os, time\nos.sched_setaffinity(0, {{{core}}})\n"
                                   "end = time.monotonic() + 6\nwhile time.monotonic() < end: pass"])
        import psutil

        deadline = time.monotonic() + 10
        while psutil.Process(burner.pid).cpu_times().user < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)  # burning, not still starting its interpreter
        busy = [r[9] for r in _monitor(Ours(os.getpid()), 3.5, spin=True) if r[9] == r[9]]
        burner.wait(10)
        quiet = [r[9] for r in _monitor(Ours(os.getpid()), 1.5, spin=True) if r[9] == r[9]]
    finally:
        os.sched_setaffinity(0, before)
    assert busy and quiet, "the kernel gave no schedstat"
    # two runnable processes on one core: each waits about half the time
    assert len(busy) >= 2 and statistics.median(busy) >= 25.0, busy
    assert statistics.median(quiet) + 15.0 <= statistics.median(busy), (busy, quiet)  # a neighbour may share both


def _burn(seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c",
                             f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"])


def _monitor(ours: Ours, seconds: float, spin: bool = False) -> list[tuple]:
    """The monitor's rows over ``seconds``; ``spin``: a greenlet keeps the process busy meanwhile, as a load does."""
    m = HealthMonitor("local", lambda: 0, lambda: 0, ours=ours)
    m.start()
    end = time.monotonic() + seconds
    if spin:
        while time.monotonic() < end:
            t = time.perf_counter()
            while time.perf_counter() - t < 0.002:
                pass
            gevent.sleep(0)
    else:
        gevent.sleep(seconds)
    m.stop()
    return m.rows


def test_a_neighbour_is_others_and_the_target_is_not():
    """A process burning a core: all of its CPU shows as others' while it is a stranger, and counts as ours
    when it is the target (its pid given, as --target-pid or a process metric's pid does). Checked against
    the burner's own CPU over the same seconds, so other load on the machine cannot fake it."""
    import os

    import psutil

    burner = _burn(4.0)
    try:
        proc = psutil.Process(burner.pid)
        time.sleep(0.3)
        before = sum(proc.cpu_times()[:2])
        t0 = time.monotonic()
        rows = _monitor(Ours(os.getpid()), 2.2)
        share = 100.0 * (sum(proc.cpu_times()[:2]) - before) / ((time.monotonic() - t0) * (os.cpu_count() or 1))
        assert len(rows) == 2 and share > 10.0, (rows, share)
        assert all(r[8] >= 0.8 * share for r in rows), (rows, share)  # a stranger's CPU is others'
        mine, with_target = Ours(os.getpid()), Ours(os.getpid(), [burner.pid])
        a, b = mine.cpu_seconds(), with_target.cpu_seconds()
        time.sleep(1.0)
        burned = with_target.cpu_seconds() - b - (mine.cpu_seconds() - a)
        assert burned >= 0.5 * share * (os.cpu_count() or 1) / 100.0, burned  # the target's CPU is ours
    finally:
        burner.wait(timeout=10)


def test_a_run_disturbed_in_more_than_half_its_slices_is_error_when_compared():
    ts = np.repeat(np.arange(10) + 0.5, 20).astype(float)
    lat = np.full(ts.size, 20.0)
    ep = np.array(["a"] * ts.size, dtype=object)
    err = np.array([None] * ts.size, dtype=object)
    base = [{"p95(latency)": 20.0 + d} for d in (-0.2, 0.0, 0.2)]
    check = parse_compare("p95(latency) <= +10%")
    for disturbed, expect in (([], Outcome.PASS), ([1.0, 2.0, 3.0], Outcome.PASS),
                              ([float(s) for s in range(1, 8)], Outcome.ERROR)):
        summary = summarize(ts, ep, lat, err, 0.0, 10.0, disturbed=disturbed)
        comps = compare_all([check], {"p95(latency)": 20.0}, base)
        v = evaluate((), summary, "complete", comparisons=comps)
        assert v.status == expect, v.reason
        if expect == Outcome.ERROR:
            assert "measurement: disturbed in 7 of 10 slices of 1 s" in v.reason
            assert "rerun" in v.reason
        else:
            row_ = next(c for c in v.builtins if c.check == "measurement")
            assert row_.reason.startswith(f"{10 - len(disturbed)} of 10 slices of 1 s compared")
    # not compared (no baseline runs): the same disturbed run is judged on its own checks, not ERROR
    summary = summarize(ts, ep, lat, err, 0.0, 10.0, disturbed=[float(s) for s in range(1, 8)])
    assert evaluate((), summary, "complete", comparisons=compare_all([check], {"p95(latency)": 20.0}, [])).status \
        != Outcome.ERROR


@pytest.mark.parametrize("n", [1, 2])
def test_young_baselines_do_not_ask_for_an_undisturbed_measurement(n):
    ts = np.repeat(np.arange(10) + 0.5, 20).astype(float)
    summary = summarize(ts, np.array(["a"] * ts.size, dtype=object), np.full(ts.size, 20.0),
                        np.array([None] * ts.size, dtype=object), 0.0, 10.0, disturbed=[float(s) for s in range(1, 9)])
    comps = compare_all([parse_compare("p95(latency) <= +10%")], {"p95(latency)": 20.0}, [{"p95(latency)": 20.0}] * n)
    assert evaluate((), summary, "complete", comparisons=comps).status == Outcome.PASS


def test_the_rate_over_kept_slices_counts_a_short_last_slice_by_its_length():
    """A 2.5 s window is three slices, the last half a second: 100 requests/s stays 100/s whether that slice
    is kept or set aside (it read 83/s and 125/s when every slice counted a whole second)."""
    ts = np.arange(0.0, 2.5, 0.01) + 0.005
    args = (np.array(["a"] * ts.size, dtype=object), np.full(ts.size, 10.0), np.array([None] * ts.size, dtype=object))
    for disturbed in ([], [1.0], [2.5]):
        robust = summarize(ts, *args, 0.0, 2.5, disturbed=disturbed).robust
        assert robust.slices == 3 and robust.requests.rps == pytest.approx(100.0, rel=0.01), (disturbed, robust)
