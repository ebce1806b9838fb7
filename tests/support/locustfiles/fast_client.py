"""The features of Locust's ``examples/fast_http_locust.py``: a ``FastHttpUser`` (geventhttpclient) with
``@task`` methods, a JSON response read with ``.json()`` and a request named with ``name=``."""

from locust import FastHttpUser, constant_pacing, task


class FastVisitor(FastHttpUser):
    wait_time = constant_pacing(0.3)

    @task
    def catalogue(self) -> None:
        self.client.get("/")
        items = self.client.get("/items").json()
        self.client.get(f"/items/{items[0]['id']}", name="/items/[id]")
