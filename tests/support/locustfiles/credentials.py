"""The features of Locust's ``examples/dynamic_user_credentials.py``: credentials taken from a module-level
list in ``on_start`` (each user pops its own), a form POST to log in, then a protected page."""

from locust import HttpUser, TaskSet, constant_pacing, task

CREDENTIALS = [(f"user{i}", "secret") for i in range(10)]


class LoggedIn(TaskSet):
    def on_start(self) -> None:
        if CREDENTIALS:
            name, password = CREDENTIALS.pop()
            self.client.post("/login", {"username": name, "password": password})

    @task
    def protected(self) -> None:
        self.client.get("/protected/resource")


class Member(HttpUser):
    wait_time = constant_pacing(0.3)
    tasks = [LoggedIn]
