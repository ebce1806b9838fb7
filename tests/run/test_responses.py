"""Judging a response: each expectation and extraction, on literal responses (headers as the HTTP client gives them)."""

import json

import pytest
from geventhttpclient.header import Headers

from loadkit.run.responses import Body, Judge
from loadkit.scenario.extract import parse_extract
from loadkit.scenario.model import Expect

BODY = json.dumps({"token": "t-1", "items": [{"id": 17, "price": 3}, {"id": 23}], "empty": [], "n": 2})


def headers(*pairs):
    h = Headers()
    for k, v in pairs:
        h.add(k, v)
    return h


def judge(expect: Expect | None = None, **extract):
    return Judge(expect or Expect(), tuple(parse_extract(k, v) for k, v in extract.items()))


def fails(expect: Expect, status=200, body=BODY, latency=0.01):
    return judge(expect).failure(status, headers(), Body(lambda: body), latency)


def test_values_from_json_header_regex_and_cookie():
    j = judge(token="json:$.token", item="json:$.items[1].id", where="header:location",
              csrf='regex:name="csrf" value="([^"]+)"', whole="regex:t-\\d", sid="cookie:sid")
    h = headers(("Location", "/cart/5"), ("Set-Cookie", "other=1; Path=/"), ("Set-Cookie", "sid=abc; HttpOnly"))
    body = BODY + '<input name="csrf" value="c-9">'
    values, why = j.values(h, Body(lambda: body))  # a body with JSON and HTML is not JSON: the first json: rule says so
    assert (values, why) == ({}, "extract token (json:$.token): the response is not JSON: " + body[:60] + "…")
    j2 = judge(item="json:$.items[1].id", where="header:location", sid="cookie:sid")
    assert j2.values(h, Body(lambda: BODY)) == ({"item": 23, "where": "/cart/5", "sid": "abc"}, None)
    j3 = judge(csrf='regex:name="csrf" value="([^"]+)"', whole="regex:t-\\d")
    assert j3.values(h, Body(lambda: 'x t-1 <input name="csrf" value="c-9">')) == ({"csrf": "c-9", "whole": "t-1"}, None)


@pytest.mark.parametrize(("spec", "reason"), [
    ("json:$.nothing", "extract v (json:$.nothing): no match in the response"),
    ("json:$.missing[0]", "extract v (json:$.missing[0]): no match in the response"),
    ("header:X-Nope", "extract v (header:X-Nope): the response has no such header"),
    ("regex:zzz(\\d)", "extract v (regex:zzz(\\d)): the pattern does not match the body"),
    ("cookie:sid", "extract v (cookie:sid): the response sets no such cookie"),
])
def test_a_missing_value_names_the_extraction(spec, reason):
    assert judge(v=spec).values(headers(), Body(lambda: BODY)) == ({}, reason)


def test_json_extraction_of_an_empty_body_says_so():
    assert judge(v="json:$.a").values(headers(), Body(lambda: "")) == (
        {}, "extract v (json:$.a): the response body is empty, not JSON")


def test_expectations_name_the_one_that_failed():
    assert fails(Expect()) is None
    assert fails(Expect(), status=500, body="boom") == "status 500: boom"
    assert fails(Expect(status=(201, 202))) == "expected status 201/202, got 200"
    assert fails(Expect(status=(201,)), status=401, body='{"error":\n "no token"}') == \
        'expected status 201, got 401: {"error": "no token"}'
    assert fails(Expect(status=(404,)), status=404) is None
    assert fails(Expect(max_latency=0.2), latency=0.35) == "expected max_latency 200ms, took 350ms"
    assert fails(Expect(max_latency=0.2), latency=0.15) is None
    assert fails(Expect(contains=("price", "nope"))) == "response does not contain 'nope'"
    assert fails(Expect(not_contains=("token",))) == "response contains 'token' (body_not_contains)"
    assert fails(Expect(not_contains=("error",))) is None
    assert fails(Expect(json=(("$.items", "non-empty"), ("$.n", 2), ("$.items[0].id", 17)))) is None
    assert fails(Expect(json=(("$.empty", "non-empty"),))) == "expect json $.empty: expected non-empty, got []"
    assert fails(Expect(json=(("$.empty", "exists"),))) is None
    assert fails(Expect(json=(("$.n", 3),))) == "expect json $.n: expected 3, got 2"
    assert fails(Expect(json=(("$.token", "t-2"),))) == "expect json $.token: expected 't-2', got 't-1'"
    assert fails(Expect(json=(("$.x", "exists"),))) == "expect json $.x: no match in the response"
    assert fails(Expect(json=(("$.x", 1),)), body="<html>") == "expect json: the response is not JSON: <html>"


@pytest.mark.parametrize("path", ["$", "$.token", "$.items[0].id", "$.items[1].price", "$.items[5]", "$['n']",
                                  "$.items[*].id", "$..id", "$.missing.x", "$.n.x", "$.items.id", "$.a-b"])
def test_the_direct_lookup_finds_what_jsonpath_ng_finds(path):
    from jsonpath_ng import parse

    from loadkit.run.responses import _Path

    doc = {**json.loads(BODY), "a-b": 1}
    assert _Path(path).find(doc) == [m.value for m in parse(path).find(doc)]
