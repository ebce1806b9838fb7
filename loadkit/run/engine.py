"""The Locust side of a run: the user classes, the ``Environment``, and how the load is generated.

Locustfiles run as ``locust -f FILE`` runs them: on Locust's global ``locust.events`` (so their
``@events.init``, ``test_start``, ``request`` and ``spawning_complete`` hooks fire), with
``environment.parsed_options`` parsed by Locust's own parser (their custom arguments included,
set from the scenario's ``options:``), and with their ``LoadTestShape`` when the scenario asks
for it. The listeners a run adds to the global events are removed when it ends, so runs in one
process do not see each other.

A mode is a class: :class:`LocalEngine` generates the load in this process; the distributed
engine (:class:`loadkit.run.workers.MasterEngine`) drives Locust workers. Both hand the rows they
capture to one callback.
"""

from __future__ import annotations

# isort: off
import locust  # noqa: F401  (imported first: Locust applies gevent's monkey patching)
# isort: on

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import gevent
import pyarrow as pa
from locust.env import Environment

from ..redact import Redactor
from ..scenario.locustfile import import_locust_class, locust_options
from ..scenario.model import LocustUserRef, Scenario
from .capture import SampleBuffer, attach_recorder
from .exceptions import ExceptionLog
from .guard import Guard
from .health import HealthMonitor
from .openmodel import Schedule
from .shapes import StagesShape
from .users import Share, build_open_user, build_user_classes, open_mix

__all__ = ["Engine", "LocalEngine", "build_environment", "listener_scope", "fire_init", "SPAWN_TIMEOUT_S"]

SPAWN_TIMEOUT_S = 60.0
#: When the load stops, requests in flight get this long (at most their timeout) to be answered; those still
#: waiting then are failures "in flight at end of run". A healthy target answers them all.
END_GRACE_S = 10.0


@contextlib.contextmanager
def listener_scope(events: Any) -> Iterator[None]:
    """Listeners added to ``events`` inside the block (by the runner, by init hooks) are removed after it."""
    saved = {name: list(hook._handlers) for name, hook in vars(events).items() if hasattr(hook, "_handlers")}
    try:
        yield
    finally:
        for name, handlers in saved.items():
            getattr(events, name)._handlers = handlers


def _shape(scenario: Scenario) -> Any:
    load = scenario.load
    if load.shape is not None:
        return import_locust_class(load.shape.file, load.shape.class_name)()
    if load.open is not None:  # the user pool: spawned at once, held until the schedule is done
        stage = load.stages[0]
        return StagesShape((type(stage)(stage.duration + SPAWN_TIMEOUT_S, stage.users, max(stage.users, 1) * 20.0),))
    return StagesShape(load.stages)


def build_environment(scenario: Scenario, seed: int | None = 0, schedule: Schedule | None = None,
                      share: Share | None = None) -> tuple[Environment, Schedule | None]:
    """Locust's ``Environment`` for ``scenario`` on the global events: its users (or the open-model user),
    its shape, Locust's parsed options; and the open-model schedule of this process."""
    share = share or Share()
    if scenario.load.open is not None:
        schedule = schedule or Schedule(scenario.load.open, share.index, share.count, seed, open_mix(scenario))
        classes = [build_open_user(scenario, schedule, share)]
    else:
        classes = build_user_classes(scenario, share)
    options = {k: v for u in scenario.users if isinstance(u, LocustUserRef) for k, v in u.options}
    file = next((u.file for u in scenario.users if isinstance(u, LocustUserRef)), scenario.file)
    env = Environment(user_classes=classes, host=scenario.target.host, shape_class=_shape(scenario),
                      catch_exceptions=True, events=locust.events,
                      parsed_options=locust_options(scenario.target.host, options), locustfile=file)
    env.stop_timeout = min(scenario.timeout, END_GRACE_S)  # users finish the task in hand, start no new one
    return env, schedule


def fire_init(env: Environment) -> None:
    """Locust's ``init`` event, as ``locust`` fires it once the runner exists."""
    env.events.init.fire(environment=env, runner=env.runner, web_ui=None)


class Engine(Protocol):
    """What the runner needs of a way to generate load."""

    env: Environment
    runner: Any

    def prepare(self) -> str:
        """Get ready to start (workers connected); the reason it cannot, or ""."""
        ...

    def start(self) -> float:
        """Start the load; the time it started (an open model: when its schedule began)."""
        ...

    def pull(self) -> None:
        """Hand the rows captured since the last call to the callback (once a second)."""
        ...

    def stop(self) -> str:
        """Stop the load and hand over the last rows; the reason rows are missing, or ""."""
        ...

    def close(self) -> None:
        """Release processes, sockets and listeners; safe to call twice."""
        ...

    def trouble(self) -> str:
        """Why the load cannot go on as planned (a worker lost), or ""; asked once a second."""
        ...

    def members(self) -> list[dict]:
        """The workers that joined (for the manifest: which machines made the load)."""
        ...

    def inflight_ages(self, now: float, endpoint: str | None = None) -> Any:
        ...


class LocalEngine:
    """The load generated by this process: a Locust ``LocalRunner``, a row buffer, a health monitor."""

    def __init__(self, scenario: Scenario, on_batch: Callable[[pa.RecordBatch], None], guard: Guard, seed: int,
                 redactor: Redactor, on_health: Callable[[tuple], None] | None = None,
                 clock: Callable[[], float] = time.time):
        self.scenario, self.on_batch, self.guard, self.clock = scenario, on_batch, guard, clock
        self._scope = listener_scope(locust.events)
        self._scope.__enter__()
        try:
            self.env, self.schedule = build_environment(scenario, seed=seed)
            self.runner = self.env.create_local_runner()
            self.buffer = SampleBuffer(redactor=redactor)
            attach_recorder(self.env.events, self.buffer)
            self.exceptions = ExceptionLog(redactor)
            self.exceptions.attach(self.env.events)
            self.health = HealthMonitor("local", lambda: self.runner.user_count, lambda: len(guard.inflight),
                                        on_health, clock)
            fire_init(self.env)
        except BaseException:
            self._scope.__exit__(None, None, None)
            raise
        self._closed = False

    def prepare(self) -> str:
        return ""

    def start(self) -> float:
        spawned = gevent.event.Event()
        self.env.events.spawning_complete.add_listener(lambda **_: spawned.set())
        self.health.start()
        self.runner.start_shape()
        if self.schedule is None:
            return self.clock()
        spawned.wait(SPAWN_TIMEOUT_S)  # every user ready before the first scheduled start
        started = self.clock()
        self.schedule.begin(started)
        return started

    def pull(self) -> None:
        self.on_batch(self.buffer.take())

    def inflight_ages(self, now: float, endpoint: str | None = None) -> Any:
        return self.guard.inflight.ages(now, endpoint)

    def stop(self) -> str:
        self.runner.stop()
        self.runner.quit()
        self.pull()
        return ""

    def members(self) -> list[dict]:
        return []

    def trouble(self) -> str:
        return ""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.health.stop()
        self.runner.quit()  # idempotent; on an error path it stops users that would otherwise run on
        self._scope.__exit__(None, None, None)
