"""A small loopback web site that counts what reaches it, for comparing Locust and loadkit runs.

Run as ``python counting_server.py ADDRESS...``: one threaded HTTP/1.1 listener per ADDRESS (for
example ``127.0.0.1 127.0.0.1 127.0.0.2``), each on a free port, and a control listener on
127.0.0.1. It prints one JSON line ``{"control": PORT, "ports": [PORT, ...]}`` and serves until
killed. Every listener counts the TCP connections it accepted and the requests it answered per
``METHOD /path``, and logs the user names that logged in, so a test can say exactly what reached
it (and that a listener outside the allow-list received nothing, not even a connection). The
counts are read on the control listener, so reading them never adds to them.

The site serves what the locustfiles of ``tests/support/locustfiles`` need: ``/`` and ``/about``,
a sign-in form with a CSRF token, a login that records who logged in, JSON items, a JSON
authentication and checkout, ``/redirect?to=URL`` (a 302 to any URL), ``/status/CODE`` and
``/stats/requests``.

:class:`CountingServer` starts it in a subprocess for a test and reads the counts.
"""

from __future__ import annotations

import http.client
import json
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

SIGN_IN_FORM = ('<html><body><form action="/sign-in" method="post" name="sign-in">'
                '<input type="hidden" name="authenticity_token" value="{token}">'
                '<input name="user[email]"><input name="user[password]" type="password"></form></body></html>')


class Listener(ThreadingHTTPServer):
    """One counted listener: connections accepted, requests per ``METHOD /path``, logins."""

    daemon_threads = True
    request_queue_size = 256  # a burst of users connecting at once must not wait on a full backlog

    def __init__(self, address: str, state: dict[str, Any]):
        self.state = state
        super().__init__((address, 0), Handler)

    def get_request(self) -> tuple[Any, Any]:
        conn = super().get_request()
        with self.state["lock"]:
            self.state["connections"] += 1
        return conn

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client killed mid-request is no error here
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as both of Locust's clients use it
    server: Listener

    def log_message(self, *args: Any) -> None:  # quiet: the counts are the log
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes | str = b"", content_type: str = "text/html",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, value: Any, status: int = 200) -> None:
        self._send(status, json.dumps(value), "application/json")

    def _form_or_json(self, body: bytes) -> dict[str, Any]:
        if "json" in (self.headers.get("Content-Type") or ""):
            try:
                value = json.loads(body or b"{}")
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
        return {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        path, method, state = parts.path, self.command, self.server.state
        body = self._body()
        with state["lock"]:
            state["requests"][f"{method} {path}"] += 1
        if path in ("/", "/about", "/welcome", "/protected/resource") and method in ("GET", "HEAD"):
            self._send(200, f"<html><body>{path}</body></html>")
        elif path == "/sign-in" and method == "GET":
            token = secrets.token_hex(8)
            with state["lock"]:
                state["tokens"].add(token)
            self._send(200, SIGN_IN_FORM.format(token=token))
        elif path == "/sign-in" and method == "POST":
            token = self._form_or_json(body).get("authenticity_token")
            with state["lock"]:
                valid = token in state["tokens"]
                state["tokens"].discard(token)
            if valid:
                self._send(302, "", headers={"Location": "/welcome"})
            else:
                self._send(403, "bad authenticity token")
        elif path == "/login" and method == "POST":
            user = self._form_or_json(body).get("username")
            with state["lock"]:
                state["logins"].append(str(user))
            self._send(200, f"welcome {user}")
        elif path == "/items" and method == "GET":
            self._json([{"id": i, "name": f"item {i}"} for i in range(1, 6)])
        elif path.startswith("/items/") and method == "GET":
            self._json({"id": path.rsplit("/", 1)[1]})
        elif path == "/authenticate" and method == "POST":
            self._json({"message": f"Welcome {self._form_or_json(body).get('username')}!"})
        elif path == "/checkout/confirm" and method == "POST":
            self._json({"orderId": 42})
        elif path == "/redirect":
            self._send(302, "", headers={"Location": parse_qs(parts.query).get("to", ["/"])[0]})
        elif path == "/slow":  # answers after ?ms= milliseconds
            time.sleep(float(parse_qs(parts.query).get("ms", ["100"])[0]) / 1000.0)
            self._send(200, "slow")
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), "status")
        elif path == "/stats/requests":
            self._json({"state": "ready"})
        else:
            self._send(404, "not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


def _new_state() -> dict[str, Any]:
    return {"lock": threading.Lock(), "connections": 0, "requests": Counter(), "logins": [], "tokens": set()}


def _public(state: dict[str, Any]) -> dict[str, Any]:
    with state["lock"]:
        return {"connections": state["connections"], "requests": dict(state["requests"]),
                "logins": list(state["logins"])}


def serve(addresses: list[str]) -> None:
    states = [_new_state() for _ in addresses]
    listeners = [Listener(a, s) for a, s in zip(addresses, states, strict=True)]

    class Control(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # the counts of every listener
            data = json.dumps([_public(s) for s in states]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # reset every count
            for s in states:
                fresh = _new_state()
                with s["lock"]:
                    s.update({k: v for k, v in fresh.items() if k != "lock"})
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    control = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    control.daemon_threads = True
    for listener in listeners:
        threading.Thread(target=listener.serve_forever, daemon=True).start()
    print(json.dumps({"control": control.server_address[1], "ports": [ls.server_address[1] for ls in listeners]}),
          flush=True)
    control.serve_forever()


class CountingServer:
    """The site in a subprocess; ``url(i)`` is listener i's base URL, ``counts()`` what reached each."""

    def __init__(self, *addresses: str):
        self.addresses = list(addresses)
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *addresses],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self.proc.kill()
            raise RuntimeError(f"counting server did not start on {addresses} (exit {self.proc.wait()})")
        info = json.loads(line)
        self.control, self.ports = int(info["control"]), [int(p) for p in info["ports"]]

    def url(self, i: int = 0) -> str:
        return f"http://{self.addresses[i]}:{self.ports[i]}"

    def _control(self, method: str) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", self.control, timeout=10)
        try:
            conn.request(method, "/")
            return conn.getresponse().read()
        finally:
            conn.close()

    def counts(self, i: int = 0) -> dict[str, Any]:
        """``{"connections": N, "requests": {"GET /": N, ...}, "logins": [...]}`` of listener i."""
        return json.loads(self._control("GET"))[i]

    def reset(self) -> None:
        self._control("POST")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> CountingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    serve(sys.argv[1:] or ["127.0.0.1"])
