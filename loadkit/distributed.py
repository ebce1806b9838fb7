"""Master/worker sample transport over Locust's own message channel.

Workers ship their buffered rows every second (``loadkit_samples``) and, when their test
stops, the number of rows they sent (``loadkit_done``). The master writes what arrives and
can prove completeness by comparing counts. Nothing here assumes the workers share a host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent

from .capture import SampleBuffer

__all__ = ["WorkerShipper", "MasterReceiver"]

SAMPLES, DONE = "loadkit_samples", "loadkit_done"


class WorkerShipper:
    """On a worker: record requests and ship them to the master."""

    def __init__(self, environment: Any, interval: float = 1.0):
        self.env = environment
        self.buffer = SampleBuffer(worker=environment.runner.client_id)
        self.sent = 0
        environment.events.request.add_listener(self.buffer.on_request)
        environment.events.test_start.add_listener(self._on_start)
        environment.events.test_stop.add_listener(self._on_stop)
        self._loop = gevent.spawn(self._ship_forever, interval)

    def _on_start(self, **_: Any) -> None:
        self.sent = 0

    def _ship(self) -> None:
        if len(self.buffer):
            cols = self.buffer.take()
            self.sent += len(cols["ts"])
            self.env.runner.send_message(SAMPLES, cols)

    def _ship_forever(self, interval: float) -> None:
        while True:
            gevent.sleep(interval)
            self._ship()

    def _on_stop(self, **_: Any) -> None:
        self._ship()
        self.env.runner.send_message(DONE, {"sent": self.sent})


class MasterReceiver:
    """On the master: write the rows workers ship and account for them per worker."""

    def __init__(self, environment: Any, on_rows: Callable[[dict[str, list[Any]]], None]):
        self.on_rows = on_rows
        self.received: dict[str, int] = {}
        self.done: dict[str, int] = {}
        environment.runner.register_message(SAMPLES, self._on_samples)
        environment.runner.register_message(DONE, self._on_done)

    def _on_samples(self, environment: Any, msg: Any, **_: Any) -> None:
        self.received[msg.node_id] = self.received.get(msg.node_id, 0) + len(msg.data["ts"])
        self.on_rows(msg.data)

    def _on_done(self, environment: Any, msg: Any, **_: Any) -> None:
        self.done[msg.node_id] = int(msg.data["sent"])

    def missing(self) -> dict[str, int]:
        """Rows each worker said it sent but that did not arrive (empty when complete)."""
        return {w: n - self.received.get(w, 0) for w, n in self.done.items() if n != self.received.get(w, 0)}
