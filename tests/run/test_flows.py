"""Flows on real runs: a shop that needs the token from POST /login for /cart, and ids carried along.

The shop is a small WSGI app in this process (gevent, as Locust); loadkit runs scenarios against it.
"""

import itertools
import json
import re
import textwrap

import pandas as pd
import pytest
from gevent.pywsgi import WSGIServer
from helpers import only_run, read

from loadkit.baseline import aggregates_from_summary
from loadkit.cli import main

ITEMS = {17: {"id": 17, "name": "lamp", "price": 30}, 23: {"id": 23, "name": "shoe", "price": 80}}


class Shop:
    """Tokens from /login are required by /cart and /checkout; /pay needs the csrf value /checkout printed."""

    def __init__(self):
        self.tokens: set[str] = set()
        self.csrf: dict[str, str] = {}
        self.carts: dict[str, list[int]] = {}
        self.counter = itertools.count(1)
        self.seen: list[tuple[str, str]] = []

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        body = environ["wsgi.input"].read()
        auth = environ.get("HTTP_AUTHORIZATION", "")
        token = auth[7:] if auth.startswith("Bearer ") and auth[7:] in self.tokens else None
        self.seen.append((method, path, token))

        def reply(status, doc, headers=(), ctype="application/json"):
            start_response(status, [("Content-Type", ctype), *headers])
            return [doc.encode() if isinstance(doc, str) else json.dumps(doc).encode()]

        if method == "POST" and path == "/login":
            user = json.loads(body or b"{}").get("user")
            if not user:
                return reply("400 Bad Request", {"error": "user missing"})
            t = f"tok-{next(self.counter)}"
            self.tokens.add(t)
            return reply("200 OK", {"token": t}, [("Set-Cookie", f"sid=s{t}; Path=/")])
        if path == "/search":
            return reply("200 OK", {"items": list(ITEMS.values())})
        if path.startswith("/items/"):
            item = ITEMS.get(int(path.rsplit("/", 1)[1]) if path.rsplit("/", 1)[1].isdigit() else -1)
            if item and environ.get("HTTP_X_ITEM") != str(item["id"]):
                return reply("400 Bad Request", {"error": "X-Item differs from the path"})
            return reply("200 OK", item) if item else reply("404 Not Found", {"error": "no such item"})
        if path.startswith("/cart") or path in ("/checkout", "/pay"):
            if token is None:
                return reply("401 Unauthorized", {"error": "missing or invalid bearer token"})
            if method == "POST" and path == "/cart":
                item = json.loads(body).get("item")
                if item not in ITEMS:
                    return reply("422 Unprocessable Entity", {"error": f"unknown item {item!r}"})
                cid = str(next(self.counter))
                self.carts[cid] = [item]
                return reply("201 Created", {"cart": cid}, [("Location", f"/cart/{cid}")])
            if path.startswith("/cart/"):
                cid = path.rsplit("/", 1)[1]
                return reply("200 OK", {"items": self.carts[cid]}) if cid in self.carts else reply(
                    "404 Not Found", {"error": "no such cart"})
            if path == "/checkout":
                self.csrf[token] = c = f"c{next(self.counter)}"
                return reply("200 OK", f'<form><input type="hidden" name="csrf" value="{c}"></form>', ctype="text/html")
            if path == "/pay":
                ok = json.loads(body).get("csrf") == self.csrf.get(token)
                return reply("200 OK", {"paid": True}) if ok else reply("403 Forbidden", {"error": "bad csrf"})
        return reply("404 Not Found", {"error": "no route"})


@pytest.fixture()
def shop():
    app = Shop()
    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.stop()


FLOW = """\
    name: journey
    target: {host: http://127.0.0.1:1}
    timeout: 5s
    users:
      - name: shopper
        wait: {constant: 0.01}
        vars:
          who: {choice: [ann, bob]}
        flow:
          - {name: login, method: POST, path: /login, json: {user: "{who}"},
             extract: {token: "json:$.token", sid: "cookie:sid"}, expect: {status: 200}}
          - {think: {between: [0.001, 0.005]}}
          - {name: search, path: "/search?q=lamp", extract: {item: "json:$.items[0].id"},
             expect: {status: 200, json: {"$.items": non-empty}}}
          - {name: item, path: "/items/{item}", timeout: 2s, headers: {X-Item: "{item}"},
             expect: {body_contains: price, json: {"$.id": 17}}}
          - {name: add-to-cart, method: POST, path: /cart, json: {item: "{item}"},
             headers: {Authorization: "Bearer {token}"}, expect: {status: 201}, group: checkout,
             extract: {cart_url: "header:Location"}}
          - repeat: 2
            group: checkout
            steps:
              - {name: cart, path: "{cart_url}", headers: {Authorization: "Bearer {token}"},
                 expect: {body_not_contains: error, max_latency: 2s}}
          - {name: checkout, path: /checkout, headers: {Authorization: "Bearer {token}"}, group: checkout,
             extract: {csrf: 'regex:name="csrf" value="([^"]+)"'}}
          - {name: pay, method: POST, path: /pay, json: {csrf: "{csrf}", sid: "{sid}"},
             headers: {Authorization: "Bearer {token}"}, group: checkout}
    load: {users: 2, spawn_rate: 2, duration: 2s}
    checks:
      - "error_rate < 0.1%"
      - "p95(latency, group=checkout) < 1s"
    """


def _run(tmp_path, url, text, name="s.yaml"):
    (tmp_path / name).write_text(textwrap.dedent(text))
    out = tmp_path / ("res-" + name)
    code = main(["run", str(tmp_path / name), "--host", url, "--out", str(out), "--quiet"])
    run = only_run(out)
    return code, run, pd.read_parquet(run / "samples.parquet")


def test_flow_carries_token_ids_and_csrf_with_no_errors(shop, tmp_path):
    url, app = shop
    code, run, samples = _run(tmp_path, url, FLOW)
    assert code == 0, read(run, "verdict.json")
    assert samples.error.isna().all(), samples.error.dropna().unique()
    counts = samples.endpoint.value_counts()
    assert counts["login"] > 10
    # each iteration: one of each step, cart twice (the repeat), in order; a partial last iteration at most
    for step in ("search", "item", "add-to-cart", "checkout"):
        assert abs(counts[step] - counts["login"]) <= 2, counts
    assert abs(counts["cart"] - 2 * counts["login"]) <= 4, counts
    # the order the shop saw, for one user: login, search, item, cart post, cart x2, checkout, pay
    # what one login's token was used for, in order: the steps after login, the repeat twice
    first = [(m, re.sub(r"\d+", "N", p)) for m, p, t in app.seen if t == "tok-1"]
    assert first == [("POST", "/cart"), ("GET", "/cart/N"), ("GET", "/cart/N"), ("GET", "/checkout"), ("POST", "/pay")]
    summary = read(run, "summary.json")
    ep = summary["endpoints"]
    assert summary["groups"]["checkout"]["total"] == sum(
        ep[k]["total"] for k in ("POST add-to-cart", "GET cart", "GET checkout", "POST pay")) > 0
    verdict = read(run, "verdict.json")
    group_check = next(c for c in verdict["checks"] if "group=checkout" in c["check"])
    assert group_check["status"] == "PASS"
    # the report shows the group, a baseline records it (what compare "p95(latency, group=checkout)" reads)
    html = (run / "report.html").read_text()
    assert "<h2>Groups</h2>" in html and "<td>checkout</td>" in html
    aggregates = aggregates_from_summary(summary)
    assert aggregates["p95(latency, group=checkout)"] == summary["groups"]["checkout"]["latency_ms"]["p95"]


def test_without_the_extraction_the_token_is_an_unknown_variable_before_any_request(shop, tmp_path, capsys):
    url, app = shop
    text = FLOW.replace('extract: {token: "json:$.token", sid: "cookie:sid"}, ', 'extract: {sid: "cookie:sid"}, ')
    (tmp_path / "s.yaml").write_text(textwrap.dedent(text))
    assert main(["run", str(tmp_path / "s.yaml"), "--host", url, "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == (f"loadkit: error: {tmp_path / 's.yaml'}:18: users.0.flow.4.headers: unknown variable "
                             "{token} (vars of this user: who; extracted by earlier steps: item, sid)")
    assert app.seen == []  # not a request was sent


def test_without_the_token_the_cart_answers_401_and_the_failures_say_why(shop, tmp_path):
    url, app = shop
    text = (FLOW.replace('extract: {token: "json:$.token", sid: "cookie:sid"}, ', "")
            .replace(', sid: "{sid}"', "").replace('headers: {Authorization: "Bearer {token}"}, ', "")
            .replace('headers: {Authorization: "Bearer {token}"},\n', "\n"))
    assert "{token}" not in text
    code, run, samples = _run(tmp_path, url, text)
    assert code == 1
    errors = samples.groupby("endpoint").error.first()
    assert errors["add-to-cart"] == 'expected status 201, got 401: {"error": "missing or invalid bearer token"}'
    assert samples[samples.endpoint != "add-to-cart"].error.isna().all()
    # the failed step was to yield the cart's URL: each iteration ended there, nothing after it was sent
    assert not {"cart", "checkout", "pay"} & set(samples.endpoint)
    assert (samples.endpoint == "add-to-cart").sum() > 10
    verdict = read(run, "verdict.json")
    assert next(c for c in verdict["checks"] if c["check"] == "error_rate < 0.1%")["status"] == "FAIL"
