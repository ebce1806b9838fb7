"""Turning scenario users into Locust ``User`` classes.

YAML users become ``FastHttpUser`` subclasses (Locust's fastest HTTP client); ``locust:``
entries are imported and run unchanged, only their weight may be set through a subclass.
"""

from __future__ import annotations

import base64
import itertools
import random
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import gevent
from locust import FastHttpUser, User, between, constant, constant_pacing, task

from ..scenario.locustfile import import_locust_class
from ..scenario.model import Auth, LocustUserRef, Repeat, Request, Scenario, Step, Think, Var, Wait, YamlUser
from .openmodel import Schedule
from .responses import Body, Judge

__all__ = ["build_user_classes", "build_open_user", "open_mix", "user_timeouts", "Share"]

_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)(?:\.([\w-]+))?\}(?!\})")
_TOKEN = re.compile(r"\{\{|\}\}|(?<!\{)\{([A-Za-z_]\w*)(?:\.([\w-]+))?\}(?!\})")
Values = dict[str, Any]


def build_user_classes(scenario: Scenario, share: Share | None = None) -> list[type[User]]:
    """Locust classes for every user of the scenario, in order, with their weights.

    ``share`` (index, count) separates the random streams of processes, so seeded workers do not
    all draw the same values, and gives each worker its own slice of every CSV data file, so unique
    data (logins) stays unique across workers.
    """
    share = share or Share()
    classes: list[type[User]] = []
    for index, spec in enumerate(scenario.users):
        if isinstance(spec, LocustUserRef):
            classes.append(_locust_class(spec))
        else:
            classes.append(_yaml_class(spec, scenario, index, share))
    return classes


def user_timeouts(scenario: Scenario, classes: list[type[User]]) -> dict[type, float]:
    """The timeout each user class set for its requests (the scenario's applies to the others)."""
    out: dict[type, float] = {}
    for spec, cls in zip(scenario.users, classes, strict=False):
        if spec.timeout is not None:
            out[cls] = spec.timeout
    return out


def _locust_class(ref: LocustUserRef) -> type[User]:
    cls = import_locust_class(ref.file, ref.class_name)
    if ref.weight is None:
        return cls
    # Same name, so master and workers agree on it; behaviour untouched.
    return type(cls.__name__, (cls,), {"weight": ref.weight, "__module__": cls.__module__})


def _wait_time(wait: Wait) -> Callable[..., float]:
    if wait.kind == "between":
        return between(wait.low, wait.high)
    if wait.kind == "pacing":
        return constant_pacing(wait.low)
    return constant(wait.low)


def _auth_header(auth: Auth | None) -> tuple[tuple[str, str], ...]:
    if auth is None:
        return ()
    if auth.kind == "bearer":
        return (("Authorization", f"Bearer {auth.secret}"),)
    token = base64.b64encode(f"{auth.username}:{auth.secret}".encode()).decode()
    return (("Authorization", f"Basic {token}"),)


class Share:
    """This process's place among the load generators of a run: (index, count).

    A worker learns it from its master once connected (before any user starts), so the CSV rows and
    the open-model starts it takes are its own: unique data stays unique across workers.
    """

    def __init__(self, index: int = 0, count: int = 1):
        self.index, self.count = index, count

    def set(self, index: int, count: int) -> None:
        self.index, self.count = index, count

    def rows(self, var: Var) -> tuple:
        rows = var.values[self.index::self.count] if self.count > 1 else var.values
        if not rows:
            from ..errors import RunError

            raise RunError(f"variable {var.name}: its data file has {len(var.values)} rows for {self.count} "
                           "generators; every one needs at least one")
        return rows


class _Vars:
    """Draws a fresh value for every variable a request uses, from the user's own RNG.

    CSV rows are this process's share: rows ``index, index + count, …`` of the file (read when the
    first value is drawn, by which time a worker knows its share).
    """

    def __init__(self, variables: tuple[Var, ...], share: Share):
        self.share = share
        self.variables = {v.name: v for v in variables}
        self.counters = {v.name: itertools.count() for v in variables if v.order == "sequential"}
        self._rows: dict[str, tuple] = {}

    def _csv(self, var: Var) -> tuple:
        rows = self._rows.get(var.name)
        if rows is None:
            rows = self._rows[var.name] = self.share.rows(var)
        return rows

    def draw(self, rng: random.Random, names: frozenset[str]) -> Values:
        out: Values = {}
        for name in names:
            var = self.variables[name]
            if var.kind == "choice":
                out[name] = rng.choice(var.values)
            elif var.kind == "randint":
                out[name] = rng.randint(var.values[0], var.values[1])
            elif var.kind == "uuid":
                out[name] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            elif name in self.counters:
                rows = self._csv(var)
                out[name] = rows[next(self.counters[name]) % len(rows)]
            else:
                out[name] = rng.choice(self._csv(var))
        return out


def _template(value: Any) -> Callable[[Values], Any]:
    """``value`` compiled once into a function of the values: placeholders replaced, ``{{``/``}}`` unescaped.

    A string that is one placeholder keeps the value's type ({"id": "{ticket_id}"} sends a number);
    a drawn value containing braces is inserted as it is, never unescaped.
    """
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            name, col = whole.group(1), whole.group(2)
            return (lambda v: v[name][col]) if col else (lambda v: v[name])
        parts: list[Any] = []
        pos = 0
        for m in _TOKEN.finditer(value):
            parts.append(value[pos:m.start()])
            parts.append(m.group(0)[0] if m.group(1) is None else (m.group(1), m.group(2)))
            pos = m.end()
        parts.append(value[pos:])
        if all(isinstance(p, str) for p in parts):
            const = "".join(parts)
            return lambda v: const
        return lambda v: "".join(p if isinstance(p, str) else str(v[p[0]][p[1]] if p[1] else v[p[0]]) for p in parts)
    if isinstance(value, dict):
        items = [(_template(k), _template(x)) for k, x in value.items()]
        return lambda v: {k(v): x(v) for k, x in items}
    if isinstance(value, list):
        elements = [_template(x) for x in value]
        return lambda v: [e(v) for e in elements]
    return lambda v: value


def _strings_of(value: Any) -> list[str]:
    found: list[str] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            found.append(v)
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
    return found


def _names_in(value: Any) -> frozenset[str]:
    return frozenset(m.group(1) for text in _strings_of(value) for m in _PLACEHOLDER.finditer(text))


class _Prepared:
    """A request with its headers merged and its placeholders found once, up front."""

    def __init__(self, req: Request, base_headers: tuple[tuple[str, str], ...]):
        self.req = req
        self.headers = dict(base_headers + req.headers)
        self.uses = _names_in([req.path, self.headers, req.json, req.data])
        # templates are rendered when they use a variable or escape a brace ({{ or }}), each compiled once
        self.path = self._compiled(req.path)
        self.rendered_headers = self._headers(self._compiled(self.headers)) if self.headers else None
        self.json = self._compiled(req.json) if req.json is not None else None
        self.data = self._compiled(req.data) if req.data is not None else None

        self.judge = Judge(req.expect, req.extract) if req.expect.given or req.extract else None
        # nothing to render, merge or judge: the request is sent as written (a closed load's common case)
        self.plain = (not self.uses and self.judge is None and not self.headers and req.json is None
                      and req.data is None and req.timeout is None and "{" not in req.path and "}" not in req.path)

    @staticmethod
    def _compiled(value: Any) -> Callable[[Values], Any]:
        """The value itself when it has nothing to render (no placeholder, no escaped brace), else its template."""
        if not any("{" in t or "}" in t for t in _strings_of(value)):
            return lambda v: value
        return _template(value)

    @staticmethod
    def _headers(render: Callable[[Values], Any]) -> Callable[[Values], dict[str, str]]:
        """Header values are text even when a value is a number (an id extracted from JSON)."""
        return lambda v: {str(k): str(x) for k, x in render(v).items()}

    def issue(self, user: FastHttpUser, rng: random.Random, variables: _Vars, intended: float | None = None) -> None:
        self.send(user, variables.draw(rng, self.uses) if self.uses else {}, intended)

    def send(self, user: FastHttpUser, values: Values, intended: float | None = None) -> bool:
        """Send the request with ``values``, judge the response; add what it extracts to ``values``.

        False when the iteration of a flow must end: this request should have yielded values and did not.
        """
        r = self.req
        if self.plain and intended is None:
            user.client.request(r.method, r.path, name=r.name)
            return True
        path = str(self.path(values))
        kwargs: dict[str, Any] = {"name": r.name}
        if r.timeout is not None:
            kwargs["timeout"] = r.timeout
        if intended is not None:
            kwargs["context"] = {"intended": intended}
        if self.rendered_headers is not None:
            kwargs["headers"] = self.rendered_headers(values)
        if self.json is not None:
            kwargs["json"] = self.json(values)
        if self.data is not None:
            kwargs["data"] = str(self.data(values))
        judge = self.judge
        if judge is None:
            user.client.request(r.method, path, **kwargs)
            return True
        with user.client.request(r.method, path, catch_response=True, **kwargs) as resp:
            if not resp.status_code and resp.request_meta.get("exception") is not None:
                return not r.extract  # no response (refused, timed out): Locust records its own reason
            body = Body(lambda: resp.text)
            reason = judge.failure(resp.status_code, resp.headers, body, resp.request_meta["response_time"] / 1000.0)
            if reason is None and r.extract:
                got, reason = judge.values(resp.headers, body)
                values.update(got)
            if reason is not None:
                resp.failure(reason)
                return not r.extract
            resp.success()
            return True


class _Flow:
    """A user's flow, prepared once: requests with their judges, think times, repeated blocks."""

    def __init__(self, steps: tuple[Step, ...], base_headers: tuple[tuple[str, str], ...], variables: _Vars):
        self.steps = [self._prepare(s, base_headers) for s in steps]
        self.draws = frozenset(n for p in self._requests(self.steps) for n in p.uses) & variables.variables.keys()

    def _prepare(self, step: Step, base_headers: tuple[tuple[str, str], ...]) -> Any:
        if isinstance(step, Request):
            return _Prepared(step, base_headers)
        if isinstance(step, Repeat):
            return step.count, [self._prepare(s, base_headers) for s in step.steps]
        return step

    def _requests(self, steps: list) -> list[_Prepared]:
        out: list[_Prepared] = []
        for s in steps:
            if isinstance(s, _Prepared):
                out.append(s)
            elif isinstance(s, tuple):
                out.extend(self._requests(s[1]))
        return out

    def run(self, user: FastHttpUser, rng: random.Random, values: Values, steps: list | None = None) -> bool:
        """One iteration: every step in order; False as soon as a step that should yield values did not."""
        for step in self.steps if steps is None else steps:
            if isinstance(step, _Prepared):
                if not step.send(user, values):
                    return False
            elif isinstance(step, Think):
                w = step.wait
                gevent.sleep(rng.uniform(w.low, w.high) if w.kind == "between" else w.low)
            else:
                count, inner = step
                for _ in range(count):
                    if not self.run(user, rng, values, inner):
                        return False
        return True


def open_mix(scenario: Scenario) -> list[tuple[str, float]]:
    """The request weights of an open-model load without a mix of its own: users' weights × requests' weights."""
    out: dict[str, float] = {}
    for spec in scenario.users:
        if isinstance(spec, YamlUser):
            total = sum(r.weight for r in spec.requests) or 1.0
            for r in spec.requests:
                out[r.name] = out.get(r.name, 0.0) + spec.weight * r.weight / total
    return list(out.items())


def build_open_user(scenario: Scenario, schedule: Schedule, share: Share | None = None) -> type[FastHttpUser]:
    """One user class for an open-model load: each user takes the next scheduled start and the request
    the schedule assigned to it, waits for its time, and issues it. The number of users is the
    concurrency cap."""
    assert scenario.load.open is not None
    share = share or Share()
    target = scenario.target
    entries: dict[str, tuple[_Prepared, _Vars]] = {}
    for spec in scenario.users:
        if not isinstance(spec, YamlUser):
            continue
        base_headers = target.headers + spec.headers + _auth_header(spec.auth or target.auth)
        variables = _Vars(spec.vars, share)
        for r in spec.requests:
            entries.setdefault(r.name, (_Prepared(r, base_headers), variables))
    seeds = itertools.count()

    def on_start(self: FastHttpUser) -> None:
        seed = None if scenario.seed is None else (scenario.seed, share.index, share.count, -1, next(seeds))
        self._lk_rng = random.Random(None if seed is None else hash(seed))

    @task
    def next_arrival(self: FastHttpUser) -> None:
        if not schedule.ready:  # users are spawned before the schedule begins
            gevent.sleep(0.005)
            return
        item = schedule.next()
        if item is None:  # the schedule is done: idle until the run ends
            gevent.sleep(0.5)
            return
        t, name = item
        delay = t - time.time()
        if delay > 0:
            gevent.sleep(delay)
        prepared, variables = entries[name]
        prepared.issue(self, self._lk_rng, variables, intended=t)

    return type("OpenModelUser", (FastHttpUser,), {
        "host": target.host, "weight": 1, "wait_time": constant(0), "tasks": [next_arrival],
        "on_start": on_start, "__module__": __name__,
    })


def _yaml_class(spec: YamlUser, scenario: Scenario, index: int, share: Share) -> type[FastHttpUser]:
    target = scenario.target
    base_headers = target.headers + spec.headers + _auth_header(spec.auth or target.auth)
    variables = _Vars(spec.vars, share)
    prepared = [_Prepared(r, base_headers) for r in spec.requests]
    weights = list(itertools.accumulate(r.weight for r in spec.requests))
    seeds = itertools.count()

    def on_start(self: FastHttpUser) -> None:
        seed = None if scenario.seed is None else (scenario.seed, share.index, share.count, index, next(seeds))
        self._lk_rng = random.Random(None if seed is None else hash(seed))

    only = prepared[0] if len(prepared) == 1 else None
    flow = _Flow(spec.flow, base_headers, variables) if spec.flow else None

    @task
    def pick(self: FastHttpUser) -> None:
        rng: random.Random = self._lk_rng
        if flow is not None:  # the values of an iteration: its variables drawn once, then what its steps extract
            flow.run(self, rng, variables.draw(rng, flow.draws) if flow.draws else {})
            return
        choice = only or rng.choices(prepared, cum_weights=weights)[0]
        choice.issue(self, rng, variables)

    return type(spec.name, (FastHttpUser,), {
        "host": target.host,
        "weight": spec.weight,
        "wait_time": _wait_time(spec.wait),
        "tasks": [pick],
        "on_start": on_start,
        "__module__": __name__,
    })
