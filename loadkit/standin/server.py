"""Serving the stand-in in this process (:func:`serve`) or in a child process (:func:`start_standin`).

A child process keeps the stand-in's CPU and its gevent hub away from the load generator,
which is what a staging service would be: somewhere else.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from loadkit.errors import RunError

from .config import StandinConfig

__all__ = ["StandinHandle", "serve", "start_standin"]

READY_PREFIX = "listening on "
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding loadkit/


def serve(config: StandinConfig, ready: Callable[[str], None] | None = None) -> None:
    """Blocking: serve until SIGTERM/SIGINT. Calls ready(url) once listening.

    Does not monkey-patch; the ``python -m loadkit.standin`` entry point does that first so
    that PostgreSQL queries of concurrent requests overlap.
    """
    import gevent

    from .app import StandinApp
    from .store import open_store

    store = open_store(config.db, config.pool_size)
    try:
        app = StandinApp(config, store)
        server = _make_server(config, app)
        try:
            server.start()
        except OSError as exc:
            raise RunError(f"standin cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
        port = server.server_port
        app.config = replace(config, port=port)
        app.started = time.monotonic()  # the stall window counts from here
        watchers = []
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                watchers.append(gevent.signal_handler(signum, server.stop, 1))
        if ready is not None:
            ready(_url(config.host, port))
        try:
            server.serve_forever()
        finally:
            for watcher in watchers:
                watcher.cancel()
    finally:
        store.close()


def _make_server(config: StandinConfig, app: Any) -> Any:
    """A pywsgi server without access log, sending small responses without Nagle's delay."""
    # Imported here: gevent.pywsgi imports ssl, which must not precede monkey-patching.
    from gevent.pywsgi import WSGIServer

    class Server(WSGIServer):
        def handle(self, sock: Any, address: Any) -> None:
            # pywsgi writes headers and body in two sends; with Nagle on, the body waits for
            # the client's delayed ACK, ~40 ms per keep-alive request.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().handle(sock, address)

    return Server((config.host, config.port), app, log=None, backlog=2048)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass
class StandinHandle:
    """A stand-in running in a child process; stop it, or use it as a context manager."""

    url: str
    pid: int
    process: subprocess.Popen

    def stop(self, timeout: float = 5) -> None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL. Safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> StandinHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_standin(config: StandinConfig, timeout: float = 15) -> StandinHandle:
    """Start the stand-in in its own process (subprocess: `sys.executable -m loadkit.standin ...`),
    wait until /health answers, return the handle. Raise RunError if it does not come up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STANDIN_")}
    env["STANDIN_DB"] = config.db  # in the environment, so a password stays out of `ps`
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as stderr:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "loadkit.standin", *_argv(config), "--parent-pid", str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
        handle = StandinHandle(url="", pid=process.pid, process=process)
        deadline = time.monotonic() + timeout
        try:
            handle.url = _read_url(process, deadline)
            _wait_healthy(handle.url, deadline)
        except RunError as exc:
            handle.stop(timeout=2)
            raise RunError(f"{exc}{_tail(stderr)}") from None
    return handle


def _argv(config: StandinConfig) -> list[str]:
    argv = ["--host", config.host, "--port", str(config.port), "--cpu-ms", repr(config.cpu_ms),
            "--pool-size", str(config.pool_size)]
    argv.append("--cache" if config.cache else "--no-cache")
    for endpoint, ms in config.latency_ms.items():
        argv += ["--latency", f"{endpoint}={ms!r}"]
    if config.stall:
        argv += ["--stall", f"{config.stall[0]!r},{config.stall[1]!r}"]
    return argv


def _read_url(process: subprocess.Popen, deadline: float) -> str:
    """The URL from the child's one stdout line; cooperative under gevent (select is patched)."""
    stdout: IO[bytes] = process.stdout  # type: ignore[assignment]
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RunError("standin did not start listening in time")
        readable, _, _ = select.select([stdout], [], [], min(remaining, 0.5))
        if readable:
            line = stdout.readline().decode(errors="replace").strip()
            if line.startswith(READY_PREFIX):
                return line[len(READY_PREFIX) :]
            if not line and process.poll() is not None:
                raise RunError(f"standin exited with code {process.returncode} before listening")
        elif process.poll() is not None:
            raise RunError(f"standin exited with code {process.returncode} before listening")


def _wait_healthy(url: str, deadline: float) -> None:
    import http.client  # lazily: importing it pulls in ssl, which must not precede patching

    host, port = url.removeprefix("http://").rsplit(":", 1)
    last: Any = None
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=2)
        try:
            conn.request("GET", "/health")
            response = conn.getresponse()
            if response.status == 200:
                return
            last = f"HTTP {response.status}"
        except OSError as exc:
            last = exc
        finally:
            conn.close()
        time.sleep(0.05)
    raise RunError(f"standin at {url} did not answer /health in time ({last})")


def _tail(stderr: IO[bytes], limit: int = 1500) -> str:
    stderr.seek(0, os.SEEK_END)
    size = stderr.tell()
    stderr.seek(max(0, size - limit))
    text = stderr.read().decode(errors="replace").strip()
    return f"; stderr: {' | '.join(text.splitlines()[-8:])}" if text else ""
