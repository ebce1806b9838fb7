"""The features of Locust's ``examples/custom_wait_function.py``: ``wait_time`` written by hand (here a
method that keeps its own pace), tasks given as a list of plain functions, and a 404 that Locust
counts as a failure."""

import time

from locust import HttpUser, SequentialTaskSet


def index(ts: SequentialTaskSet) -> None:
    ts.client.get("/")


def missing(ts: SequentialTaskSet) -> None:
    ts.client.get("/does_not_exist")


class Pages(SequentialTaskSet):
    tasks = [index, missing]  # in turn, so counts do not depend on random draws


class PacedVisitor(HttpUser):
    tasks = [Pages]

    def wait_time(self) -> float:
        """A custom wait: one task every 0.3 s, whatever the task took."""
        now = time.monotonic()
        self._next = max(getattr(self, "_next", now) + 0.3, now)
        return self._next - now
