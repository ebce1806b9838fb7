"""Scenario section ``load:``: stages, the spike/step/soak shorthands, and the open model (arrival; replay in :mod:`.replay`)."""

from __future__ import annotations

import math
import re
from typing import Any

from ...errors import ConfigError
from ..locustfile import shape_classes
from ..model import Load, LocustUserRef, OpenLoad, Segment, ShapeRef, Stage, YamlUser
from ..source import Path
from .reader import _kind
from .replay import ReplaySection

#: Sane upper bounds: more users (or a faster spawn, or more stages) than this is a typo, not a load test.
MAX_USERS = 1_000_000
MAX_STAGES = 10_000
MAX_RATE = 1_000_000.0  # requests per second of an open-model load


class LoadSection(ReplaySection):
    """``load:``: how many users (closed model) or requests per second (open model), for how long."""

    _LOAD_KINDS = ("stages", "spike", "step", "soak", "arrival", "replay")

    def load(self, value: Any, path: Path, users: tuple = ()) -> Load | None:
        d = self.mapping(value, path, {"stages", "users", "spawn_rate", "duration", "warmup", "spike", "step",
                                       "soak", "arrival", "replay", "window", "scale", "speedup", "map",
                                       "unmapped", "concurrency", "arrivals", "shape", "locust_shape"})
        if d is None:
            return None
        if "shape" in d:
            return self.load_shape(d, path, users)
        kinds = [k for k in self._LOAD_KINDS if k in d] or (["stages"] if {"users", "duration"} & set(d) else [])
        if len(kinds) != 1 or ("stages" in d and {"users", "duration", "spawn_rate"} & set(d)):
            self.err(path, "expected exactly one load: stages, users/duration, spike, step, soak, arrival or replay")
            return None
        kind = kinds[0]
        replay_keys = {"window", "scale", "speedup", "map", "unmapped"}
        allowed = {"arrival": {"concurrency", "arrivals"},
                   "replay": {"concurrency", "arrivals", *replay_keys}}.get(kind, set())
        extra = sorted(({"concurrency", "arrivals", *replay_keys} - allowed) & set(d))
        for key in extra:
            where = "replay" if key in replay_keys else "arrival or replay"
            self.err(path + (key,), f"{key!r} applies to {where} loads")
        if extra:
            return None
        open_load: OpenLoad | None = None
        if kind == "stages":
            stages = self.stages(d, path)
        elif kind in ("spike", "step", "soak"):
            stages = getattr(self, f"load_{kind}")(d[kind], path + (kind,))
        else:
            if any(isinstance(u, LocustUserRef) for u in users):
                self.err(path + (kind,), "open-model loads (arrival, replay) issue the YAML users' requests; "
                                         "Locust classes run their own loops, so use stages for them")
            for u in users:
                if isinstance(u, YamlUser) and u.flow:
                    self.err(path + (kind,), f"open-model loads (arrival, replay) start single requests; user "
                                             f"{u.name!r} has a flow (steps that depend on each other), so use "
                                             "stages for it")
            open_load = self.load_arrival(d, path) if kind == "arrival" else self.load_replay(d, path, users)
            stages = None if open_load is None else (Stage(open_load.duration, open_load.concurrency,
                                                           float(open_load.concurrency)),)
        if stages is None:
            return None
        warmup: str | float = "ramp"
        if "warmup" in d:
            if d["warmup"] in ("ramp", "first-stage"):
                warmup = d["warmup"]
            else:
                w = self.duration(d["warmup"], path + ("warmup",))
                warmup = w if w is not None else "ramp"
        total = sum(s.duration for s in stages)
        if isinstance(warmup, float) and warmup >= total:
            self.err(path + ("warmup",), f"warmup {warmup:g}s leaves nothing of a {total:g}s run to check")
        if warmup == "first-stage" and len(stages) == 1:
            self.err(path + ("warmup",), "first-stage leaves nothing to check in a one-stage load; use ramp or a duration")
        return Load(tuple(stages), warmup, open_load, kind)

    def stages(self, d: dict, path: Path) -> list[Stage] | None:
        raw = d["stages"] if "stages" in d else [{k: d[k] for k in ("users", "duration", "spawn_rate") if k in d}]
        if not isinstance(raw, list) or not raw:
            self.err(path + ("stages",), f"expected a non-empty list of stages, got {_kind(raw)}")
            return None
        if len(raw) > MAX_STAGES:
            self.err(path + ("stages",), f"{len(raw):,} stages: expected at most {MAX_STAGES:,}")
            return None
        stages = []
        prev_rate: float | None = None
        for i, s in enumerate(raw):
            p = path + ("stages", i) if "stages" in d else path
            sd = self.mapping(s, p, {"duration", "users", "spawn_rate"}, {"duration", "users"})
            if sd is None or not {"duration", "users"} <= set(sd):
                continue
            dur = self.duration(sd["duration"], p + ("duration",))
            users = self.number(sd["users"], p + ("users",), 0, integer=True, maximum=MAX_USERS)
            rate = (self.number(sd["spawn_rate"], p + ("spawn_rate",), 0.001, maximum=MAX_USERS) if "spawn_rate" in sd
                    else prev_rate)
            if dur is not None and dur <= 0:
                self.err(p + ("duration",), "expected a duration above 0")
                continue
            if dur is None or users is None:
                continue
            rate = rate if rate is not None else max(float(users), 1.0)
            prev_rate = rate
            stages.append(Stage(dur, int(users), rate))
        return stages if len(stages) == len(raw) else None

    def _fields(self, value: Any, path: Path, spec: dict[str, str], required: set[str]) -> dict | None:
        """Read a small mapping whose values are durations ("d"), whole numbers ("i") or numbers ("n")."""
        d = self.mapping(value, path, set(spec), required)
        if d is None or not required <= set(d):
            return None
        out = {}
        for key, kind in spec.items():
            if key not in d:
                continue
            if kind == "d":
                out[key] = self.duration(d[key], path + (key,))
            else:
                out[key] = self.number(d[key], path + (key,), 0.001 if kind == "n" else 0, integer=kind == "i",
                                       maximum=MAX_USERS)
        return None if any(v is None for v in out.values()) else out

    def load_spike(self, value: Any, path: Path) -> list[Stage] | None:
        """base users, a jump to peak at ``at`` for ``hold``, back to base until ``duration``."""
        f = self._fields(value, path, {"base": "i", "peak": "i", "at": "d", "hold": "d", "duration": "d",
                                       "spawn_rate": "n"}, {"base", "peak", "at", "hold", "duration"})
        if f is None:
            return None
        if f["at"] + f["hold"] >= f["duration"] or f["at"] <= 0:
            self.err(path, "expected 0 < at and at + hold < duration")
            return None
        fast = f.get("spawn_rate") or float(max(f["peak"], 1))
        base_rate = float(max(f["base"], 1))
        return [Stage(f["at"], int(f["base"]), base_rate), Stage(f["hold"], int(f["peak"]), fast),
                Stage(f["duration"] - f["at"] - f["hold"], int(f["base"]), fast)]

    def load_step(self, value: Any, path: Path) -> list[Stage] | None:
        """start users, plus ``step`` users every ``every``, ``steps`` times: the input of a capacity fit."""
        f = self._fields(value, path, {"start": "i", "step": "i", "every": "d", "steps": "i", "spawn_rate": "n"},
                         {"start", "step", "every", "steps"})
        if f is None:
            return None
        if f["steps"] < 1 or f["every"] <= 0 or f["steps"] > MAX_STAGES:
            self.err(path, f"expected 1 <= steps <= {MAX_STAGES:,} and every > 0")
            return None
        rate = f.get("spawn_rate") or float(max(f["step"], 1))
        return [Stage(f["every"], int(f["start"] + i * f["step"]), rate) for i in range(int(f["steps"]))]

    def load_soak(self, value: Any, path: Path) -> list[Stage] | None:
        """A long steady load; the same as one stage, named for what it is for."""
        f = self._fields(value, path, {"users": "i", "duration": "d", "spawn_rate": "n"}, {"users", "duration"})
        if f is None:
            return None
        return [Stage(f["duration"], int(f["users"]), f.get("spawn_rate") or float(max(f["users"], 1)))]

    def rate(self, value: Any, path: Path) -> float | None:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|m|h))?\s*", str(value)) if not isinstance(value, bool) else None
        if not m:
            self.err(path, f"expected a rate such as 200/s, 600/m or 200, got {value!r}")
            return None
        rate = float(m.group(1)) / {"s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}[m.group(2)]
        if not rate <= MAX_RATE:
            self.err(path, f"expected a rate of at most {MAX_RATE:,.0f}/s, got {value!r}")
            return None
        return rate

    def open_options(self, d: dict, path: Path, peak: float) -> tuple[int, str] | None:
        arrivals = d.get("arrivals", "uniform")
        if arrivals not in ("uniform", "poisson"):
            self.err(path + ("arrivals",), f"expected uniform or poisson, got {arrivals!r}")
            return None
        default = int(min(1000, max(50, math.ceil(peak))))  # room for 1 s of latency at the peak rate
        conc = self.number(d.get("concurrency", default), path + ("concurrency",), 1, integer=True,
                           maximum=MAX_USERS)
        return None if conc is None else (int(conc), arrivals)

    def load_arrival(self, d: dict, path: Path) -> OpenLoad | None:
        p = path + ("arrival",)
        a = self.mapping(d["arrival"], p, {"rate", "duration", "stages", "start_rate"})
        if a is None:
            return None
        if "stages" in a:
            raw = a["stages"]
            if not isinstance(raw, list) or not raw:
                self.err(p + ("stages",), f"expected a non-empty list of {{rate, duration}}, got {_kind(raw)}")
                return None
            steps = []
            for i, st in enumerate(raw):
                sd = self.mapping(st, p + ("stages", i), {"rate", "duration"}, {"rate", "duration"})
                if sd is None or not {"rate", "duration"} <= set(sd):
                    return None
                r, dur = self.rate(sd["rate"], p + ("stages", i, "rate")), self.duration(sd["duration"], p + ("stages", i, "duration"))
                if r is None or dur is None:
                    return None
                steps.append((r, dur))
            prev = self.rate(a["start_rate"], p + ("start_rate",)) if "start_rate" in a else steps[0][0]
            if prev is None:
                return None
            segments = []
            for r, dur in steps:  # like k6's ramping-arrival-rate: each stage ramps linearly to its rate
                segments.append(Segment(dur, prev, r))
                prev = r
        else:
            if not {"rate", "duration"} <= set(a):
                self.err(p, "expected rate and duration, or stages: [{rate, duration}, ...]")
                return None
            r, dur = self.rate(a["rate"], p + ("rate",)), self.duration(a["duration"], p + ("duration",))
            if r is None or dur is None:
                return None
            segments = [Segment(dur, r, r)]
        if any(s.duration <= 0 for s in segments) or all(s.requests <= 0 for s in segments):
            self.err(p, "expected durations above 0 and a rate above 0")
            return None
        opts = self.open_options(d, path, max(max(s.rate_start, s.rate_end) for s in segments))
        return None if opts is None else OpenLoad(tuple(segments), opts[0], opts[1], (), "arrival")

    # -- a locustfile's LoadTestShape --------------------------------------------------------------------
    SHAPE_LIMIT_S = 3600.0

    def load_shape(self, d: dict, path: Path, users: tuple) -> Load | None:
        """``load: {shape: FILE.py:Class, duration: LIMIT}``: the shape drives users until it returns None."""
        extra = sorted(set(d) - {"shape", "duration", "warmup"})
        for key in extra:
            self.err(path + (key,), f"{key!r} does not apply to a shape load (only shape, duration, warmup)")
        ref = self.string(d["shape"], path + ("shape",))
        if not ref or extra:
            return None
        file, sep, cls = ref.rpartition(":")
        resolved = self.resolve_file(file) if sep and file and cls else None
        if resolved is None:
            self.err(path + ("shape",), f"expected FILE.py:ShapeClass of an existing file, got {ref!r}")
            return None
        try:
            found = shape_classes(str(resolved), getattr(self, "allowed_hosts", None))
        except ConfigError as exc:
            self.err(path + ("shape",), str(exc))
            return None
        if cls not in found:
            self.err(path + ("shape",), f"{file} has no LoadTestShape class {cls!r} (shapes there: "
                                        f"{', '.join(found) or 'none'})")
            return None
        limit = self.duration(d["duration"], path + ("duration",)) if "duration" in d else self.SHAPE_LIMIT_S
        if limit is None or limit <= 0:
            return None
        warmup = self.duration(d["warmup"], path + ("warmup",)) if "warmup" in d else 0.0
        return Load((Stage(limit, 0, 1.0),), warmup if warmup is not None else 0.0, None, "shape",
                    ShapeRef(str(resolved), cls))

    def locust_shape_load(self, users: tuple) -> Load | None:
        """No ``load:`` section: a locustfile's only LoadTestShape drives the load, as ``locust -f`` does."""
        shapes = self._shapes_of(users)
        if len(shapes) == 1:
            (file, cls), = shapes
            return Load((Stage(self.SHAPE_LIMIT_S, 0, 1.0),), 0.0, None, "shape", ShapeRef(file, cls))
        if not shapes:
            self.err((), "missing required key 'load' (and no locustfile of the users defines a LoadTestShape)")
        else:
            self.err((), "missing required key 'load': the locustfiles define several LoadTestShapes ("
                         + ", ".join(f"{f}:{c}" for f, c in shapes) + "); name one with load: {shape: FILE.py:Class}")
        return None

    def shape_not_ignored(self, users: tuple, load: Load) -> None:
        """A locustfile's shape is never silently ignored: with another ``load:`` it is refused."""
        raw = self.src.data.get("load")
        if load.kind == "shape" or (isinstance(raw, dict) and raw.get("locust_shape") == "ignore"):
            return
        for file, cls in self._shapes_of(users):
            self.err(("load",), f"{file} defines LoadTestShape {cls}, which this load would ignore: remove the "
                                f"load: section (or write load: {{shape: {file}:{cls}}}) to use it, or add "
                                "locust_shape: ignore to load: to run these stages instead")

    def _shapes_of(self, users: tuple) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for u in users:
            if isinstance(u, LocustUserRef):
                try:
                    out += [(u.file, c) for c in shape_classes(u.file) if (u.file, c) not in out]
                except ConfigError:
                    continue
        return out
