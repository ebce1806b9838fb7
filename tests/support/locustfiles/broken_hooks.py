"""Hooks that go wrong, chosen with ``--fail-in``: an exception in ``init`` (``locust`` exits 1 at once), an
exception in ``test_start`` (``locust`` runs, then exits 2), or a ``quitting`` hook that sets
``environment.process_exit_code = 1``, the pass/fail rule of Locust's docs ("fail if the failure
ratio is above 1 %", here always)."""

from locust import HttpUser, constant_pacing, events, task


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--fail-in", default="", help="init, test_start or quitting")


@events.init.add_listener
def _init(environment, **_) -> None:
    if environment.parsed_options.fail_in == "init":
        raise RuntimeError("no test data for this run")


@events.test_start.add_listener
def _test_start(environment, **_) -> None:
    if environment.parsed_options.fail_in == "test_start":
        raise RuntimeError("test data service down")


@events.quitting.add_listener
def _quitting(environment, **_) -> None:
    if environment.parsed_options.fail_in == "quitting":
        environment.process_exit_code = 1


class Fragile(HttpUser):
    wait_time = constant_pacing(0.3)

    @task
    def index(self) -> None:
        self.client.get("/")
