"""The features of Locust's ``@tag`` (``examples/`` use it in ``rest.py``-style files): tasks tagged, picked with
``--tags`` and ``--exclude-tags``."""

from locust import HttpUser, SequentialTaskSet, constant_pacing, tag, task


class Journey(SequentialTaskSet):
    @tag("browse")
    @task
    def home(self) -> None:
        self.client.get("/")

    @tag("browse", "catalogue")
    @task
    def items(self) -> None:
        self.client.get("/items")

    @tag("checkout")
    @task
    def confirm(self) -> None:
        self.client.post("/checkout/confirm", json={"foo": "bar"})

    @task
    def about(self) -> None:  # untagged: only runs without --tags
        self.client.get("/about")


class Tagged(HttpUser):
    wait_time = constant_pacing(0.3)
    tasks = [Journey]
