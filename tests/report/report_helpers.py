"""Shared by the report tests: synthetic run folders, a Chromium driven over DevTools, a hostile target.

* ``make_run`` is ``benchmarks/report_size.py``'s: the real file formats, judged by ``judge_run``.
* Chromium is driven through its DevTools protocol with ``websocket-client`` (a Locust
  dependency): console errors, exceptions, every image's ``naturalWidth``, the scripts in the
  document and the URLs requested come from the browser itself, and a screenshot is taken.
* ``hostile_target`` is a real HTTP server whose ``/config`` and error bodies say what a test
  writes into a file: target-controlled text, as a compromised or buggy target would send it.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import ROOT

from loadkit.report import ReportFiles

_spec = importlib.util.spec_from_file_location("report_size", ROOT / "benchmarks" / "report_size.py")
report_size = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report_size)
make_run = report_size.make_run

XSS = "<script>alert(1)</script>"
#: What a hostile target or scenario puts in names, error texts and configuration values: markup that
#: runs or loads from another host, a mass mention, an OSC title change, a clear screen, a bell,
#: a right-to-left override and a NUL.
HOSTILE = ("<img src=http://evil.example/x.png onerror=alert(1)> @channel ![i](http://evil.example/i.png) "
           "\x1b]0;pwned\x07 \x1b[2J <script>document.title='pwned'</script> \u202e \x00 | `tick`")
CONTROL = "\x1b\x07\x00\u202e"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# --- Chromium over the DevTools protocol -------------------------------------------------------

def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: run scripts/services (as root), or apt-get install chromium")
    return exe


class _DevTools:
    """A minimal CDP client: numbered calls, and every event kept for later inspection."""

    def __init__(self, ws_url: str):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                assert "error" not in msg, (method, msg["error"])
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ev in self.events:
                if ev.get("method") == method:
                    return ev
            self.events.append(json.loads(self.ws.recv()))
        raise AssertionError(f"no {method} within {timeout}s")

    def value(self, expression: str):
        return self.call("Runtime.evaluate", returnByValue=True, expression=expression)["result"]["value"]


def open_in_chromium(page: Path, tmp: Path) -> dict:
    """Load ``page`` from file://; console errors, images, scripts, title, text, the URLs requested, a screenshot."""
    profile = tmp / "chromium-profile"
    proc = subprocess.Popen([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             "--window-size=1280,1600", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None and time.monotonic() < deadline, "chromium did not start"
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
                pages = [t for t in json.load(resp) if t.get("type") == "page"]
            if pages or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        cdp = _DevTools(pages[0]["webSocketDebuggerUrl"])
        try:
            for domain in ("Runtime", "Log", "Page", "Network"):
                cdp.call(f"{domain}.enable")
            cdp.call("Page.navigate", url=page.resolve().as_uri())
            cdp.wait_for("Page.loadEventFired")
            images = cdp.value("Array.from(document.images).map(i => ({complete: i.complete, width: i.naturalWidth,"
                               " alt: i.alt}))")
            text = cdp.value("document.body.innerText")
            scripts = cdp.value("document.scripts.length + document.querySelectorAll('[onerror],[onload]').length")
            title = cdp.value("document.title")
            shot = base64.b64decode(cdp.call("Page.captureScreenshot", format="png")["data"])
        finally:
            cdp.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    ev = cdp.events
    errors = [e["params"] for e in ev if e.get("method") == "Runtime.exceptionThrown"]
    errors += [e["params"] for e in ev if e.get("method") == "Runtime.consoleAPICalled"
               and e["params"].get("type") in ("error", "assert")]
    errors += [e["params"]["entry"] for e in ev if e.get("method") == "Log.entryAdded"
               and e["params"]["entry"].get("level") == "error"]
    urls = [e["params"]["request"]["url"] for e in ev if e.get("method") == "Network.requestWillBeSent"]
    png = tmp / "screenshot.png"
    png.write_bytes(shot)
    return {"errors": errors, "images": images, "urls": urls, "screenshot": png, "text": text, "scripts": scripts,
            "title": title}


def assert_renders(files: ReportFiles, tmp: Path, images: int) -> dict:
    """The page opens in Chromium: no error, no script, every image decoded, nothing fetched from a network."""
    seen = open_in_chromium(files.html, tmp)
    assert seen["errors"] == []
    assert seen["scripts"] == 0 and "pwned" not in seen["title"]
    assert len(seen["images"]) == images
    assert all(i["complete"] and i["width"] > 0 for i in seen["images"]), seen["images"]
    assert all(u.startswith(("file:", "data:")) for u in seen["urls"]), seen["urls"]  # nothing from the network
    png = seen["screenshot"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    return seen


# --- a hostile target ----------------------------------------------------------------------------

_SERVER = r'''
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONFIG = sys.argv[1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/config"):
            with open(CONFIG, encoding="utf-8") as fh:
                body, status = fh.read().encode("utf-8"), 200
        elif self.path.startswith("/evil"):
            with open(CONFIG, encoding="utf-8") as fh:
                body, status = json.load(fh).get("banner", "bad").encode("utf-8"), 500
        else:
            body, status = b"ok", 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if self.path.startswith("/config") else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
'''


@contextmanager
def hostile_target(tmp: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server (URL, config file): ``/config`` serves the file, ``/evil`` answers 500 with
    the file's ``banner`` as its body, anything else 200 ``ok``. Write the file to change what it says."""
    script, config = tmp / "hostile_server.py", tmp / "hostile_config.json"
    script.write_text(_SERVER)
    config.write_text("{}")
    proc = subprocess.Popen([sys.executable, str(script), str(config)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}", config
    finally:
        proc.kill()
        proc.wait()
