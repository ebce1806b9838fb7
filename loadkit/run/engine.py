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
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import gevent
import pyarrow as pa
from locust.env import Environment
from locust.user.task import LOCUST_STATE_RUNNING, LOCUST_STATE_STOPPING, LOCUST_STATE_WAITING

from ..redact import Redactor
from ..scenario.locustfile import given_stop_timeout, hooks_of, import_locust_class, locust_options
from ..scenario.model import LocustUserRef, Scenario
from .capture import SampleBuffer, attach_recorder
from .exceptions import ExceptionLog
from .guard import Guard
from .health import HealthMonitor, Ours
from .openmodel import Schedule
from .shapes import StagesShape
from .users import Share, build_open_user, build_user_classes, open_mix

__all__ = ["Engine", "LocalEngine", "build_environment", "listener_scope", "fire_init", "fire_quitting", "halt_users",
           "SPAWN_TIMEOUT_S"]

SPAWN_TIMEOUT_S = 60.0
#: When the load stops, requests in flight get this long (at most their timeout) to be answered; those still
#: waiting then are failures "in flight at end of run". A healthy target answers them all.
END_GRACE_S = 10.0


@contextlib.contextmanager
def listener_scope(events: Any, files: list[str] | None = None) -> Iterator[None]:
    """Listeners added to ``events`` inside the block (by the runner, by init hooks) are removed after it.
    With ``files`` (the scenario's locustfiles), those of other locustfiles this process imported are
    left out during the block (:func:`~loadkit.scenario.locustfile.hooks_of`)."""
    saved = {name: list(hook._handlers) for name, hook in vars(events).items() if hasattr(hook, "_handlers")}
    try:
        with hooks_of(files, events):
            yield
    finally:
        for name, handlers in saved.items():
            getattr(events, name)._handlers = handlers


def scenario_locustfiles(scenario: Scenario) -> list[str]:
    """The locustfiles whose hooks a run of ``scenario`` fires: its users' and its load shape's."""
    files = [u.file for u in scenario.users if isinstance(u, LocustUserRef)]
    if scenario.load.shape is not None:
        files.append(scenario.load.shape.file)
    return list(dict.fromkeys(files))


def _halting(shape: Any) -> Any:
    """``shape`` whose ``tick`` halts the users (:func:`halt_users`) when it ends the test by returning None."""
    tick = shape.tick

    def tick_or_halt() -> Any:
        step = tick()
        if step is None and getattr(shape, "runner", None) is not None:
            halt_users(shape.runner)  # before Locust's own stop, which would let waiting users start a task
        return step

    shape.tick = tick_or_halt
    return shape


def _shape(scenario: Scenario) -> Any:
    load = scenario.load
    if load.shape is not None:
        return _halting(import_locust_class(load.shape.file, load.shape.class_name)())
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
                      parsed_options=locust_options(scenario.target.host, options, files=scenario_locustfiles(scenario)),
                      locustfile=file)
    given = given_stop_timeout(options)  # --stop-timeout from the scenario, applied as locust applies it
    env.stop_timeout = min(scenario.timeout, END_GRACE_S) if given is None else given  # users finish the task in hand
    return env, schedule


def halt_users(runner: Any) -> None:
    """End the load now: no user starts another task. A user in a task finishes it (as with
    ``--stop-timeout``), every other one is stopped at once.

    Locust's own graceful stop asks the users one by one, from greenlets it spawns: a user whose
    wait ends first wakes into a new task, so a load stopped at T kept starting requests after T.
    Here every user is marked stopping before anything yields, so none can; new users stop coming too.
    """
    for greenlet in (runner.spawning_greenlet, getattr(runner, "shape_greenlet", None)):
        if greenlet is not None and not greenlet.ready() and greenlet is not gevent.getcurrent():
            greenlet.kill(block=False)
    idle = []
    for greenlet in list(runner.user_greenlets):
        user = greenlet.args[0] if greenlet.args else None
        if user is None:
            continue
        if user._state in (None, LOCUST_STATE_WAITING):  # not started, or between tasks: nothing in hand to finish
            idle.append(greenlet)
        elif user._state != LOCUST_STATE_RUNNING:  # already stopping: it is finishing its task, leave it be
            continue
        user._state = LOCUST_STATE_STOPPING  # a waiting user that wakes first ends instead of starting a task
    for greenlet in idle:
        greenlet.kill(block=False)


class HookErrors(logging.Handler):
    """Exceptions raised in Locust event hooks. Locust catches and logs them, then exits 1 when one was raised
    in ``init`` and 2 when one was raised later; a run here must not pass over them either."""

    PREFIX = "Uncaught exception in event handler"

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if not text.startswith(self.PREFIX):
            return
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        frames = [ln for ln in lines if ln.startswith("File ")]
        where = ""
        if frames:  # File "/path/to/file.py", line 12, in _init
            parts = frames[-1].split('"')
            tail = parts[2].split(",") if len(parts) > 2 else []
            line_no = tail[1].split()[-1] if len(tail) > 1 else "?"
            func = tail[2].split()[-1] if len(tail) > 2 else "?"
            where = f" at {parts[1].rsplit('/', 1)[-1] if len(parts) > 1 else '?'}:{line_no} in {func}"
        self.errors.append(f"{lines[-1] if len(lines) > 1 else text}{where}")

    def __enter__(self) -> HookErrors:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)

    def reason(self, start: int = 0, when: str = "") -> str:
        """The reason the run cannot pass because of the hooks' errors from ``start`` on, or ""."""
        errors = self.errors[start:]
        if not errors:
            return ""
        more = f" ({len(errors)} in all)" if len(errors) > 1 else ""
        return f"an event hook raised {errors[0]}{more}{when}"


def fire_init(env: Environment) -> None:
    """Locust's ``init`` event, as ``locust`` fires it once the runner exists."""
    env.events.init.fire(environment=env, runner=env.runner, web_ui=None)


def fire_quitting(env: Environment) -> str:
    """Locust's ``quitting`` and ``quit`` events, as ``locust`` fires them when a test is over; the reason the
    run cannot pass when a ``quitting`` hook set ``environment.process_exit_code`` (its own verdict), or ""."""
    env.events.quitting.fire(environment=env, reverse=True)
    own = env.process_exit_code
    runner = env.runner
    code = own if own is not None else 1 if runner is not None and (runner.errors or runner.exceptions) else 0
    if runner is not None:
        runner.quit()
    env.events.quit.fire(exit_code=code)
    if own:
        return (f"the locustfile set environment.process_exit_code = {own} (its own pass/fail rule, which "
                "loadkit does not apply as a verdict): write the rule as a check, e.g. \"error_rate < 1%\"")
    return ""


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
        """Stop the load and hand over the last rows; the reason the run is not complete (rows missing, a
        locustfile's own failing exit code), or ""."""
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
                 clock: Callable[[], float] = time.time, targets: Sequence[int] = ()):
        self.scenario, self.on_batch, self.guard, self.clock = scenario, on_batch, guard, clock
        self._scope = listener_scope(locust.events, scenario_locustfiles(scenario))
        self._scope.__enter__()
        self.hook_errors = HookErrors()
        try:
            self.env, self.schedule = build_environment(scenario, seed=seed)
            self.runner = self.env.create_local_runner()
            self.buffer = SampleBuffer(redactor=redactor)
            attach_recorder(self.env.events, self.buffer)
            self.exceptions = ExceptionLog(redactor)
            self.exceptions.attach(self.env.events)
            self.health = HealthMonitor("local", lambda: self.runner.user_count, lambda: len(guard.inflight),
                                        on_health, clock, Ours(os.getpid(), targets))
            self.hook_errors.__enter__()
            fire_init(self.env)
            self._init_problem = self.hook_errors.reason(when=" in init, where locust -f stops with exit code 1")
            self._init_errors = len(self.hook_errors.errors)
        except BaseException:
            self.hook_errors.__exit__(None, None, None)
            self._scope.__exit__(None, None, None)
            raise
        self._closed = False
        self._end: gevent.Greenlet | None = None  # halts the users at the planned end of a closed load

    def prepare(self) -> str:
        return self._init_problem

    def start(self) -> float:
        spawned = gevent.event.Event()
        self.env.events.spawning_complete.add_listener(lambda **_: spawned.set())
        self.health.start()
        self.runner.start_shape()
        if self.schedule is None:
            started = self.clock()
            gevent.get_hub().loop.update_now()  # the timer counts from now, not from the loop's last wake-up
            self._end = gevent.spawn_later(self.scenario.load.duration, halt_users, self.runner)
            return started
        spawned.wait(SPAWN_TIMEOUT_S)  # every user ready before the first scheduled start
        started = self.clock()
        self.schedule.begin(started)
        return started

    def pull(self) -> None:
        self.on_batch(self.buffer.take())

    def inflight_ages(self, now: float, endpoint: str | None = None) -> Any:
        return self.guard.inflight.ages(now, endpoint)

    def stop(self) -> str:
        halt_users(self.runner)
        self.runner.stop()
        own_code = fire_quitting(self.env)  # quits the runner, as locust does between the two events
        self.pull()
        hooks = self.hook_errors.reason(self._init_errors, " during the run, for which locust -f exits with code 2")
        return "; ".join(p for p in (hooks, own_code) if p)

    def members(self) -> list[dict]:
        return []

    def trouble(self) -> str:
        return ""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._end is not None:
            self._end.kill(block=False)
        self.health.stop()
        self.runner.quit()  # idempotent; on an error path it stops users that would otherwise run on
        self.hook_errors.__exit__(None, None, None)
        self._scope.__exit__(None, None, None)
