"""The features of Locust's ``examples/basic.py``: an ``HttpUser`` whose behaviour is a ``TaskSet`` class
with ``on_start``, tasks declared with ``@task``, requests named by their path.

The tasks run in a fixed order (a ``SequentialTaskSet``) and the user is paced, so two runs of the
same length send the same requests and their counts can be compared one for one.
"""

from locust import HttpUser, SequentialTaskSet, constant_pacing, task


class Browse(SequentialTaskSet):
    def on_start(self) -> None:
        self.client.get("/", name="home")

    @task
    def index(self) -> None:
        self.client.get("/")

    @task
    def about(self) -> None:
        self.client.get("/about")


class Visitor(HttpUser):
    wait_time = constant_pacing(0.3)
    tasks = [Browse]
