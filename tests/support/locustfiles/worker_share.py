"""A locustfile that splits its own data between Locust workers by ``environment.runner.worker_index``
(Locust's own way), logging in with the share of the worker it runs on."""

import itertools

from locust import HttpUser, constant_pacing, task

_numbers = itertools.count()


class ShareUser(HttpUser):
    wait_time = constant_pacing(0.1)

    @task
    def login(self) -> None:
        index = self.environment.runner.worker_index  # the master numbers its workers 0, 1, …
        self.client.post("/login", json={"username": f"locust-{index}-{next(_numbers)}"}, name="locust login")
