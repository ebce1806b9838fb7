"""Summaries of a run: exact percentiles over full-resolution samples, per endpoint, group and time bin.

Pure functions and a builder over Arrow batches (no I/O, no clock). The builder sees each batch
of ``samples.parquet`` once, so memory does not grow with the run (see :mod:`.sketch`).

* Latency statistics use successful requests only, as Gatling reports OK and KO apart: a refused
  connection answering in 0.1 ms must not make latency look better; failures are counted by the
  error rate.
* Endpoints are keyed as Locust keys them, by method and name (``GET /sign-in`` and
  ``POST /sign-in`` are two endpoints); every endpoint the run called appears, in the checked
  window and in the whole run side by side.
* A *stall* is a stretch of the checked window in which no request completed although requests
  were in flight: a target that hangs can never pass for a quiet one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..runfolder import failed_mask, numbers
from .sketch import EXACT_LIMIT, NBINS, RELATIVE_ERROR, Accumulator, LogBins
from .windows import RobustStats, SliceBins

__all__ = ["LatencyStats", "Stats", "Summary", "RunPart", "Stall", "Timeline", "OpenPlan", "OpenModelSummary",
           "SummaryBuilder", "summarize", "endpoint_key", "bin_width", "INFLIGHT", "STALL_MIN_S", "LATE_S"]

QS = (0.50, 0.90, 0.95, 0.99, 0.999)
#: The error text of a request still in flight when the load stopped (its latency is its age: a lower bound).
INFLIGHT = "in flight at end of run"
#: No completion for this long (and at least 10 median latencies) while requests are in flight is a stall.
STALL_MIN_S = 3.0
STALL_BIN_S = 0.25
TRACKED_ERRORS = 50  # error texts followed bin by bin; beyond, "other"
TIMELINE_ERRORS = 5  # kinds charted, the rest summed as "other"
#: An open-model start later than this after its scheduled time is late.
LATE_S = 0.1
MAX_BINS = 400
_STEPS = (5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)


def endpoint_key(method: str, name: str) -> str:
    """How an endpoint is named everywhere: ``METHOD name``, as Locust's statistics key it."""
    return f"{method} {name}"


def bin_width(duration_s: float) -> float:
    """1 s bins for a short run, then 2 s, 5 s, 10 s, ... so that a long run has at most MAX_BINS bins."""
    if duration_s <= 120.0:
        return 1.0 if duration_s <= 60.0 else 2.0
    for step in _STEPS:
        if duration_s / step <= MAX_BINS:
            return step
    return math.ceil(duration_s / MAX_BINS / 3600.0) * 3600.0


# -- the results ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LatencyStats:
    min: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    p99_9: float

    def to_json(self) -> dict[str, float]:
        d = asdict(self)
        d["p99.9"] = d.pop("p99_9")
        return {k: round(v, 3) for k, v in d.items()}

    @classmethod
    def from_json(cls, d: dict) -> LatencyStats:
        return cls(*(float(d[k]) for k in ("min", "mean", "p50", "p90", "p95", "p99", "max", "p99.9")))

    def get(self, stat: str) -> float:
        """The value of a statistic by its name in the check language (``p99.9``, ``mean``)."""
        return float(getattr(self, stat.replace(".", "_")))


@dataclass(frozen=True)
class Stats:
    total: int
    failures: int
    error_rate: float
    rps: float
    latency_ms: LatencyStats | None  # None when no request succeeded
    method: str | None = None  # for an endpoint: its method and name
    name: str | None = None
    inflight: int = 0  # requests still in flight at the end (counted as failures)

    def to_json(self) -> dict:
        out: dict[str, Any] = {}
        if self.name is not None:
            out.update({"method": self.method, "name": self.name})
        out.update({
            "total": self.total,
            "failures": self.failures,
            "error_rate": round(self.error_rate, 6),
            "rps": round(self.rps, 3),
            "latency_ms": None if self.latency_ms is None else self.latency_ms.to_json(),
        })
        if self.inflight:
            out["inflight"] = self.inflight
        return out

    @classmethod
    def from_json(cls, d: dict) -> Stats:
        lat = d.get("latency_ms")
        return cls(int(d["total"]), int(d["failures"]), float(d["error_rate"]), float(d["rps"]),
                   None if lat is None else LatencyStats.from_json(lat), d.get("method"), d.get("name"),
                   int(d.get("inflight", 0)))


@dataclass(frozen=True)
class Stall:
    """No request completed from ``start`` to ``end`` (seconds since the load started) while some were in flight."""

    start: float
    end: float
    inflight: int  # the fewest requests in flight during the stall

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_json(self) -> dict:
        return {"from_s": round(self.start, 3), "to_s": round(self.end, 3), "seconds": round(self.seconds, 3),
                "inflight": self.inflight}


@dataclass(frozen=True)
class Timeline:
    """Per-bin counts and latency percentiles of the whole run, for charts (bins start at ``start``)."""

    start: float
    bin_s: float
    requests: tuple[int, ...]
    failures: tuple[int, ...]
    completed: tuple[int, ...]
    p50: tuple[float | None, ...]
    p95: tuple[float | None, ...]
    p99: tuple[float | None, ...]
    errors: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (error text, failures per bin): the top kinds, then "other"

    def to_json(self) -> dict:
        def r(v: tuple[float | None, ...]) -> list[float | None]:
            return [None if x is None else round(x, 3) for x in v]

        return {"start": self.start, "bin_s": self.bin_s, "requests": list(self.requests),
                "failures": list(self.failures), "completed": list(self.completed),
                "p50": r(self.p50), "p95": r(self.p95), "p99": r(self.p99),
                "errors": [{"error": e, "counts": list(c)} for e, c in self.errors]}

    @classmethod
    def from_json(cls, d: dict) -> Timeline:
        return cls(float(d["start"]), float(d["bin_s"]), tuple(d["requests"]), tuple(d["failures"]),
                   tuple(d["completed"]), tuple(d["p50"]), tuple(d["p95"]), tuple(d["p99"]),
                   tuple((str(e["error"]), tuple(e["counts"])) for e in d.get("errors", [])))


@dataclass(frozen=True)
class OpenPlan:
    """What an open-model schedule intended, per interval from ``started`` (computed by the run)."""

    started: float
    interval: float
    intended: tuple[int, ...]  # scheduled starts per interval inside the load's duration
    concurrency: int


@dataclass(frozen=True)
class OpenModelSummary:
    interval: float
    intended: tuple[int, ...]
    issued: tuple[int, ...]  # by scheduled time
    scheduled: int
    started: int
    late: int  # started more than LATE_S after their scheduled time
    late_p95_s: float | None
    late_max_s: float | None
    concurrency: int
    mean_latency_s: float | None  # over successful requests
    by_worker: tuple[tuple[str, tuple[int, ...]], ...] = ()  # issued per interval of each load generator

    @property
    def dropped(self) -> int:
        """Scheduled starts that never started (the load stopped first)."""
        return max(0, self.scheduled - self.started)

    def to_json(self) -> dict:
        return {"interval_s": self.interval, "intended": list(self.intended), "issued": list(self.issued),
                "scheduled": self.scheduled, "started": self.started, "late": self.late,
                "late_p95_s": _r(self.late_p95_s), "late_max_s": _r(self.late_max_s), "dropped": self.dropped,
                "concurrency": self.concurrency, "mean_latency_s": _r(self.mean_latency_s),
                "by_worker": {w: list(c) for w, c in self.by_worker}}

    @classmethod
    def from_json(cls, d: dict) -> OpenModelSummary:
        return cls(float(d["interval_s"]), tuple(d["intended"]), tuple(d["issued"]), int(d["scheduled"]),
                   int(d["started"]), int(d["late"]), d.get("late_p95_s"), d.get("late_max_s"),
                   int(d["concurrency"]), d.get("mean_latency_s"),
                   tuple((w, tuple(c)) for w, c in d.get("by_worker", {}).items()))


def _r(v: float | None, digits: int = 4) -> float | None:
    return None if v is None else round(v, digits)


@dataclass(frozen=True)
class RunPart:
    """The whole run (warmup and tail included), beside the checked window."""

    start: float
    end: float
    requests: Stats
    endpoints: dict[str, Stats]
    groups: dict[str, Stats] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "seconds": round(self.end - self.start, 3),
                "total": self.requests.total, "failures": self.requests.failures, "requests": self.requests.to_json(),
                "endpoints": {k: v.to_json() for k, v in sorted(self.endpoints.items())},
                "groups": {k: v.to_json() for k, v in sorted(self.groups.items())}}

    @classmethod
    def from_json(cls, d: dict) -> RunPart:
        return cls(float(d["start"]), float(d["end"]), Stats.from_json(d["requests"]),
                   {str(k): Stats.from_json(v) for k, v in d["endpoints"].items()},
                   {str(k): Stats.from_json(v) for k, v in d.get("groups", {}).items()})


ALL = -1  # the key of all requests together in the slices
ROBUST_QS = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True)
class Robust:
    """The checked window in slices of ``width`` s; ``excluded`` slices had a disturbed generator."""

    width: float
    excluded: tuple[int, ...]
    slices: int
    requests: RobustStats
    endpoints: dict[str, RobustStats]
    rows: tuple[dict, ...] = ()  # per slice, all requests: offset, requests, failures, p50/p95/p99

    @property
    def disturbed_share(self) -> float:
        return len(self.excluded) / self.slices if self.slices else 0.0

    def to_json(self) -> dict:
        return {"slice_s": self.width, "slices": self.slices, "excluded": list(self.excluded),
                "requests": self.requests.to_json(), "endpoints": {k: v.to_json() for k, v in sorted(self.endpoints.items())},
                "rows": list(self.rows)}

    @classmethod
    def from_json(cls, d: dict) -> Robust:
        def stats(x: dict) -> RobustStats:
            lat = x.get("latency_ms") or {}
            return RobustStats(int(x["total"]), int(x["failures"]), float(x["rps"]), {k: float(v) for k, v in lat.items()},
                               None, {k: float(v) for k, v in (x.get("se_log") or {}).items()},
                               tuple(float(v) for v in x.get("grid") or ()))

        return cls(float(d["slice_s"]), tuple(d.get("excluded", ())), int(d["slices"]), stats(d["requests"]),
                   {str(k): stats(v) for k, v in d.get("endpoints", {}).items()}, tuple(d.get("rows", ())))


@dataclass(frozen=True)
class Summary:
    window_start: float
    window_end: float
    requests: Stats
    endpoints: dict[str, Stats]  # checked window, keyed "METHOD name"; every endpoint of the run appears
    errors: tuple[tuple[str, str, int], ...]  # (endpoint key, error, count) over the whole run, most frequent first
    run_total: int
    run_failures: int
    run: RunPart | None = None
    groups: dict[str, Stats] = field(default_factory=dict)
    inflight_at_end: int = 0
    stalls: tuple[Stall, ...] = ()
    timeline: Timeline | None = None
    open_model: OpenModelSummary | None = None
    precision: str = "exact"
    robust: Robust | None = None  # the window in slices, disturbed ones set aside: what comparisons measure

    def lookup(self, ref: str) -> tuple[Stats | None, str]:
        """The window's stats of the endpoint a check names: ``METHOD name`` exactly, or a name used by one
        method; the reason when there is none (``ambiguous`` when a name has several methods)."""
        if ref in self.endpoints:
            return self.endpoints[ref], ""
        hits = [s for s in self.endpoints.values() if s.name == ref]
        if len(hits) == 1:
            return hits[0], ""
        if len(hits) > 1:
            methods = ", ".join(sorted(f"{s.method} {ref}" for s in hits))
            return None, f"endpoint {ref!r} is called with several methods; name one of: {methods}"
        return None, f"no requests to endpoint {ref!r} in the run"

    def to_json(self) -> dict:
        return {
            "schema": 2,
            "precision": self.precision,
            "window": {"start": self.window_start, "end": self.window_end,
                       "seconds": round(self.window_end - self.window_start, 3)},
            "requests": self.requests.to_json(),
            "endpoints": {k: v.to_json() for k, v in sorted(self.endpoints.items())},
            "groups": {k: v.to_json() for k, v in sorted(self.groups.items())},
            "errors": [{"endpoint": e, "error": m, "count": n} for e, m, n in self.errors],
            "run": self.run.to_json() if self.run else {"total": self.run_total, "failures": self.run_failures},
            "inflight_at_end": self.inflight_at_end,
            "stalls": [s.to_json() for s in self.stalls],
            "timeline": None if self.timeline is None else self.timeline.to_json(),
            "open_model": None if self.open_model is None else self.open_model.to_json(),
            "robust": None if self.robust is None else self.robust.to_json(),
        }

    @classmethod
    def from_json(cls, d: dict) -> Summary:
        """The summary written to ``summary.json`` (schema 1 or 2); ``KeyError``/``TypeError``/``ValueError``
        when it is damaged."""
        w, run = d["window"], d["run"]
        part = RunPart.from_json(run) if "requests" in run else None
        return cls(
            float(w["start"]), float(w["end"]), Stats.from_json(d["requests"]),
            {str(k): Stats.from_json(v) for k, v in d["endpoints"].items()},
            tuple((str(e["endpoint"]), str(e["error"]), int(e["count"])) for e in d.get("errors", [])),
            int(run["total"]), int(run["failures"]), part,
            {str(k): Stats.from_json(v) for k, v in (d.get("groups") or {}).items()},
            int(d.get("inflight_at_end", 0)),
            tuple(Stall(float(s["from_s"]), float(s["to_s"]), int(s["inflight"])) for s in d.get("stalls", [])),
            Timeline.from_json(d["timeline"]) if d.get("timeline") else None,
            OpenModelSummary.from_json(d["open_model"]) if d.get("open_model") else None,
            str(d.get("precision", "exact")), Robust.from_json(d["robust"]) if d.get("robust") else None)


# -- the builder -----------------------------------------------------------------------------------
class _Group:
    __slots__ = ("total", "failures", "inflight", "acc")

    def __init__(self) -> None:
        self.total = self.failures = self.inflight = 0
        self.acc = Accumulator()

    def add(self, lat_ok: np.ndarray, n: int, failures: int, inflight: int) -> None:
        self.total += n
        self.failures += failures
        self.inflight += inflight
        self.acc.add(lat_ok)

    def stats(self, seconds: float, method: str | None = None, name: str | None = None) -> Stats:
        s = self.acc.stats(QS)
        lat = None if s is None else LatencyStats(s[0], s[1], s[3][0], s[3][1], s[3][2], s[3][3], s[2], s[3][4])
        return Stats(self.total, self.failures, self.failures / self.total if self.total else 0.0,
                     self.total / seconds if seconds > 0 else 0.0, lat, method, name, self.inflight)


class SummaryBuilder:
    """Feed it the samples batch by batch (:meth:`add`), then ask for the :class:`Summary` (:meth:`result`).

    ``window`` is the checked window and ``run`` the whole load (Unix seconds); ``groups`` maps request
    names to their group; ``plan`` is the open-model schedule, when there is one.
    """

    def __init__(self, window: tuple[float, float], run: tuple[float, float], groups: dict[str, str] | None = None,
                 plan: OpenPlan | None = None, top_errors: int = 20, exact_limit: int = EXACT_LIMIT,
                 disturbed: Sequence[float] = ()):
        self.ws, self.we = window
        self.slices = SliceBins(*window)
        self.disturbed_seconds = tuple(disturbed)
        self.rs, self.re = run[0], max(run[1], run[0] + 1e-3)
        self.group_of = dict(groups or {})
        self.plan, self.top_errors, self.exact_limit = plan, top_errors, exact_limit
        self.keys: dict[tuple[str, str], int] = {}
        self.win: dict[int, _Group] = {}
        self.all: dict[int, _Group] = {}
        self.gwin: dict[str, _Group] = {}
        self.gall: dict[str, _Group] = {}
        self.total_win, self.total_all = _Group(), _Group()
        self.errors: Counter[tuple[int, str]] = Counter()
        self.tl_bin = bin_width(self.re - self.rs)
        self.tl_n = max(1, math.ceil((self.re - self.rs) / self.tl_bin - 1e-9))
        self.tl_req = np.zeros(self.tl_n, np.int64)
        self.tl_fail = np.zeros(self.tl_n, np.int64)
        self.tl_done = np.zeros(self.tl_n, np.int64)
        self.tl_hist = np.zeros(self.tl_n * NBINS, np.int64)  # one row of log bins per time bin
        self.tl_err: dict[str, np.ndarray] = {}  # failures per bin of the first TRACKED_ERRORS texts, the rest: ""
        self.st_n = max(1, math.ceil((self.re - self.rs) / STALL_BIN_S) + 1)
        self.st_start = np.zeros(self.st_n, np.int64)
        self.st_done = np.zeros(self.st_n, np.int64)
        self.inflight = 0
        self.exact = True
        if plan is not None:
            self.om_issued = np.zeros(len(plan.intended), np.int64)
            self.om_by_worker: dict[str, np.ndarray] = {}
            self.om_started = 0
            self.om_late = 0
            self.om_lateness = Accumulator()

    def _key(self, method: str, name: str) -> int:
        k = self.keys.get((method, name))
        if k is None:
            k = self.keys[(method, name)] = len(self.keys)
        return k

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        """One batch with columns ts, endpoint, method, latency_ms, error (and intended_ts for open models)."""
        n = batch.num_rows
        if n == 0:
            return
        ts = _np(batch.column("ts"))
        lat = _np(batch.column("latency_ms"))
        err = batch.column("error")
        failed = failed_mask(err)
        inflight = np.zeros(n, bool)
        if failed.any():
            inflight = pc.fill_null(pc.equal(err, INFLIGHT), False).to_numpy(zero_copy_only=False)
        codes = self._codes(batch)
        in_win = (ts >= self.ws) & (ts < self.we)
        ok = ~failed
        order = np.argsort(codes, kind="stable")  # one sort, then a slice per endpoint
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        for part in np.split(order, bounds):
            code = int(codes[part[0]])
            method, name = self._names[code]
            k = self._key(method, name)
            grp = self.group_of.get(name)
            p_lat, p_ok, p_fail, p_inf, p_win = lat[part], ok[part], failed[part], inflight[part], in_win[part]
            self.slices.add(k, ts[part][p_win], p_lat[p_win], p_fail[p_win])
            for scope, mask in ((self.all, np.ones(part.size, bool)), (self.win, p_win)):
                g = scope.get(k)
                if g is None:
                    g = scope[k] = _Group()
                cnt = int(mask.sum())
                args = (p_lat[mask & p_ok], cnt, int((mask & p_fail).sum()), int((mask & p_inf).sum()))
                g.add(*args)
                if grp is not None and cnt:
                    (self.gall if scope is self.all else self.gwin).setdefault(grp, _Group()).add(*args)
        self.slices.add(ALL, ts[in_win], lat[in_win], failed[in_win])
        self.total_all.add(lat[ok], n, int(failed.sum()), int(inflight.sum()))
        self.total_win.add(lat[ok & in_win], int(in_win.sum()), int((failed & in_win).sum()),
                           int((inflight & in_win).sum()))
        self.inflight += int(inflight.sum())
        if failed.any():
            self._errors(batch, codes, failed)
        self._timeline(ts, lat, failed, inflight)
        if self.plan is not None:
            self._open(batch, ts)
        self._budget()

    def _codes(self, batch: pa.RecordBatch | pa.Table) -> np.ndarray:
        """One code per (method, endpoint) combination of this batch, names in ``self._names``."""
        ep = _dict(batch.column("endpoint"))
        me = _dict(batch.column("method"))
        ei = pc.fill_null(ep.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        mi = pc.fill_null(me.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        ed, md = ep.dictionary.to_pylist(), me.dictionary.to_pylist()
        combo = mi * (len(ed) + 1) + ei
        uniq, codes = np.unique(combo, return_inverse=True)
        self._names = []
        for c in uniq:
            m, e = divmod(int(c), len(ed) + 1)
            self._names.append((str(md[m]) if m >= 0 and m < len(md) else "", str(ed[e]) if 0 <= e < len(ed) else ""))
        return codes.reshape(-1)

    def _errors(self, batch: pa.RecordBatch | pa.Table, codes: np.ndarray, failed: np.ndarray) -> None:
        idx = np.flatnonzero(failed)
        table = pa.table({"code": pa.array(codes[idx]), "error": pc.take(batch.column("error"), pa.array(idx))})
        for row in table.group_by(["code", "error"]).aggregate([([], "count_all")]).to_pylist():
            method, name = self._names[int(row["code"])]
            self.errors[(self._key(method, name), str(row["error"]))] += int(row["count_all"])
        err = _dict(pc.take(batch.column("error"), pa.array(idx)))
        texts = err.dictionary.to_pylist()
        ts = _np(batch.column("ts"))[idx]
        b = np.clip(((ts - self.rs) // self.tl_bin).astype(np.int64), 0, self.tl_n - 1)
        ci = err.indices.to_numpy(zero_copy_only=False)
        for code, text in enumerate(texts):
            key = text if text in self.tl_err or len(self.tl_err) < TRACKED_ERRORS else ""
            counts = self.tl_err.setdefault(key, np.zeros(self.tl_n, np.int64))
            counts += np.bincount(b[ci == code], minlength=self.tl_n)
        if len(self.errors) > 10_000:  # a distinct text per request (ids in messages): keep the frequent ones
            self.errors = Counter(dict(self.errors.most_common(1_000)))

    def _timeline(self, ts: np.ndarray, lat: np.ndarray, failed: np.ndarray, inflight: np.ndarray) -> None:
        b = np.clip(((ts - self.rs) // self.tl_bin).astype(np.int64), 0, self.tl_n - 1)
        self.tl_req += np.bincount(b, minlength=self.tl_n)
        self.tl_fail += np.bincount(b[failed], minlength=self.tl_n)
        ok = ~failed
        if ok.any():
            self.tl_hist += np.bincount(b[ok] * NBINS + LogBins.index(lat[ok]), minlength=self.tl_n * NBINS)
        done_at = ts + lat / 1000.0
        real = ~inflight
        db = np.clip(((done_at[real] - self.rs) // self.tl_bin).astype(np.int64), 0, self.tl_n - 1)
        self.tl_done += np.bincount(db, minlength=self.tl_n)
        sb = np.clip(((ts - self.rs) // STALL_BIN_S).astype(np.int64), 0, self.st_n - 1)
        self.st_start += np.bincount(sb, minlength=self.st_n)
        cb = np.clip(((done_at[real] - self.rs) // STALL_BIN_S).astype(np.int64), 0, self.st_n - 1)
        self.st_done += np.bincount(cb, minlength=self.st_n)

    def _open(self, batch: pa.RecordBatch | pa.Table, ts: np.ndarray) -> None:
        plan = self.plan
        assert plan is not None
        it = batch.column("intended_ts")
        has = pc.is_valid(it).to_numpy(zero_copy_only=False)
        if not has.any():
            return
        planned = _np(it)[has]
        self.om_started += int(has.sum())
        idx = ((planned - plan.started) // plan.interval).astype(np.int64)
        inside = (idx >= 0) & (idx < len(plan.intended))
        n = len(plan.intended)
        self.om_issued += np.bincount(idx[inside], minlength=n)[:n]
        lateness = np.maximum(ts[has] - planned, 0.0)
        self.om_late += int((lateness > LATE_S).sum())
        self.om_lateness.add(lateness * 1000.0)
        if "worker" in batch.schema.names:
            self._per_worker(batch.column("worker").filter(pa.array(has)), idx, inside, n)

    def _per_worker(self, workers: Any, idx: np.ndarray, inside: np.ndarray, n: int) -> None:
        """Issued starts per interval of each load generator (a lost worker shows as its share falling to 0)."""
        if pa.types.is_dictionary(workers.type):
            workers = workers.cast(pa.string())
        for w in pc.unique(workers).to_pylist():
            mine = pc.equal(workers, w).to_numpy(zero_copy_only=False) & inside
            counts = self.om_by_worker.setdefault(str(w), np.zeros(n, np.int64))
            counts += np.bincount(idx[mine], minlength=n)[:n]

    def _budget(self) -> None:
        """Past the memory budget every accumulator gives up exact values for log bins."""
        if not self.exact:
            return
        groups = [*self.win.values(), *self.all.values(), *self.gwin.values(), *self.gall.values(),
                  self.total_win, self.total_all]
        if sum(g.acc.kept for g in groups) > self.exact_limit:
            for g in groups:
                g.acc.to_bins()
            self.exact = False

    def _stalls(self, median_ms: float | None) -> tuple[Stall, ...]:
        threshold = max(STALL_MIN_S, 10 * (median_ms or 0.0) / 1000.0)
        outstanding = np.cumsum(self.st_start) - np.cumsum(self.st_done)
        lo = max(0, int((self.ws - self.rs) // STALL_BIN_S))
        hi = min(self.st_n, int(math.ceil((self.we - self.rs) / STALL_BIN_S)))
        out: list[Stall] = []
        i = lo
        while i < hi:
            if self.st_done[i] == 0 and outstanding[i] > 0:
                j = i
                while j < hi and self.st_done[j] == 0 and outstanding[j] > 0:
                    j += 1
                seconds = (j - i) * STALL_BIN_S
                if seconds >= threshold:
                    out.append(Stall(i * STALL_BIN_S, j * STALL_BIN_S, int(outstanding[i:j].min())))
                i = j
            else:
                i += 1
        return tuple(out)

    def result(self) -> Summary:
        seconds = max(self.we - self.ws, 1e-9)
        run_seconds = self.re - self.rs
        names = {k: mk for mk, k in self.keys.items()}
        endpoints = {endpoint_key(*names[k]): g.stats(seconds, *names[k]) for k, g in self.win.items()}
        run_eps = {endpoint_key(*names[k]): g.stats(run_seconds, *names[k]) for k, g in self.all.items()}
        for key, st in run_eps.items():  # every endpoint ever called appears in the window too
            endpoints.setdefault(key, Stats(0, 0, 0.0, 0.0, None, st.method, st.name))
        groups = {g: v.stats(seconds) for g, v in self.gwin.items()}
        run = RunPart(self.rs, self.re, self.total_all.stats(run_seconds), run_eps,
                      {g: v.stats(run_seconds) for g, v in self.gall.items()})
        errors = tuple((endpoint_key(*names[k]), e, n) for (k, e), n in self.errors.most_common(self.top_errors))
        window = self.total_win.stats(seconds)
        ranked = sorted(((t, c) for t, c in self.tl_err.items() if t), key=lambda tc: -int(tc[1].sum()))
        rest = sum((c for _, c in ranked[TIMELINE_ERRORS:]), self.tl_err.get("", np.zeros(self.tl_n, np.int64)))
        err_bins = [(t, tuple(int(x) for x in c)) for t, c in ranked[:TIMELINE_ERRORS]]
        if int(np.asarray(rest).sum()):
            err_bins.append((f"other ({len(self.tl_err) - len(err_bins)} more kinds)",
                             tuple(int(x) for x in np.asarray(rest))))
        timeline = Timeline(self.rs, self.tl_bin, tuple(int(x) for x in self.tl_req),
                            tuple(int(x) for x in self.tl_fail), tuple(int(x) for x in self.tl_done),
                            *_bin_quantiles(self.tl_hist.reshape(self.tl_n, NBINS)), tuple(err_bins))
        om = None
        if self.plan is not None:
            p = self.plan
            late = self.om_lateness.stats((0.95,))
            om = OpenModelSummary(p.interval, p.intended, tuple(int(x) for x in self.om_issued), int(sum(p.intended)),
                                  self.om_started, self.om_late, None if late is None else late[3][0] / 1000.0,
                                  None if late is None else late[2] / 1000.0, p.concurrency,
                                  None if window.latency_ms is None else window.latency_ms.mean / 1000.0,
                                  tuple((w, tuple(int(x) for x in c)) for w, c in sorted(self.om_by_worker.items())))
        precision = "exact" if self.exact else f"log histogram: percentiles within {RELATIVE_ERROR:.1%}"
        disturbed = self.slices.disturbed(self.disturbed_seconds)
        keep = ~disturbed
        robust = Robust(self.slices.width, tuple(int(i) for i in np.flatnonzero(disturbed)), self.slices.n,
                        self.slices.robust(ALL, keep, ROBUST_QS),
                        {endpoint_key(*names[k]): self.slices.robust(k, keep, ROBUST_QS) for k in self.win},
                        tuple(self.slices.rows(ALL)))
        median = window.latency_ms.p50 if window.latency_ms else None
        return Summary(self.ws, self.we, window, endpoints, errors, self.total_all.total, self.total_all.failures,
                       run, groups, self.inflight, self._stalls(median), timeline, om, precision, robust)


def _bin_quantiles(hist: np.ndarray) -> tuple[tuple[float | None, ...], ...]:
    cols: list[list[float | None]] = [[], [], []]
    for row in hist:
        b = LogBins(row)
        if b.total:
            for c, v in zip(cols, b.quantiles((0.50, 0.95, 0.99)), strict=True):
                c.append(v)
        else:
            for c in cols:
                c.append(None)
    return tuple(tuple(c) for c in cols)


def _np(col: Any) -> np.ndarray:
    return numbers(col)


def _dict(col: Any) -> pa.DictionaryArray:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if not isinstance(col, pa.DictionaryArray):
        col = col.dictionary_encode()
    return col


def summarize(ts: np.ndarray, endpoint: np.ndarray, latency_ms: np.ndarray, error: np.ndarray,
              window_start: float, window_end: float, top_errors: int = 20, method: np.ndarray | None = None,
              run: tuple[float, float] | None = None, disturbed: Sequence[float] = ()) -> Summary:
    """Statistics of requests given as arrays (``error`` None for a success): the builder on one batch;
    ``disturbed``: the end times of the seconds in which the generator was disturbed."""
    n = len(ts)
    table = pa.table({
        "ts": pa.array(np.asarray(ts, dtype=float)),
        "endpoint": pa.array([str(e) for e in endpoint], pa.string()),
        "method": pa.array(["GET"] * n if method is None else [str(m) for m in method], pa.string()),
        "latency_ms": pa.array(np.asarray(latency_ms, dtype=float)),
        "error": pa.array([None if e is None or e != e else str(e) for e in error], pa.string()),
    })
    b = SummaryBuilder((window_start, window_end), run or (min(window_start, float(np.min(ts)) if n else window_start),
                                                           max(window_end, float(np.max(ts)) if n else window_end)),
                       top_errors=top_errors, disturbed=disturbed)
    b.add(table)
    return b.result()
