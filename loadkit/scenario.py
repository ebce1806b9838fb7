"""Scenarios: YAML validated once, at load time, into frozen objects the runner trusts.

Every problem of a file is collected (file, line, key path, what was expected) and raised
together as one :class:`~loadkit.errors.ConfigError`, so a user fixes them in one pass.

This module holds the objects and the entry points; the section-by-section validation lives in
:mod:`loadkit.schema`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any
from urllib.parse import urlsplit

from .checks import Check
from .collectors.base import MetricSpec
from .compare import CompareCheck
from .errors import ConfigError, Problem
from .fingerprint import EnvironmentSpec
from .openmodel import OpenLoad
from .yamlsource import apply_overrides, interpolate, load_yaml

__all__ = [
    "Scenario", "Target", "Auth", "Var", "Request", "Wait", "YamlUser", "LocustUserRef", "Stage", "Load", "AbortRule",
    "load_scenario", "parse_scenario", "check_host_allowed",
]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


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
    from .schema import Builder  # here, not at the top: loadkit.schema imports the objects defined above

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
    scenario = Builder(src, env, base_dir).scenario(text, overrides or [])
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

