"""A ``LoadTestShape`` added beside a locustfile under test (``locust -f FILE,fixed_time.py``) so that
``locust --headless`` runs exactly as long as loadkit's stage.

``--run-time`` cannot be used for that: Locust starts its timer on gevent's loop clock, which stands
at the time the loop was created, before the locustfile was imported, so a ``-t 3s`` run loads
for 2 to 2.7 seconds depending on how long start-up took. A shape's time starts with the load.
"""

from locust import LoadTestShape, events


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--shape-users", type=int, default=1, help="users, all started at once")
    parser.add_argument("--shape-seconds", type=float, default=3.0, help="how long they run")


class FixedTime(LoadTestShape):
    def tick(self):
        opts = self.runner.environment.parsed_options
        if self.get_run_time() > opts.shape_seconds - 0.5:  # ticks come once a second: end on the one at T
            return None
        return opts.shape_users, float(max(opts.shape_users, 1))
