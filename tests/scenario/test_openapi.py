"""from-openapi: a skeleton with one request per operation, example bodies, path parameters as variables."""

import json
import textwrap

import pandas as pd
import pytest
import yaml
from gevent.pywsgi import WSGIServer
from helpers import only_run

from loadkit.cli import main
from loadkit.errors import ConfigError
from loadkit.scenario.openapi import openapi_to_scenario

SPEC = textwrap.dedent("""\
    openapi: 3.0.3
    info: {title: Shop API, version: "1"}
    servers: [{url: "http://127.0.0.1:9/api"}]
    paths:
      /items:
        get:
          operationId: listItems
          parameters:
            - {name: q, in: query, required: true, schema: {type: string}, example: lamp}
            - {name: page, in: query, schema: {type: integer}}
          responses: {"200": {description: ok}}
        post:
          operationId: createItem
          requestBody:
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Item"}
          responses: {"201": {description: created}, "400": {description: bad}}
      /items/{item-id}:
        parameters:
          - {name: item-id, in: path, required: true, schema: {type: integer, example: 17}}
        get:
          responses: {"200": {description: ok}, "304": {description: cached}}
        delete:
          operationId: deleteItem
          responses: {"204": {description: gone}}
    components:
      schemas:
        Item:
          type: object
          properties:
            name: {type: string, example: "lamp {large}"}
            price: {type: number}
            tags: {type: array, items: {type: string, enum: [new, sale]}}
            id: {type: string, format: uuid}
            parent: {$ref: "#/components/schemas/Item"}
    """)


def test_one_request_per_operation_with_examples():
    s = openapi_to_scenario(yaml.safe_load(SPEC), "shop-api", "api.yaml")
    assert s["target"] == {"host": "http://127.0.0.1:9", "allowed_hosts": ["127.0.0.1"]}
    user = s["users"][0]
    assert user["vars"] == {"item_id": {"choice": [17]}}
    reqs = {r["name"]: r for r in user["requests"]}
    assert list(reqs) == ["listItems", "createItem", "GET /items/{item-id}", "deleteItem"]
    assert reqs["listItems"]["path"] == "/api/items?q=lamp" and reqs["listItems"]["expect"] == {"status": 200}
    body = reqs["createItem"]["json"]
    assert body["name"] == "lamp {{large}}" and body["price"] == 1.5 and body["tags"] == ["new"]
    assert body["id"] == "00000000-0000-4000-8000-000000000000" and body["parent"] == {}
    assert reqs["createItem"]["expect"] == {"status": 201}
    assert reqs["GET /items/{item-id}"]["path"] == "/api/items/{item_id}"
    assert reqs["GET /items/{item-id}"]["expect"] == {"status": [200, 304]}
    assert reqs["deleteItem"]["method"] == "DELETE"


def test_not_openapi_is_one_line(tmp_path, capsys):
    with pytest.raises(ConfigError, match="not an OpenAPI 3 description"):
        openapi_to_scenario({"swagger": "2.0"}, "x")
    (tmp_path / "x.yaml").write_text("swagger: '2.0'\n")
    assert main(["scenario", "from-openapi", str(tmp_path / "x.yaml"), "-o", str(tmp_path / "o.yaml")]) == 2
    assert "not an OpenAPI 3 description" in capsys.readouterr().err and not (tmp_path / "o.yaml").exists()


def test_the_skeleton_validates_and_runs_against_a_server(tmp_path, capsys):
    seen = []

    def app(environ, start_response):
        seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], environ.get("QUERY_STRING"),
                     environ["wsgi.input"].read()))
        status = {"POST": "201 Created", "DELETE": "204 No Content"}.get(environ["REQUEST_METHOD"], "200 OK")
        start_response(status, [("Content-Type", "application/json")])
        return [b"" if status.startswith("204") else b"{}"]

    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    try:
        (tmp_path / "api.yaml").write_text(SPEC)
        out = tmp_path / "skeleton.yaml"
        host = f"http://127.0.0.1:{server.server_port}"
        assert main(["scenario", "from-openapi", str(tmp_path / "api.yaml"), "-o", str(out), "--host", host]) == 0
        assert "4 requests, one per operation" in capsys.readouterr().out
        quick = yaml.safe_load(out.read_text())
        quick["load"]["duration"], quick["users"][0]["wait"] = "2s", {"constant": 0.02}
        out.write_text(yaml.safe_dump(quick))
        assert main(["run", str(out), "--out", str(tmp_path / "res"), "--quiet"]) == 0
        samples = pd.read_parquet(only_run(tmp_path / "res") / "samples.parquet")
        assert samples.error.isna().all() and samples.endpoint.nunique() == 4
        posted = [json.loads(b) for m, _, _, b in seen if m == "POST"]
        assert posted and posted[0]["name"] == "lamp {large}"  # the escaped braces are sent as written
        assert {p for m, p, _, _ in seen if m == "DELETE"} == {"/items/17"}
    finally:
        server.stop()
