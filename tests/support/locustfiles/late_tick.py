"""A paced user whose ticks fall 20 ms after each half second of the load: one lands just after a 2 s
load's planned end, before a poll of the clock would notice the end."""

import gevent
from locust import HttpUser, constant_pacing, task


class LateTick(HttpUser):
    wait_time = constant_pacing(0.5)

    def on_start(self) -> None:
        gevent.sleep(0.02)

    @task
    def index(self) -> None:
        self.client.get("/")


class SlowTask(HttpUser):
    """Its third request (started at 1.42 s, answered after 0.8 s) is in flight when a 2 s load ends."""

    wait_time = constant_pacing(0.7)

    def on_start(self) -> None:
        gevent.sleep(0.02)

    @task
    def slow(self) -> None:
        self.client.get("/slow?ms=800", name="slow")
