"""The features of Locust's ``examples/nested_inline_tasksets.py``: task sets declared inline with ``@task``
on a class, nested two deep, left with ``self.interrupt()``."""

from locust import HttpUser, SequentialTaskSet, TaskSet, constant_pacing, task


class Shopper(HttpUser):
    wait_time = constant_pacing(0.3)

    @task
    class Shop(TaskSet):
        @task
        class Catalogue(SequentialTaskSet):
            @task
            def listing(self) -> None:
                self.client.get("/items")

            @task
            def one(self) -> None:
                self.client.get("/items/3", name="/items/[id]")

            @task
            def done(self) -> None:
                self.interrupt(reschedule=False)
