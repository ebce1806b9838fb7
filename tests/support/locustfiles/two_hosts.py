"""The features of Locust's ``examples/multiple_hosts.py``: a second ``HttpSession`` to another host,
made in the user's ``__init__`` and reporting to the same request event, its base URL read from a
custom option (the example reads an environment variable)."""

from locust import HttpUser, TaskSet, constant_pacing, events, task
from locust.clients import HttpSession


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--api-host", default="", help="base URL of the second host")


class Pages(TaskSet):
    @task
    def both(self) -> None:
        self.user.client.get("/")
        self.user.api_client.get("/stats/requests")


class TwoHostUser(HttpUser):
    wait_time = constant_pacing(0.3)
    tasks = [Pages]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.api_client = HttpSession(base_url=self.environment.parsed_options.api_host,
                                      request_event=self.client.request_event, user=self)
