"""The features of Locust's ``examples/semaphore_wait.py``: a gevent ``Semaphore`` taken when the file is
imported and released by a ``spawning_complete`` listener registered in an ``init`` listener, so no
user sends anything until every user is running."""

from gevent.lock import Semaphore
from locust import HttpUser, TaskSet, constant_pacing, events, task

all_spawned = Semaphore()
all_spawned.acquire()


@events.init.add_listener
def _init(environment, **_) -> None:
    @environment.events.spawning_complete.add_listener
    def _release(**_) -> None:
        all_spawned.release()


class Waiting(TaskSet):
    def on_start(self) -> None:
        all_spawned.wait()

    @task
    def index(self) -> None:
        self.client.get("/")


class BarrierUser(HttpUser):
    wait_time = constant_pacing(0.3)
    tasks = [Waiting]
