"""The features of Locust's "Testing other systems" (``examples/custom_xmlrpc_client``, the gRPC and
database examples): a plain ``User`` with its own client that is not HTTP, timing each call and firing
``environment.events.request`` with its own ``request_type``.

The client speaks a line protocol over a raw TCP socket (gevent's, as Locust patches it): it sends
one HTTP/1.0 request line and reads to the end, so the counting server sees each call.
"""

import socket
import time
from urllib.parse import urlsplit

from locust import User, constant_pacing, task


class LineClient:
    """A non-HTTP client: opens a socket per call and reports it as ``request_type``."""

    def __init__(self, host: str, request_event, request_type: str):
        parts = urlsplit(host)
        self.address = (parts.hostname, parts.port or 80)
        self.request_event, self.request_type = request_event, request_type

    def call(self, name: str, path: str) -> None:
        start, size, error = time.time(), 0, None
        try:
            with socket.create_connection(self.address, timeout=5) as conn:
                conn.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
                while chunk := conn.recv(65536):
                    size += len(chunk)
        except OSError as exc:
            error = exc
        self.request_event.fire(request_type=self.request_type, name=name, response_time=(time.time() - start) * 1000,
                                response_length=size, exception=error, context={}, start_time=start)


class GrpcLikeUser(User):
    wait_time = constant_pacing(0.3)

    def __init__(self, environment) -> None:
        super().__init__(environment)
        self.client = LineClient(self.host, environment.events.request, "grpc")

    @task
    def say_hello(self) -> None:
        self.client.call("Hello/SayHello", "/items/1")


class DatabaseUser(User):
    wait_time = constant_pacing(0.3)

    def __init__(self, environment) -> None:
        super().__init__(environment)
        self.client = LineClient(self.host, environment.events.request, "db")

    @task
    def select(self) -> None:
        self.client.call("select items", "/items")
