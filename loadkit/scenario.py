"""Scenarios: YAML validated once, at load time, into frozen objects the runner trusts.

Every problem of a file is collected (file, line, key path, what was expected) and raised
together as one :class:`~loadkit.errors.ConfigError`, so a user fixes them in one pass.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import importlib.util
import inspect
import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any
from urllib.parse import urlsplit

from .checks import Check, parse_check
from .collectors.base import MetricSpec
from .compare import CompareCheck, parse_compare
from .errors import ConfigError, Problem
from .fingerprint import EnvironmentSpec
from .openmodel import OpenLoad, Segment
from .units import parse_duration
from .yamlsource import Path, Source, apply_overrides, interpolate, load_yaml

__all__ = [
    "Scenario", "Target", "Auth", "Var", "Request", "Wait", "YamlUser", "LocustUserRef", "Stage", "Load", "AbortRule",
    "load_scenario", "parse_scenario", "check_host_allowed",
]

LOOPBACK = ("127.0.0.1", "localhost", "::1")
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][\w]*)(?:\.([\w-]+))?\}(?!\})")


@dataclass(frozen=True)
class Auth:
    """Credentials read from environment variables at load time; never written anywhere."""

    kind: str  # "basic" | "bearer"
    username: str = ""
    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class Target:
    host: str
    allowed_hosts: tuple[str, ...]
    headers: tuple[tuple[str, str], ...] = ()
    auth: Auth | None = None


@dataclass(frozen=True)
class Var:
    name: str
    kind: str  # "choice" | "randint" | "uuid" | "csv"
    values: tuple[Any, ...] = ()  # choice values; (lo, hi) for randint; rows (dicts) for csv
    order: str = "random"  # csv: "random" | "sequential"


@dataclass(frozen=True)
class Request:
    name: str
    method: str
    path: str
    weight: float = 1.0
    headers: tuple[tuple[str, str], ...] = ()
    json: Any = None
    data: str | None = None
    expect_status: tuple[int, ...] = ()  # empty: any status below 400
    expect_contains: str | None = None


@dataclass(frozen=True)
class Wait:
    kind: str  # "between" | "constant" | "pacing"
    low: float
    high: float = 0.0


@dataclass(frozen=True)
class YamlUser:
    name: str
    weight: int
    wait: Wait
    requests: tuple[Request, ...]
    vars: tuple[Var, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    auth: Auth | None = None


@dataclass(frozen=True)
class LocustUserRef:
    """An existing Locust ``User`` class, run unchanged."""

    file: str
    class_name: str
    weight: int | None = None


@dataclass(frozen=True)
class Stage:
    duration: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class Load:
    stages: tuple[Stage, ...]  # closed model; for an open model, one stage holding the user pool
    warmup: str | float = "ramp"  # "ramp", "first-stage", or seconds excluded from checks
    open: OpenLoad | None = None  # arrival rates or a replayed profile: the open model
    kind: str = "stages"  # stages | spike | step | soak | arrival | replay

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.stages)

    def warmup_seconds(self) -> float:
        """Seconds at the start excluded from checks: by default the first stage's ramp (none when open)."""
        if isinstance(self.warmup, (int, float)):
            return float(self.warmup)
        if self.open is not None:
            return 0.0
        first = self.stages[0]
        if self.warmup == "first-stage":
            return first.duration
        return min(first.duration, first.users / first.spawn_rate)


@dataclass(frozen=True)
class AbortRule:
    """Stop the load early, to protect staging, when ``check`` is violated over the last ``seconds``."""

    text: str
    check: Check  # the condition that triggers the abort, e.g. error_rate > 20%
    seconds: float


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    file: str
    content_hash: str
    target: Target
    users: tuple[YamlUser | LocustUserRef, ...]
    load: Load
    checks: tuple[Check, ...]
    seed: int | None = None
    overrides: tuple[str, ...] = ()
    compare: tuple[CompareCheck, ...] = ()
    environment: EnvironmentSpec = EnvironmentSpec()
    abort: tuple[AbortRule, ...] = ()
    metrics: tuple[MetricSpec, ...] = ()

    @property
    def endpoint_names(self) -> frozenset[str]:
        return frozenset(r.name for u in self.users if isinstance(u, YamlUser) for r in u.requests)

    @property
    def has_locust_users(self) -> bool:
        return any(isinstance(u, LocustUserRef) for u in self.users)


def load_scenario(
    file: str, overrides: list[str] | None = None, host: str | None = None, env: Mapping[str, str] | None = None
) -> Scenario:
    """Read, interpolate, override and validate a scenario file. Raises :class:`ConfigError`."""
    try:
        raw = FsPath(file).read_bytes()
    except OSError as exc:
        raise ConfigError(problems=[Problem(file, None, "", f"cannot read scenario: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(problems=[Problem(file, None, "", "not a UTF-8 text file; expected a YAML scenario")]) from None
    return parse_scenario(text, file, overrides or [], host, os.environ if env is None else env)


def parse_scenario(
    text: str, file: str = "<scenario>", overrides: list[str] | None = None, host: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Scenario:
    env = env or {}
    src = load_yaml(file, text)
    if not isinstance(src.data, dict):
        src.error((), "expected a mapping with keys name, target, users, load (see docs/scenarios.md)")
        src.raise_if_problems()
    interpolate(src, env)
    apply_overrides(src, list(overrides or []))
    if host is not None:
        src.data.setdefault("target", {})
        if isinstance(src.data["target"], dict):
            src.data["target"]["host"] = host
    base_dir = FsPath(file).resolve().parent
    scenario = _Builder(src, env, base_dir).scenario(text, overrides or [])
    src.raise_if_problems()
    if scenario is None:  # every path that gives up records why; this is a guard, not a message
        raise ConfigError(problems=[Problem(file, None, "", "the scenario is incomplete (see docs/scenarios.md)")])
    return scenario


def check_host_allowed(host: str, allowed: tuple[str, ...]) -> str | None:
    """The reason ``host`` (a URL) is refused, or None when it is allowed."""
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"expected an http(s) URL such as http://127.0.0.1:8000, got {host!r}"
    name = parts.hostname.lower()
    netloc = f"{name}:{parts.port}" if parts.port else name
    if name in allowed or netloc in allowed:
        return None
    return f"host {name!r} is not in target.allowed_hosts ({', '.join(allowed)}); add it there if this target is meant to take load"


class _Builder:
    """Walks the raw data, recording problems instead of stopping at the first one."""

    def __init__(self, src: Source, env: Mapping[str, str], base_dir: FsPath):
        self.src, self.env, self.base_dir = src, env, base_dir

    # -- small typed readers -------------------------------------------------
    def err(self, path: Path, msg: str) -> None:
        self.src.error(path, msg)

    def mapping(self, value: Any, path: Path, allowed: set[str], required: set[str] = frozenset()) -> dict | None:
        if not isinstance(value, dict):
            self.err(path, f"expected a mapping with keys {', '.join(sorted(allowed))}, got {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (expected one of {', '.join(sorted(allowed))})"
                self.err(path + (key,), f"unknown key {key!r}{hint}")
        for key in sorted(required - set(value)):
            self.err(path, f"missing required key {key!r}")
        return value

    def string(self, value: Any, path: Path) -> str | None:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        self.err(path, f"expected a string, got {_kind(value)}")
        return None

    def number(self, value: Any, path: Path, minimum: float = 0.0, integer: bool = False) -> float | None:
        try:
            if isinstance(value, bool):
                raise ValueError
            n = int(value) if integer and not isinstance(value, float) else float(value)
            if integer and float(n) != float(value):
                raise ValueError
        except (TypeError, ValueError):
            self.err(path, f"expected {'a whole number' if integer else 'a number'}, got {_kind(value)}")
            return None
        if n < minimum:
            self.err(path, f"expected a number >= {minimum:g}, got {n}")
            return None
        return n

    def duration(self, value: Any, path: Path) -> float | None:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.err(path, str(exc))
            return None

    def headers(self, value: Any, path: Path) -> tuple[tuple[str, str], ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            self.err(path, f"expected a mapping of header names to values, got {_kind(value)}")
            return ()
        return tuple((str(k), str(v)) for k, v in value.items())

    # -- sections ------------------------------------------------------------
    def scenario(self, text: str, overrides: list[str]) -> Scenario | None:
        d = self.mapping(self.src.data, (), {"name", "description", "target", "users", "load", "checks", "seed",
                                             "compare", "environment", "abort", "metrics"},
                         {"name", "target", "users", "load"})
        if d is None:
            return None
        name = self.string(d.get("name"), ("name",)) if "name" in d else None
        if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            self.err(("name",), f"expected letters, digits, '-', '_' or '.' (it names folders), got {name!r}")
        target = self.target(d["target"], ("target",)) if "target" in d else None
        users = self.users(d["users"], ("users",)) if "users" in d else ()
        if target is not None:
            for user in users:
                if isinstance(user, YamlUser):
                    self.placeholders(target.headers, ("target", "headers"), {v.name: v for v in user.vars})
        load = self.load(d["load"], ("load",), users) if "load" in d else None
        metrics = self.metrics(d.get("metrics") or [], ("metrics",))
        checks = self.checks(d.get("checks") or [], ("checks",), users)
        compare = self.compare(d.get("compare") or [], ("compare",), users)
        environment = self.environment(d.get("environment") or {}, ("environment",), target)
        abort = self.abort(d.get("abort") or [], ("abort",), users, load)
        seed = self.number(d["seed"], ("seed",), integer=True) if "seed" in d else None
        if self.src.problems or not (name and target and load):
            return None
        digest = hashlib.sha256(text.encode()).hexdigest()
        return Scenario(name, str(d.get("description") or ""), self.src.file, digest, target, users, load, checks,
                        None if seed is None else int(seed), tuple(overrides), compare, environment, abort, metrics)

    def target(self, value: Any, path: Path) -> Target | None:
        d = self.mapping(value, path, {"host", "allowed_hosts", "headers", "auth"}, {"host"})
        if d is None or "host" not in d:
            return None
        host = self.string(d["host"], path + ("host",)) or ""
        allowed_raw = d.get("allowed_hosts", list(LOOPBACK))
        if not isinstance(allowed_raw, list) or not all(isinstance(h, str) for h in allowed_raw):
            self.err(path + ("allowed_hosts",), f"expected a list of host names, got {_kind(allowed_raw)}")
            allowed_raw = []
        allowed = tuple(h.lower() for h in allowed_raw)
        reason = check_host_allowed(host, allowed) if host else "expected a URL"
        if reason:
            self.err(path + ("host",), reason)
        return Target(host.rstrip("/"), allowed, self.headers(d.get("headers"), path + ("headers",)),
                      self.auth(d.get("auth"), path + ("auth",)))

    def auth(self, value: Any, path: Path) -> Auth | None:
        if value is None:
            return None
        d = self.mapping(value, path, {"basic", "bearer"})
        if d is None:
            return None
        if len(d) != 1:
            self.err(path, "expected exactly one of 'basic' or 'bearer'")
            return None
        if "bearer" in d:
            b = self.mapping(d["bearer"], path + ("bearer",), {"token_env"}, {"token_env"})
            token = self._secret(b, "token_env", path + ("bearer",)) if b else None
            return Auth("bearer", "", token) if token is not None else None
        b = self.mapping(d["basic"], path + ("basic",), {"username_env", "password_env"}, {"username_env", "password_env"})
        if not b:
            return None
        user = self._secret(b, "username_env", path + ("basic",))
        password = self._secret(b, "password_env", path + ("basic",))
        return Auth("basic", user, password) if user is not None and password is not None else None

    def _secret(self, d: dict, key: str, path: Path) -> str | None:
        if key not in d:
            return None
        name = str(d[key])
        if name not in self.env:
            self.err(path + (key,), f"environment variable {name} is not set (credentials come only from the environment)")
            return None
        return self.env[name]

    def users(self, value: Any, path: Path) -> tuple[YamlUser | LocustUserRef, ...]:
        if not isinstance(value, list) or not value:
            self.err(path, f"expected a non-empty list of users, got {_kind(value)}")
            return ()
        out: list[YamlUser | LocustUserRef] = []
        names: set[str] = set()
        for i, item in enumerate(value):
            p = path + (i,)
            user = self.locust_user(item, p) if isinstance(item, dict) and "locust" in item else self.yaml_user(item, p)
            if isinstance(user, YamlUser):
                if user.name in names:
                    self.err(p + ("name",), f"duplicate user name {user.name!r}")
                names.add(user.name)
            if user is not None:
                out.append(user)
        return tuple(out)

    def locust_user(self, value: dict, path: Path) -> LocustUserRef | None:
        d = self.mapping(value, path, {"locust", "weight"}, {"locust"})
        if d is None:
            return None
        ref = self.string(d["locust"], path + ("locust",))
        weight = self.number(d["weight"], path + ("weight",), 1, integer=True) if "weight" in d else None
        if not ref:
            return None
        file, sep, cls = ref.rpartition(":")
        if not sep or not file or not cls:
            self.err(path + ("locust",), f"expected FILE.py:ClassName, got {ref!r}")
            return None
        resolved = self.resolve_file(file)
        if resolved is None:
            self.err(path + ("locust",), f"Locust file {file!r} not found (relative to the scenario or the current directory)")
            return None
        reason = locust_class_problem(str(resolved), cls)
        if reason:
            self.err(path + ("locust",), reason)
            return None
        return LocustUserRef(str(resolved), cls, None if weight is None else int(weight))

    def resolve_file(self, file: str) -> FsPath | None:
        for candidate in (self.base_dir / file, FsPath.cwd() / file, FsPath(file)):
            if candidate.is_file():
                return candidate.resolve()
        return None

    def yaml_user(self, value: Any, path: Path) -> YamlUser | None:
        d = self.mapping(value, path, {"name", "weight", "wait", "requests", "vars", "headers", "auth"},
                         {"name", "requests"})
        if d is None:
            return None
        name = self.string(d.get("name"), path + ("name",)) if "name" in d else None
        weight = self.number(d.get("weight", 1), path + ("weight",), 1, integer=True)
        wait = self.wait(d.get("wait", {"constant": 0}), path + ("wait",))
        variables = self.variables(d.get("vars") or {}, path + ("vars",))
        requests = self.requests(d.get("requests"), path + ("requests",), {v.name: v for v in variables})
        headers = self.headers(d.get("headers"), path + ("headers",))
        self.placeholders(headers, path + ("headers",), {v.name: v for v in variables})
        auth = self.auth(d.get("auth"), path + ("auth",))
        if name is None or weight is None or wait is None or requests is None:
            return None
        return YamlUser(name, int(weight), wait, requests, variables, headers, auth)

    def wait(self, value: Any, path: Path) -> Wait | None:
        d = self.mapping(value, path, {"between", "constant", "pacing"})
        if d is None:
            return None
        if len(d) != 1:
            self.err(path, "expected exactly one of between: [MIN, MAX], constant: SECONDS, pacing: SECONDS")
            return None
        kind, arg = next(iter(d.items()))
        if kind == "between":
            if not isinstance(arg, list) or len(arg) != 2:
                self.err(path + ("between",), f"expected [MIN, MAX] in seconds, got {_kind(arg)}")
                return None
            lo, hi = (self.duration(a, path + ("between", i)) for i, a in enumerate(arg))
            if lo is None or hi is None:
                return None
            if lo > hi:
                self.err(path + ("between",), f"expected MIN <= MAX, got [{lo:g}, {hi:g}]")
                return None
            return Wait("between", lo, hi)
        seconds = self.duration(arg, path + (kind,))
        return None if seconds is None else Wait(kind, seconds)

    def variables(self, value: Any, path: Path) -> tuple[Var, ...]:
        if not isinstance(value, dict):
            self.err(path, f"expected a mapping of variable names to generators, got {_kind(value)}")
            return ()
        out = []
        for name, spec in value.items():
            p = path + (name,)
            if not re.fullmatch(r"[A-Za-z_]\w*", str(name)):
                self.err(p, "expected a variable name of letters, digits and '_'")
                continue
            var = self.variable(str(name), spec, p)
            if var is not None:
                out.append(var)
        return tuple(out)

    def variable(self, name: str, spec: Any, path: Path) -> Var | None:
        d = self.mapping(spec, path, {"choice", "randint", "uuid", "csv", "order"})
        if d is None:
            return None
        kinds = [k for k in ("choice", "randint", "uuid", "csv") if k in d]
        if len(kinds) != 1:
            self.err(path, "expected exactly one of choice: [...], randint: [LO, HI], uuid: true, csv: FILE")
            return None
        kind = kinds[0]
        if "order" in d and kind != "csv":
            self.err(path + ("order",), "'order' applies only to csv variables")
        arg = d[kind]
        if kind == "choice":
            if not isinstance(arg, list) or not arg:
                self.err(path + ("choice",), f"expected a non-empty list, got {_kind(arg)}")
                return None
            return Var(name, kind, tuple(arg))
        if kind == "randint":
            if not (isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, int) and not isinstance(a, bool) for a in arg)
                    and arg[0] <= arg[1]):
                self.err(path + ("randint",), f"expected [LO, HI] whole numbers with LO <= HI, got {arg!r}")
                return None
            return Var(name, kind, (arg[0], arg[1]))
        if kind == "uuid":
            if arg is not True:
                self.err(path + ("uuid",), f"expected uuid: true, got {arg!r}")
                return None
            return Var(name, kind)
        order = d.get("order", "random")
        if order not in ("random", "sequential"):
            self.err(path + ("order",), f"expected random or sequential, got {order!r}")
            return None
        return self.csv_var(name, arg, order, path + ("csv",))

    def csv_var(self, name: str, file: Any, order: str, path: Path) -> Var | None:
        resolved = self.resolve_file(str(file))
        if resolved is None:
            self.err(path, f"data file {file!r} not found (relative to the scenario or the current directory)")
            return None
        try:
            with open(resolved, newline="", encoding="utf-8") as fh:
                rows = tuple(dict(r) for r in csv.DictReader(fh))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            self.err(path, f"cannot read data file {file!r}: {exc}")
            return None
        if not rows:
            self.err(path, f"data file {file!r} has a header but no rows; expected at least one row")
            return None
        return Var(name, "csv", rows, order)

    def requests(self, value: Any, path: Path, variables: dict[str, Var]) -> tuple[Request, ...] | None:
        if not isinstance(value, list) or not value:
            self.err(path, f"expected a non-empty list of requests, got {_kind(value)}")
            return None
        out = []
        for i, item in enumerate(value):
            r = self.request(item, path + (i,), variables)
            if r is not None:
                out.append(r)
        if out and len(out) == len(value) and sum(r.weight for r in out) <= 0:
            self.err(path, "every request has weight 0: at least one needs a weight above 0")
            return None
        names = [r.name for r in out]
        for i, n in enumerate(names):
            if n in names[:i]:
                self.err(path + (i, "name"), f"duplicate request name {n!r}")
        return tuple(out) if len(out) == len(value) else None

    def request(self, value: Any, path: Path, variables: dict[str, Var]) -> Request | None:
        d = self.mapping(value, path, {"name", "method", "path", "weight", "headers", "json", "data", "expect"},
                         {"path"})
        if d is None or "path" not in d:
            return None
        url_path = self.string(d["path"], path + ("path",))
        if url_path is not None and not url_path.startswith("/"):
            self.err(path + ("path",), f"expected a path starting with '/', got {url_path!r} (the host comes from target.host)")
        method = str(d.get("method", "GET")).upper()
        if method not in _METHODS:
            self.err(path + ("method",), f"expected one of {', '.join(sorted(_METHODS))}, got {d.get('method')!r}")
        weight = self.number(d.get("weight", 1), path + ("weight",), 0)
        if "json" in d and "data" in d:
            self.err(path, "give either json or data, not both")
        if "data" in d and not isinstance(d["data"], str):
            self.err(path + ("data",), f"expected a string body (use json: for structured data), got {_kind(d['data'])}")
        headers = self.headers(d.get("headers"), path + ("headers",))
        expect_status, contains = self.expect(d.get("expect"), path + ("expect",))
        name = str(d.get("name") or f"{method} {url_path}")
        for key, val in (("path", url_path), ("headers", headers), ("json", d.get("json")), ("data", d.get("data"))):
            self.placeholders(val, path + (key,), variables)
        if url_path is None or weight is None:
            return None
        data = None if d.get("data") is None else str(d["data"])
        return Request(name, method, url_path, weight, headers, d.get("json"), data, expect_status, contains)

    def expect(self, value: Any, path: Path) -> tuple[tuple[int, ...], str | None]:
        if value is None:
            return (), None
        d = self.mapping(value, path, {"status", "contains"})
        if d is None:
            return (), None
        status = d.get("status", [])
        status = status if isinstance(status, list) else [status]
        if not all(isinstance(s, int) and 100 <= s <= 599 for s in status):
            self.err(path + ("status",), f"expected an HTTP status code or a list of them, got {d.get('status')!r}")
            status = []
        contains = d.get("contains")
        return tuple(status), None if contains is None else str(contains)

    def placeholders(self, value: Any, path: Path, variables: dict[str, Var]) -> None:
        for text in _strings(value):
            for m in _PLACEHOLDER.finditer(text):
                name, col = m.group(1), m.group(2)
                var = variables.get(name)
                if var is None:
                    known = ", ".join(sorted(variables)) or "none defined"
                    self.err(path, f"unknown variable {{{name}}} (vars of this user: {known})")
                elif var.kind != "csv" and col is not None:
                    self.err(path, f"{{{name}.{col}}}: only csv variables have columns; {{{name}}} is a {var.kind} variable")
                elif var.kind == "csv" and col is not None and col not in var.values[0]:
                    self.err(path, f"data file of {{{name}}} has no column {col!r} (columns: {', '.join(var.values[0])})")
                elif var.kind == "csv" and col is None:
                    self.err(path, f"{{{name}}} is a csv row: write {{{name}.COLUMN}}")

    _LOAD_KINDS = ("stages", "spike", "step", "soak", "arrival", "replay")

    def load(self, value: Any, path: Path, users: tuple = ()) -> Load | None:
        d = self.mapping(value, path, {"stages", "users", "spawn_rate", "duration", "warmup", "spike", "step",
                                       "soak", "arrival", "replay", "window", "scale", "speedup", "map",
                                       "concurrency", "arrivals"})
        if d is None:
            return None
        kinds = [k for k in self._LOAD_KINDS if k in d] or (["stages"] if {"users", "duration"} & set(d) else [])
        if len(kinds) != 1 or ("stages" in d and {"users", "duration", "spawn_rate"} & set(d)):
            self.err(path, "expected exactly one load: stages, users/duration, spike, step, soak, arrival or replay")
            return None
        kind = kinds[0]
        allowed = {"arrival": {"concurrency", "arrivals"},
                   "replay": {"concurrency", "arrivals", "window", "scale", "speedup", "map"}}.get(kind, set())
        extra = sorted(({"concurrency", "arrivals", "window", "scale", "speedup", "map"} - allowed) & set(d))
        for key in extra:
            where = "replay" if key in ("window", "scale", "speedup", "map") else "arrival or replay"
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
        stages = []
        prev_rate: float | None = None
        for i, s in enumerate(raw):
            p = path + ("stages", i) if "stages" in d else path
            sd = self.mapping(s, p, {"duration", "users", "spawn_rate"}, {"duration", "users"})
            if sd is None or not {"duration", "users"} <= set(sd):
                continue
            dur = self.duration(sd["duration"], p + ("duration",))
            users = self.number(sd["users"], p + ("users",), 0, integer=True)
            rate = self.number(sd["spawn_rate"], p + ("spawn_rate",), 0.001) if "spawn_rate" in sd else prev_rate
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
                out[key] = self.number(d[key], path + (key,), 0.001 if kind == "n" else 0, integer=kind == "i")
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
        if f["steps"] < 1 or f["every"] <= 0:
            self.err(path, "expected steps >= 1 and every > 0")
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
        return float(m.group(1)) / {"s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}[m.group(2)]

    def open_options(self, d: dict, path: Path, peak: float) -> tuple[int, str] | None:
        arrivals = d.get("arrivals", "uniform")
        if arrivals not in ("uniform", "poisson"):
            self.err(path + ("arrivals",), f"expected uniform or poisson, got {arrivals!r}")
            return None
        default = int(min(1000, max(50, math.ceil(peak))))  # room for 1 s of latency at the peak rate
        conc = self.number(d.get("concurrency", default), path + ("concurrency",), 1, integer=True)
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

    def load_replay(self, d: dict, path: Path, users: tuple) -> OpenLoad | None:
        from .profiles import load_profile, peak_window

        p = path + ("replay",)
        resolved = self.resolve_file(str(d["replay"]))
        if resolved is None:
            self.err(p, f"profile {d['replay']!r} not found (make one with loadkit profile import)")
            return None
        try:
            profile = load_profile(resolved)
        except ConfigError as exc:
            self.err(p, f"cannot read profile: {exc}")
            return None
        scale = self.number(d.get("scale", 1), path + ("scale",), 0.000001)
        speedup = self.number(d.get("speedup", 1), path + ("speedup",), 0.000001)
        window = str(d.get("window", "full"))
        if scale is None or speedup is None:
            return None
        start, end = profile.start, profile.end
        if window.startswith("peak"):
            length = None
            if window != "peak":
                try:
                    length = parse_duration(window.removeprefix("peak-"))
                except ValueError:
                    self.err(path + ("window",), f"expected full, peak or peak-DURATION (peak-1h, peak-10m), got {window!r}")
                    return None
            pw = peak_window(profile, length)
            start, end = pw.start, pw.end
        elif window != "full":
            self.err(path + ("window",), f"expected full, peak or peak-DURATION (peak-1h, peak-10m), got {window!r}")
            return None
        i0 = int(round((start - profile.start) / profile.interval))
        i1 = int(round((end - profile.start) / profile.interval))
        rates = [r * scale for r in profile.rates[i0:i1]]
        if not rates or sum(rates) <= 0:
            self.err(p, f"the {window} window of the profile holds no requests")
            return None
        segments = tuple(Segment(profile.interval / speedup, r, r) for r in rates)
        mix, unmapped = self.replay_mix(d.get("map"), path + ("map",), profile, users)
        opts = self.open_options(d, path, max(rates))
        if opts is None or mix is None:
            return None
        source = f"{resolved.name} {window} x{scale:g} speedup {speedup:g}"
        return OpenLoad(segments, opts[0], opts[1], mix, source, unmapped)

    def replay_mix(self, value: Any, path: Path, profile: Any, users: tuple):
        """Request weights from the profile's endpoint shares, through ``map: {"GET /x/{id}": request-name}``."""
        names = {r.name for u in users if isinstance(u, YamlUser) for r in u.requests}
        shares = {f"{e.method} {e.path}": e.share for e in profile.endpoints}
        if value is None:
            return (), tuple(sorted(shares.items(), key=lambda kv: -kv[1]))
        if not isinstance(value, dict):
            self.err(path, f"expected a mapping of profile endpoints to request names, got {_kind(value)}")
            return None, ()
        weights: dict[str, float] = {}
        for endpoint, name in value.items():
            if endpoint not in shares:
                close = difflib.get_close_matches(str(endpoint), list(shares), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.err(path + (endpoint,), f"endpoint {endpoint!r} is not in the profile{hint}")
            elif name not in names:
                self.err(path + (endpoint,), f"request {name!r} is not defined (requests: {', '.join(sorted(names))})")
            else:
                weights[name] = weights.get(name, 0.0) + shares[endpoint]
        unmapped = tuple(sorted(((e, sh) for e, sh in shares.items() if e not in value), key=lambda kv: -kv[1]))
        if not weights:
            return None, unmapped
        return tuple(sorted(weights.items())), unmapped

    def metrics(self, value: Any, path: Path) -> tuple[MetricSpec, ...]:
        """The ``metrics:`` sources; what each accepts and yields comes from loadkit.collectors.SOURCES."""
        from .collectors import SOURCES, check_spec

        self.metric_units: dict[str, str] = {}
        self.metric_prefixes: list[str] = []
        if not isinstance(value, list):
            self.err(path, f"expected a list of {{name, source, ...}} entries, got {_kind(value)}")
            return ()
        out: list[MetricSpec] = []
        for i, item in enumerate(value):
            p = path + (i,)
            if not isinstance(item, dict) or "name" not in item or "source" not in item:
                self.err(p, "expected a mapping with name and source (process, host, postgres, mysql, scrape, prometheus)")
                continue
            name, source = str(item["name"]), str(item["source"])
            interval = self.duration(item.get("interval", 1), p + ("interval",)) or 1.0
            options = {k: v for k, v in item.items() if k not in ("name", "source", "interval")}
            spec, problems = check_spec(MetricSpec(name, source, options, interval))
            for problem in problems:
                key = next((k for k in options if f" {k} " in problem or f"{k!r}" in problem), "")
                self.err(p + ((key,) if key else ()), problem)
            if any(m.name == name for m in out):
                self.err(p + ("name",), f"duplicate metrics name {name!r}")
            if problems:
                continue
            info = SOURCES[source]
            for f in info.fields:
                if f.name:
                    self.metric_units[f"{name}.{f.name}"] = f.unit
            if info.open_fields:
                self.metric_prefixes.append(name)
            out.append(spec)
        return tuple(out)

    def known_endpoints(self, users: tuple) -> set[str] | None:
        """Request names checks may use; None when Locust classes may name requests we cannot see."""
        if any(isinstance(u, LocustUserRef) for u in users):
            return None
        return {r.name for u in users if isinstance(u, YamlUser) for r in u.requests}

    def compare(self, value: Any, path: Path, users: tuple) -> tuple[CompareCheck, ...]:
        if not isinstance(value, list):
            self.err(path, f"expected a list of comparisons such as \"p95(latency) <= +10%\", got {_kind(value)}")
            return ()
        endpoints = self.known_endpoints(users)
        out = []
        for i, item in enumerate(value):
            try:
                c = parse_compare(item)
            except ValueError as exc:
                self.err(path + (i,), str(exc))
                continue
            if endpoints is not None and c.endpoint not in (None, "*") and c.endpoint not in endpoints:
                self.err(path + (i,), f"compare {c.text!r} names unknown endpoint {c.endpoint!r} "
                                      f"(known: {', '.join(sorted(endpoints)) or 'none'}; * means every endpoint)")
                continue
            base = c.metric.split("{", 1)[0]
            if c.metric not in ("latency", "error_rate", "rps") and base not in self.metric_units and not any(
                    base == p or base.startswith(p + ".") for p in self.metric_prefixes):
                self.err(path + (i,), f"compare {c.text!r}: unknown metric {c.metric!r} (expected latency, "
                                      f"error_rate, rps or a collected metric: {', '.join(sorted(self.metric_units)) or 'none'})")
                continue
            out.append(c)
        return tuple(out)

    def environment(self, value: Any, path: Path, target: Target | None) -> EnvironmentSpec:
        d = self.mapping(value, path, {"files", "urls", "env", "ignore"})
        if d is None:
            return EnvironmentSpec()
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("files", "urls", "env", "ignore"):
            items = d.get(key, [])
            if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
                self.err(path + (key,), f"expected a list of strings, got {_kind(items)}")
                items = []
            lists[key] = tuple(items)
        for i, url in enumerate(lists["urls"]):  # a path such as /config is read from the target itself
            reason = check_host_allowed(url, target.allowed_hosts) if target and not url.startswith("/") else None
            if reason:
                self.err(path + ("urls", i), reason)
        files = tuple(str(self.resolve_file(f) or f) for f in lists["files"])
        return EnvironmentSpec(files, lists["urls"], lists["env"], lists["ignore"])

    def abort(self, value: Any, path: Path, users: tuple, load: Load | None) -> tuple[AbortRule, ...]:
        if not isinstance(value, list):
            self.err(path, f"expected a list of conditions such as \"error_rate > 20% for 10s\", got {_kind(value)}")
            return ()
        out = []
        for i, item in enumerate(value):
            m = re.match(r"^(?P<cond>.+?)\s+for\s+(?P<dur>\S+)\s*$", item) if isinstance(item, str) else None
            if not m:
                self.err(path + (i,), f"expected CONDITION for DURATION, e.g. \"error_rate > 20% for 10s\", got {item!r}")
                continue
            seconds = self.duration(m.group("dur"), path + (i,))
            try:
                check = parse_check(m.group("cond"), self.known_endpoints(users), metrics=self.metric_units,
                                    metric_prefixes=self.metric_prefixes)
            except ValueError as exc:
                self.err(path + (i,), str(exc))
                continue
            if check.kind == "metric" and check.stat == "per_request":
                self.err(path + (i,), f"abort {item!r}: per_request is known only after the run; use mean or max")
                continue
            if check.kind in ("requests", "failures"):
                self.err(path + (i,), f"abort {item!r}: use error_rate, rps or a latency statistic, not a count")
                continue
            if seconds is not None:
                out.append(AbortRule(item.strip(), check, max(seconds, 1.0)))
        return tuple(out)

    def checks(self, value: Any, path: Path, users: tuple) -> tuple[Check, ...]:
        if not isinstance(value, list):
            self.err(path, f"expected a list of checks, got {_kind(value)}")
            return ()
        has_locust = any(isinstance(u, LocustUserRef) for u in users)
        endpoints = None if has_locust else {r.name for u in users if isinstance(u, YamlUser) for r in u.requests}
        out = []
        for i, item in enumerate(value):
            p = path + (i,)
            severity = nodata = "fail"
            if isinstance(item, dict):
                d = self.mapping(item, p, {"check", "severity", "nodata"}, {"check"})
                if d is None or "check" not in d:
                    continue
                severity, nodata = str(d.get("severity", "fail")), str(d.get("nodata", "fail"))
                bad = [k for k, v in (("severity", severity), ("nodata", nodata)) if v not in ("fail", "warn")]
                for k in bad:
                    self.err(p + (k,), f"expected fail or warn, got {d[k]!r}")
                if bad:
                    continue
                item = d["check"]
            try:
                out.append(parse_check(item, endpoints, severity, self.metric_units, self.metric_prefixes, nodata))
            except ValueError as exc:
                self.err(p, str(exc))
        return tuple(out)


def locust_class_problem(file: str, class_name: str) -> str | None:
    """Why ``class_name`` in ``file`` is not a usable Locust User class, or None if it is."""
    try:
        cls = import_locust_class(file, class_name)
    except ConfigError as exc:
        return str(exc)
    from locust import User

    if not (inspect.isclass(cls) and issubclass(cls, User)):
        return f"{class_name} in {file} is not a locust.User subclass"
    if getattr(cls, "abstract", False):
        return f"{class_name} in {file} is abstract (abstract = True); point at a concrete User class"
    return None


def import_locust_class(file: str, class_name: str) -> type:
    """Import a Locust file by path (once per process) and return the named class."""
    module_name = "loadkit_user_" + hashlib.sha1(file.encode()).hexdigest()[:12]
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, file)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot import {file}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's code: any failure is a configuration problem
            del sys.modules[module_name]
            raise ConfigError(f"importing {file} failed: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        names = [n for n, v in vars(module).items() if inspect.isclass(v) and v.__module__ == module_name]
        raise ConfigError(f"{file} has no class {class_name!r} (classes there: {', '.join(names) or 'none'})")
    return cls


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
