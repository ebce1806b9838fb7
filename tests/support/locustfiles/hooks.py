"""The features of Locust's ``examples/events.py``, ``add_command_line_argument.py`` and
``test_data_management.py``: listeners on the global ``locust.events`` (``init``, ``test_start``,
``spawning_complete``, ``request``, ``test_stopping``, ``test_stop``, ``quitting``, ``quit``) and
custom command-line arguments added in ``init_command_line_parser``, read from
``environment.parsed_options``.

Every hook appends one JSON line to the file given by ``--marker-file``, so a test can see which
fired, in which order, and what they saw.
"""

import json

from locust import HttpUser, constant_pacing, events, task

_seen = {"requests": 0, "bytes": 0}


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--marker-file", default="", help="where the hooks write what they saw")
    parser.add_argument("--greeting", default="hello", help="a custom string option")
    parser.add_argument("--pace", type=float, default=0.3, help="seconds between a user's tasks")


def _mark(environment, event: str, **values) -> None:
    path = environment.parsed_options.marker_file if environment.parsed_options else ""
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": event, **values}) + "\n")


@events.init.add_listener
def _init(environment, runner, **_) -> None:
    opts = environment.parsed_options
    _seen.update(requests=0, bytes=0, env=environment)
    _mark(environment, "init", greeting=opts.greeting, pace=opts.pace, host=opts.host,
          runner=type(runner).__name__, stop_timeout=environment.stop_timeout)


@events.test_start.add_listener
def _test_start(environment, **_) -> None:
    _mark(environment, "test_start")


@events.spawning_complete.add_listener
def _spawned(user_count, **_) -> None:
    _mark(_seen["env"], "spawning_complete", user_count=user_count)


@events.request.add_listener
def _request(response_length, exception, **_) -> None:
    _seen["requests"] += 1
    _seen["bytes"] += response_length or 0


@events.test_stopping.add_listener
def _test_stopping(environment, **_) -> None:
    _mark(environment, "test_stopping")


@events.test_stop.add_listener
def _test_stop(environment, **_) -> None:
    _mark(environment, "test_stop", requests=_seen["requests"], bytes=_seen["bytes"],
          locust_requests=environment.stats.total.num_requests)


@events.quitting.add_listener
def _quitting(environment, **_) -> None:
    _mark(environment, "quitting")


@events.quit.add_listener
def _quit(exit_code, **_) -> None:
    _mark(_seen["env"], "quit", exit_code=exit_code)


class Hooked(HttpUser):
    def wait_time(self) -> float:
        return constant_pacing(self.environment.parsed_options.pace)(self)

    @task
    def index(self) -> None:
        self.client.get("/")
