"""HAR import on a real recording: headless Chromium browses a small shop through a recording proxy.

The shop needs, on every visit, values only its own responses give: a CSRF field in the login form,
a session cookie, an API token in a meta tag, an item id from JSON and a cart id for the last page.
Chromium logs in (the form submits itself), its script calls the API and goes to the cart; the proxy
writes what passed as HAR 1.2. loadkit turns the HAR into a flow and replays it against the shop.
"""

import http.client
import json
import secrets
import shutil
import subprocess
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import yaml
from gevent.pywsgi import WSGIServer
from helpers import only_run, read

from loadkit.cli import main
from loadkit.errors import ConfigError
from loadkit.scenario.har import HarOptions, har_to_scenario

APP_JS = """
const token = document.querySelector('meta[name="api-token"]').content;
fetch('/api/items', {headers: {'X-Api-Token': token}}).then(r => r.json()).then(d =>
  fetch('/api/cart', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-Api-Token': token},
                      body: JSON.stringify({item: d.items[0].id, qty: 2})}))
  .then(r => r.json()).then(c => setTimeout(() => { location.href = '/cart/' + c.cart; }, 600));
"""


class Shop:
    def __init__(self):
        self.csrf: set[str] = set()
        self.sessions: dict[str, str] = {}  # sid -> api token
        self.carts: dict[str, str] = {}
        self.seen: list[tuple[str, str, int]] = []

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        body = environ["wsgi.input"].read()
        cookies = dict(c.strip().split("=", 1) for c in environ.get("HTTP_COOKIE", "").split(";") if "=" in c)
        sid = cookies.get("sid") if cookies.get("sid") in self.sessions else None
        token_ok = sid is not None and environ.get("HTTP_X_API_TOKEN") == self.sessions[sid]

        def reply(status, text, ctype="text/html", headers=()):
            self.seen.append((method, path, int(status.split()[0])))
            start_response(status, [("Content-Type", ctype), *headers])
            return [text.encode()]

        if path == "/login" and method == "GET":
            c = secrets.token_hex(8)
            self.csrf.add(c)
            return reply("200 OK", '<html><head><link rel="stylesheet" href="/static/site.css"></head><body>'
                                   '<img src="http://cdn.thirdparty.invalid/logo.png">'
                                   f'<form method="post" action="/login"><input type="hidden" name="csrf" value="{c}">'
                                   '<input name="user" value="ann"></form>'
                                   '<script>setTimeout(() => document.forms[0].submit(), 700)</script></body></html>')
        if path == "/login" and method == "POST":
            form = parse_qs(body.decode())
            if form.get("csrf", [""])[0] not in self.csrf:
                return reply("403 Forbidden", "bad csrf")
            new = secrets.token_hex(8)
            self.sessions[new] = secrets.token_hex(12)
            return reply("302 Found", "", headers=[("Location", "/shop"), ("Set-Cookie", f"sid={new}; Path=/")])
        if path.startswith("/static/"):
            ctype = "text/css" if path.endswith(".css") else "application/javascript"
            return reply("200 OK", APP_JS if path.endswith(".js") else "body {color: #333}", ctype)
        if sid is None:
            return reply("401 Unauthorized", "log in first")
        if path == "/shop":
            return reply("200 OK", f'<html><head><meta name="api-token" content="{self.sessions[sid]}"></head>'
                                   '<body><h1>Shop</h1><script src="/static/app.js"></script></body></html>')
        if path.startswith("/api/") and not token_ok:
            return reply("401 Unauthorized", '{"error": "bad api token"}', "application/json")
        if path == "/api/items":
            return reply("200 OK", json.dumps({"items": [{"id": "it-" + secrets.token_hex(4), "name": "lamp"}]}),
                         "application/json")
        if path == "/api/cart" and method == "POST":
            item = json.loads(body).get("item", "")
            if not item.startswith("it-"):
                return reply("422 Unprocessable Entity", '{"error": "bad item"}', "application/json")
            cart = "ca-" + secrets.token_hex(4)
            self.carts[cart] = item
            return reply("201 Created", json.dumps({"cart": cart}), "application/json")
        if path.startswith("/cart/"):
            cart = path.rsplit("/", 1)[1]
            return reply("200 OK", f"<p>cart {cart}: {self.carts[cart]}</p>") if cart in self.carts else reply(
                "404 Not Found", "no such cart")
        return reply("404 Not Found", "no route")


class Recorder:
    """An HTTP proxy that forwards each request and keeps it, with its response, as a HAR entry."""

    def __init__(self):
        self.entries: list[dict] = []

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "CONNECT" or not str(environ.get("PATH_INFO", "")).startswith("http://"):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])  # the browser's own https calls
            return [b"not recorded"]
        url = environ["PATH_INFO"] + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
        parts = urlsplit(url)
        body = environ["wsgi.input"].read()
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        headers.pop("Proxy-Connection", None)
        started = time.time()
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=5)
            conn.request(environ["REQUEST_METHOD"], (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                         body=body or None, headers=headers)
            resp = conn.getresponse()
            status, reason, rheaders, content = resp.status, resp.reason, resp.getheaders(), resp.read()
            conn.close()
        except OSError:
            status, reason, rheaders, content = 502, "Bad Gateway", [("Content-Type", "text/plain")], b"unreachable"
        elapsed = (time.time() - started) * 1000
        mime = dict((k.lower(), v) for k, v in rheaders).get("content-type", "")
        request = {"method": environ["REQUEST_METHOD"], "url": url, "httpVersion": "HTTP/1.1",
                   "headers": [{"name": k, "value": v} for k, v in headers.items()], "queryString": [],
                   "cookies": [], "headersSize": -1, "bodySize": len(body)}
        if body:
            request["postData"] = {"mimeType": headers.get("Content-Type", ""), "text": body.decode()}
        self.entries.append({
            "startedDateTime": datetime.fromtimestamp(started, timezone.utc).isoformat().replace("+00:00", "Z"),
            "time": elapsed, "request": request,
            "response": {"status": status, "statusText": reason, "httpVersion": "HTTP/1.1", "cookies": [],
                         "headers": [{"name": k, "value": v} for k, v in rheaders], "redirectURL": "",
                         "headersSize": -1, "bodySize": len(content),
                         "content": {"size": len(content), "mimeType": mime, "text": content.decode(errors="replace")}},
            "cache": {}, "timings": {"send": 0, "wait": elapsed, "receive": 0}})
        drop = {"transfer-encoding", "connection", "content-length"}
        start_response(f"{status} {reason}", [(k, v) for k, v in rheaders if k.lower() not in drop])
        return [content]

    def har(self) -> dict:
        return {"log": {"version": "1.2", "creator": {"name": "test recorder", "version": "1"}, "entries": self.entries}}


def _serve(app):
    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    return server


def browse(exe: str, proxy_port: int, start: str, done: str, profile) -> tuple[str, list]:
    """Open ``start`` in headless Chromium through the proxy; wait (30 s at most) until the page's path
    starts with ``done``. (The path it reached, the page's script errors.)"""
    import websocket

    proc = subprocess.Popen([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-background-networking", "--disable-component-update", "--disable-sync",
                             f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             f"--proxy-server=http://127.0.0.1:{proxy_port}", "--proxy-bypass-list=<-loopback>",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None and time.monotonic() < deadline, "chromium did not start"
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/json/list")
        page = next(t for t in json.loads(conn.getresponse().read()) if t.get("type") == "page")
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        ids, errors = iter(range(1, 10_000)), []

        def call(method, **params):
            n = next(ids)
            ws.send(json.dumps({"id": n, "method": method, "params": params}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("method") == "Runtime.exceptionThrown":
                    errors.append(msg["params"]["exceptionDetails"])
                if msg.get("id") == n:
                    return msg.get("result", {})

        call("Runtime.enable")
        call("Page.navigate", url=start)
        where = ""
        while time.monotonic() < deadline + 30 and not where.startswith(done):
            time.sleep(0.2)
            where = call("Runtime.evaluate", expression="location.pathname", returnByValue=True)["result"].get("value", "")
        time.sleep(0.3)  # the last page's own requests
        ws.close()
        return where, errors
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture()
def recorded(tmp_path):
    """(shop URL, shop, path of the HAR) after Chromium went through the shop once."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: run scripts/services (as root), or apt-get install chromium")
    shop, recorder = Shop(), Recorder()
    app, proxy = _serve(shop), _serve(recorder)
    url = f"http://127.0.0.1:{app.server_port}"
    try:
        where, errors = browse(exe, proxy.server_port, f"{url}/login", "/cart/", tmp_path / "profile")
        assert where.startswith("/cart/ca-"), (where, errors, shop.seen)
        har = tmp_path / "shop.har"
        har.write_text(json.dumps(recorder.har()))
        yield url, shop, har
    finally:
        app.stop()
        proxy.stop()


def test_a_recorded_journey_replays_with_no_errors(recorded, tmp_path, capsys):
    url, shop, har = recorded
    out = tmp_path / "scenarios" / "shop.yaml"
    out.parent.mkdir()
    assert main(["scenario", "from-har", str(har), "-o", str(out)]) == 0
    assert "extracted values" in capsys.readouterr().out
    scenario = yaml.safe_load(out.read_text())
    assert scenario["target"] == {"host": url, "allowed_hosts": ["127.0.0.1"]}
    flow = scenario["users"][0]["flow"]
    steps = [s for s in flow if "path" in s]
    # static assets and the third-party image are gone; the journey is left, in order
    assert [(s["method"], s["path"]) for s in steps] == [
        ("GET", "/login"), ("POST", "/login"), ("GET", "/shop"), ("GET", "/api/items"), ("POST", "/api/cart"),
        ("GET", "/cart/{cart}")]
    extracted = {k: v for s in steps for k, v in (s.get("extract") or {}).items()}
    assert set(extracted) == {"csrf", "api_token", "id", "cart"}
    assert extracted["id"] == "json:$.items[0].id" and extracted["cart"] == "json:$.cart"
    assert extracted["csrf"].startswith("regex:") and extracted["api_token"].startswith("regex:")
    assert "csrf={csrf}" in steps[1]["data"] and steps[4]["json"] == {"item": "{id}", "qty": 2}
    assert steps[3]["headers"]["X-Api-Token"] == "{api_token}"
    assert any("think" in s for s in flow)  # the page's pauses before the form and the cart
    assert all("Cookie" not in (s.get("headers") or {}) for s in steps)  # the session keeps the cookie
    # the replay: a few iterations of the journey, each with its own csrf, session, token, item and cart
    text = out.read_text().replace("duration: 1m", "duration: 3s").replace("constant: 1s", "constant: 0.1s")
    text = text.replace("think: ", "think_was: ")  # keep the recorded pauses out of a short test run
    quick = tmp_path / "quick.yaml"
    quick.write_text("\n".join(line for line in text.splitlines() if "think_was" not in line) + "\n")
    shop.seen.clear()
    assert main(["run", str(quick), "--out", str(tmp_path / "res"), "--quiet"]) == 0
    run = only_run(tmp_path / "res")
    samples = pd.read_parquet(run / "samples.parquet")
    assert samples.error.isna().all(), samples.error.dropna().unique()
    assert (samples.endpoint == "GET /cart/{cart}").sum() >= 2
    assert len(shop.carts) >= 3 and all(code < 400 for _, _, code in shop.seen)
    assert read(run, "verdict.json")["status"] == "PASS"


def test_har_problems_are_one_line():
    with pytest.raises(ConfigError, match="not a HAR recording"):
        har_to_scenario({"log": {}}, HarOptions(), "x.har")
    only_static = {"log": {"entries": [{"startedDateTime": "2026-01-01T00:00:00Z", "time": 1,
                                        "request": {"method": "GET", "url": "http://a.test/app.js", "headers": []},
                                        "response": {"status": 200, "headers": [], "content": {}}}]}}
    with pytest.raises(ConfigError, match="no request to a.test is left to replay"):
        har_to_scenario(only_static, HarOptions(), "x.har")
    kept = har_to_scenario(only_static, HarOptions(keep_static=True), "x.har")
    assert kept["users"][0]["flow"][0]["path"] == "/app.js"


def test_from_har_never_overwrites_and_refuses_non_json(tmp_path, capsys):
    (tmp_path / "bad.har").write_text("not json")
    assert main(["scenario", "from-har", str(tmp_path / "bad.har"), "-o", str(tmp_path / "x.yaml")]) == 2
    assert "not a HAR file (JSON)" in capsys.readouterr().err
    (tmp_path / "x.yaml").write_text("mine")
    assert main(["scenario", "from-har", str(tmp_path / "bad.har"), "-o", str(tmp_path / "x.yaml")]) == 2
    assert "exists; give another -o or --force" in capsys.readouterr().err
    assert (tmp_path / "x.yaml").read_text() == "mine"


def _entry(t, method, url, status=200, headers=(), body=None, rheaders=(), rtext="", rmime="application/json"):
    req = {"method": method, "url": url, "headers": [{"name": k, "value": v} for k, v in headers]}
    if body is not None:
        req["postData"] = {"mimeType": "application/json", "text": json.dumps(body)}
    return {"startedDateTime": f"2026-01-01T00:00:{t:06.3f}Z", "time": 50, "request": req,
            "response": {"status": status, "headers": [{"name": k, "value": v} for k, v in rheaders],
                         "content": {"mimeType": rmime, "text": rtext}}}


def test_tokens_in_headers_and_locations_become_extractions():
    har = {"log": {"entries": [
        _entry(0, "POST", "http://api.test/login", body={"user": "ann"}, rtext='{"access_token": "eyJ.a1b2c3"}'),
        _entry(0.1, "GET", "http://cdn.other.test/lib.js", rmime="text/javascript"),
        _entry(1.35, "POST", "http://api.test/orders", 201, headers=[("Authorization", "Bearer eyJ.a1b2c3")],
               body={"sku": "A-100"}, rheaders=[("Location", "/orders/ord-991")], rtext=""),
        _entry(1.5, "GET", "http://api.test/orders/ord-991", headers=[("Authorization", "Bearer eyJ.a1b2c3"),
                                                                    ("Cookie", "sid=1"), ("X-Note", "{literal}")]),
    ]}}
    s = har_to_scenario(har, HarOptions(name="api"), "api.har")
    assert s["target"] == {"host": "http://api.test", "allowed_hosts": ["api.test"]}
    flow = s["users"][0]["flow"]
    assert [x.get("path") or x["think"] for x in flow] == ["/login", "1.3s", "/orders", "{location}"]
    login, _, order, fetch = flow
    assert login["extract"] == {"access_token": "json:$.access_token"} and login["json"] == {"user": "ann"}
    assert order["headers"] == {"Authorization": "Bearer {access_token}"} and order["expect"] == {"status": 201}
    assert order["extract"] == {"location": "header:Location"} and order["json"] == {"sku": "A-100"}
    assert fetch["headers"] == {"Authorization": "Bearer {access_token}", "X-Note": "{{literal}}"}
    from loadkit.scenario import parse_scenario

    parsed = parse_scenario(yaml.safe_dump(s), "api.yaml")  # it validates: every variable is extracted first
    assert [r.name for r in parsed.users[0].all_requests] == ["POST /login", "POST /orders", "GET {location}"]
