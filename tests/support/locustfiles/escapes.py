"""Every way a locustfile's users could send a request past ``target.allowed_hosts``: one user class per
way, each trying it once per task beside one allowed request. ``--outside`` is the base URL of a host
outside the allow-list (a listener on 127.0.0.2); every try must be refused before anything is sent.

Each try has its own endpoint name, so a test can find its refusal among the samples.
"""

import socket
import time
import urllib.request
from urllib.parse import urlsplit

import requests
from locust import FastHttpUser, HttpUser, User, constant_pacing, events, task
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--outside", default="", help="base URL of a host outside the allow-list")


def outside(user: User) -> str:
    return user.environment.parsed_options.outside


def spellings(user: User) -> list[tuple[str, str]]:
    """(name, URL) for other spellings of the outside host, and URLs whose userinfo names the allowed one."""
    port = urlsplit(outside(user)).port
    allowed = urlsplit(user.host).netloc
    return [(f"spelling {host}", f"http://{host}:{port}/about") for host in (
        "0x7f000002", "0X7F000002", "2130706434", "127.2", "0177.0.0.2", "127.0.0.2.", "[::ffff:127.0.0.2]",
        "[::ffff:7f00:2]")] + [
        ("userinfo host@outside", f"http://{allowed.split(':')[0]}@127.0.0.2:{port}/about"),
        ("userinfo host:port@outside", f"http://{allowed}@127.0.0.2:{port}/about"),
        ("userinfo backslash", f"http://127.0.0.2:{port}\\@{allowed}/about"),  # parsers disagree on its host
    ]


def fire(user: User, request_type: str, name: str, call) -> None:
    """Run ``call`` and report it as a request (for clients that are not Locust's)."""
    start, error = time.time(), None
    try:
        call()
    except Exception as exc:  # the refusal is what the test looks for
        error = exc
    user.environment.events.request.fire(request_type=request_type, name=name, response_time=(time.time() - start) * 1000,
                                         response_length=0, exception=error, context={}, start_time=start)


class Escaper(HttpUser):
    abstract = True
    wait_time = constant_pacing(0.3)

    @task
    def allowed(self) -> None:
        self.client.get("/", name="allowed")
        self.escape()

    def escape(self) -> None:
        raise NotImplementedError


class AbsoluteHttp(Escaper):
    def escape(self) -> None:
        self.client.get(outside(self) + "/absolute", name="HttpUser absolute URL")


class RedirectHttp(Escaper):
    def escape(self) -> None:
        self.client.get(f"/redirect?to={outside(self)}/redirected", name="HttpUser redirect")


class SecondHttpSession(Escaper):
    def on_start(self) -> None:
        self.other = HttpSession(base_url=outside(self), request_event=self.client.request_event, user=self)

    def escape(self) -> None:
        self.other.get("/second", name="second HttpSession")


class SpellingsHttp(Escaper):
    def escape(self) -> None:
        for name, url in spellings(self):
            self.client.get(url, name=f"HttpUser {name}")


class PlainRequests(Escaper):
    def escape(self) -> None:
        fire(self, "requests", "requests.get", lambda: requests.get(outside(self) + "/plain", timeout=5))


class Urllib(Escaper):
    def escape(self) -> None:
        fire(self, "urllib", "urlopen", lambda: urllib.request.urlopen(outside(self) + "/urllib", timeout=5).read())


class FastEscaper(FastHttpUser):
    abstract = True
    wait_time = constant_pacing(0.3)

    @task
    def allowed(self) -> None:
        self.client.get("/", name="allowed")
        self.escape()

    def escape(self) -> None:
        raise NotImplementedError


class AbsoluteFast(FastEscaper):
    def escape(self) -> None:
        self.client.get(outside(self) + "/absolute", name="FastHttpUser absolute URL")


class RedirectFast(FastEscaper):
    def escape(self) -> None:
        self.client.get(f"/redirect?to={outside(self)}/redirected", name="FastHttpUser redirect")


class SecondFastSession(FastEscaper):
    def on_start(self) -> None:
        self.other = FastHttpSession(base_url=outside(self), request_event=self.environment.events.request, user=self)

    def escape(self) -> None:
        self.other.get("/second", name="second FastHttpSession")


class SpellingsFast(FastEscaper):
    def escape(self) -> None:
        for name, url in spellings(self):
            self.client.get(url, name=f"FastHttpUser {name}")


class RawSocket(User):
    """A custom, non-HTTP client: a TCP connection straight to the outside host."""

    wait_time = constant_pacing(0.3)

    @task
    def connect(self) -> None:
        parts = urlsplit(outside(self))

        def call() -> None:
            with socket.create_connection((parts.hostname, parts.port), timeout=5) as conn:
                conn.sendall(b"GET /raw HTTP/1.0\r\n\r\n")
                conn.recv(100)

        fire(self, "tcp", "raw socket", call)
