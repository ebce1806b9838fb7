"""The features of Locust's ``examples/manual_stats_reporting.py``: a plain ``User`` (no HTTP client) whose
tasks report their own timings by firing ``events.request`` (``request_type="manual"``), through a
context manager and a decorator, successes and failures."""

import time
from contextlib import contextmanager

import gevent
from locust import User, constant_pacing, events, task


@contextmanager
def reported(name: str):
    start = time.time()
    try:
        yield
    except Exception as exc:  # reported as a failure, as the example does
        events.request.fire(request_type="manual", name=name, response_time=(time.time() - start) * 1000,
                            response_length=0, exception=exc)
    else:
        events.request.fire(request_type="manual", name=name, response_time=(time.time() - start) * 1000,
                            response_length=0, exception=None)


def report(fn):
    def wrapper(self) -> None:
        with reported(fn.__name__):
            fn(self)
    wrapper.__name__ = fn.__name__
    return wrapper


class Reporter(User):
    wait_time = constant_pacing(0.3)

    @task
    def steps(self) -> None:
        with reported("successful_step"):
            gevent.sleep(0.01)
        self.failing_step()

    @report
    def failing_step(self) -> None:
        gevent.sleep(0.01)
        raise RuntimeError("this step always fails")
