"""The features of Locust's ``examples/custom_shape/stages.py``: a ``LoadTestShape`` in the locustfile
whose ``tick()`` returns (users, spawn rate) per stage and ``None`` to end the test.

Two steps: 2 users for the first 2 s, 5 users until 4 s, then the test ends.
"""

from locust import HttpUser, LoadTestShape, constant_pacing, task


class Stepper(HttpUser):
    wait_time = constant_pacing(0.3)

    @task
    def index(self) -> None:
        self.client.get("/")


class TwoSteps(LoadTestShape):
    steps = ((2.0, 2, 50.0), (4.0, 5, 50.0))  # (until, users, spawn rate)

    def tick(self):
        t = self.get_run_time()
        for until, users, rate in self.steps:
            if t < until:
                return users, rate
        return None
