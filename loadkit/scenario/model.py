"""The scenario as frozen objects: what :func:`~loadkit.scenario.load_scenario` builds and the runner trusts.

Plain data, no behaviour beyond small derived properties; validation lives in
:mod:`loadkit.scenario.schema`, reading in :mod:`loadkit.scenario.read`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..collectors.base import MetricSpec
from ..parity import ParitySpec
from .checks import Check, CompareCheck

__all__ = [
    "Scenario", "Target", "Auth", "Var", "Request", "Wait", "YamlUser", "LocustUserRef", "Stage", "Load", "AbortRule",
    "Segment", "OpenLoad", "MixBlock", "EnvironmentSpec", "ShapeRef", "DEFAULT_TIMEOUT_S",
    "Extract", "ExtractFrom", "Expect", "Think", "Repeat", "Step", "flow_requests",
]

#: Every request has a timeout: a hung target must end as a failure, not as a request that never returns.
DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class EnvironmentSpec:
    """Where the target's configuration is read from, for the environment fingerprint."""

    files: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()  # absolute, or a path such as /config read from the target
    env: tuple[str, ...] = ()  # names of environment variables to record
    ignore: tuple[str, ...] = ()  # glob patterns of keys left out, e.g. "*#port"
    parity: ParitySpec | None = None  # the reference (production) this environment is compared with
    commands: tuple[str, ...] = ()  # "NAME=CMD": run before the load, output read as a file (keys NAME#...)


@dataclass(frozen=True)
class Segment:
    """``duration`` seconds whose rate goes linearly from ``rate_start`` to ``rate_end`` (requests/s)."""

    duration: float
    rate_start: float
    rate_end: float

    @property
    def requests(self) -> float:
        return self.duration * (self.rate_start + self.rate_end) / 2


@dataclass(frozen=True)
class MixBlock:
    """From ``start`` seconds into the schedule on (until the next block), requests are drawn with ``weights``.

    A replay gives each stretch of its window the endpoint mix that stretch had in the recording.
    """

    start: float
    weights: tuple[tuple[str, float], ...]  # request name -> weight (any positive scale)


@dataclass(frozen=True)
class OpenLoad:
    """An open-model load: requests start on a schedule, issued by at most ``concurrency`` users."""

    segments: tuple[Segment, ...]
    concurrency: int  # the cap: at most this many requests in flight
    arrivals: str = "uniform"  # "uniform" (evenly spaced, as wrk2) or "poisson"
    mix: tuple[tuple[str, float], ...] = ()  # request name -> weight over the whole load; empty: the scenario's own
    source: str = ""  # "arrival" or the replayed profile and window, for the manifest
    unmapped: tuple[tuple[str, float], ...] = ()  # profile endpoints with no request, and their share
    mixes: tuple[MixBlock, ...] = ()  # a mix that changes along the schedule (replay); empty: ``mix`` throughout
    unmapped_mode: str = ""  # replay: "redistribute" or "drop" the unmapped share; "" when nothing is unmapped
    warnings: tuple[str, ...] = ()  # replay: what it could not do as recorded (a format-1 profile's whole-log mix...)

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    @property
    def peak_rate(self) -> float:
        return max(max(s.rate_start, s.rate_end) for s in self.segments)

    @property
    def requests_total(self) -> float:
        return sum(s.requests for s in self.segments)


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


class ExtractFrom(str, Enum):
    """Where an extracted value is read from in a response."""

    JSON = "json"  # a JSONPath over the JSON body: the first match
    HEADER = "header"  # a response header, by name
    REGEX = "regex"  # a regular expression over the body: its first group (or the whole match)
    COOKIE = "cookie"  # a cookie the response sets, by name


@dataclass(frozen=True)
class Extract:
    """``name: "json:$.token"``: a value a flow step reads from its response, a variable for the later steps."""

    name: str
    source: ExtractFrom
    expr: str  # the JSONPath, header name, pattern or cookie name

    @property
    def text(self) -> str:
        return f"{self.source.value}:{self.expr}"


@dataclass(frozen=True)
class Expect:
    """What a response must be for its request to count as a success (empty: any status below 400)."""

    status: tuple[int, ...] = ()  # empty: any status below 400
    contains: tuple[str, ...] = ()  # the body contains each
    not_contains: tuple[str, ...] = ()  # the body contains none
    json: tuple[tuple[str, Any], ...] = ()  # JSONPath -> value, or the words "non-empty" / "exists"
    max_latency: float | None = None  # seconds

    @property
    def needs_body(self) -> bool:
        return bool(self.contains or self.not_contains or self.json)

    @property
    def given(self) -> bool:
        return bool(self.status or self.needs_body or self.max_latency is not None)


@dataclass(frozen=True)
class Request:
    name: str
    method: str
    path: str
    weight: float = 1.0
    headers: tuple[tuple[str, str], ...] = ()
    json: Any = None
    data: str | None = None
    expect: Expect = Expect()
    timeout: float | None = None  # seconds; None: the user's, else the scenario's
    group: str | None = None  # a named set of requests that checks, summaries and reports can target
    extract: tuple[Extract, ...] = ()  # flow steps: values read from the response for the later steps


@dataclass(frozen=True)
class Think:
    """A pause between flow steps, as a person reads a page: drawn from ``wait`` each time."""

    wait: Wait


@dataclass(frozen=True)
class Repeat:
    """``repeat: N, steps: [...]``: the steps, in order, N times in a row."""

    count: int
    steps: tuple[Step, ...]


Step = Request | Think | Repeat


def flow_requests(steps: tuple[Step, ...]) -> Iterator[Request]:
    """Every request of a flow, in order, each once (a repeated block's requests appear once)."""
    for step in steps:
        if isinstance(step, Request):
            yield step
        elif isinstance(step, Repeat):
            yield from flow_requests(step.steps)


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
    timeout: float | None = None  # seconds; None: the scenario's
    flow: tuple[Step, ...] = ()  # steps in order, once per iteration (then ``requests`` is empty)

    @property
    def all_requests(self) -> tuple[Request, ...]:
        """The requests this user can send: its random-pick ``requests`` or its flow's."""
        return self.requests + tuple(flow_requests(self.flow))


@dataclass(frozen=True)
class LocustUserRef:
    """An existing Locust ``User`` class, run unchanged."""

    file: str
    class_name: str
    weight: int | None = None
    timeout: float | None = None  # seconds; None: the scenario's
    options: tuple[tuple[str, Any], ...] = ()  # the locustfile's own command-line options (parsed_options)


@dataclass(frozen=True)
class ShapeRef:
    """A ``LoadTestShape`` class of a locustfile, driving the load instead of ``stages``."""

    file: str
    class_name: str


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
    kind: str = "stages"  # stages | spike | step | soak | arrival | replay | shape
    shape: ShapeRef | None = None  # kind "shape": the locustfile's LoadTestShape; stages then hold its time limit

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
    timeout: float = DEFAULT_TIMEOUT_S  # seconds, for every request that sets none itself
    secrets: tuple[str, ...] = field(default=(), repr=False)  # values read from the environment: masked in outputs

    @property
    def endpoint_names(self) -> frozenset[str]:
        return frozenset(r.name for u in self.users if isinstance(u, YamlUser) for r in u.all_requests)

    @property
    def groups(self) -> dict[str, str]:
        """Request name → group, for the requests that belong to one."""
        return {r.name: r.group for u in self.users if isinstance(u, YamlUser) for r in u.all_requests if r.group}

    @property
    def has_locust_users(self) -> bool:
        return any(isinstance(u, LocustUserRef) for u in self.users)
