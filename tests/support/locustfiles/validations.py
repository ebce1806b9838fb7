"""The features of Locust's ``examples/response_validations.py``: ``FastHttpUser.rest()`` with ``resp.js``
and ``resp.failure()``, and a ``request`` listener added in ``init`` that raises ``RescheduleTask`` on a
failed request, so the rest of the task is skipped."""

from locust import FastHttpUser, constant_pacing, events, task
from locust.exception import RescheduleTask


@events.init.add_listener
def _init(environment, **_) -> None:
    @events.request.add_listener
    def _stop_task_on_failure(exception, **_) -> None:
        if exception:
            raise RescheduleTask()


class Checkout(FastHttpUser):
    wait_time = constant_pacing(0.3)

    @task
    def buy(self) -> None:
        with self.rest("POST", "/authenticate", json={"username": "foo", "password": "bar"}) as resp:
            if resp.js.get("message") != "Welcome foo!":
                resp.failure(f"wrong welcome message: {resp.js.get('message')}")
        with self.rest("POST", "/checkout/confirm", json={"foo": "bar"}) as resp:
            if resp.js.get("orderId") != 42:
                resp.failure("orderId missing")
        self.client.get("/status/503", name="flaky")  # fails: the listener skips the rest of the task
        self.client.get("/", name="never reached")
