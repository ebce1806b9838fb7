"""An OpenAPI 3 description turned into a scenario skeleton: one request per operation, example bodies.

A starting point to edit, not a journey: each operation once in ``requests:`` (picked at random),
path parameters as variables drawn from their examples, required query parameters filled in, JSON
bodies from the spec's examples or, failing those, from the schema (its defaults, enums, formats).
Pure: :func:`openapi_to_scenario` takes the parsed spec; :func:`write_openapi_scenario` reads and writes.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError

__all__ = ["openapi_to_scenario", "write_openapi_scenario"]

_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_SAMPLE = {"string": "text", "integer": 1, "number": 1.5, "boolean": True}
_FORMATS = {"uuid": "00000000-0000-4000-8000-000000000000", "date": "2024-01-01", "date-time": "2024-01-01T00:00:00Z",
            "email": "user@example.com", "uri": "https://example.com/"}


def _ref(spec: dict, node: Any, seen: frozenset[str] = frozenset()) -> Any:
    """``node`` with a local ``$ref`` followed (a cycle ends as an empty schema)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        ref = node["$ref"]
        if ref in seen:
            return {}
        seen = seen | {ref}
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        node = target
    return node


def _example(spec: dict, schema: Any, depth: int = 0, seen: frozenset[str] = frozenset()) -> Any:
    """An example value of ``schema``; a schema met again inside itself (a tree's children) is ``{}``."""
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if isinstance(ref, str):
        if ref in seen:
            return {}
        seen = seen | {ref}
    schema = _ref(spec, schema)
    if not isinstance(schema, dict) or depth > 8:
        return None
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("allOf", "oneOf", "anyOf"):
        if schema.get(key):
            parts = [_example(spec, s, depth + 1, seen) for s in schema[key]]
            if key == "allOf" and all(isinstance(p, dict) for p in parts):
                return {k: v for p in parts for k, v in p.items()}
            return parts[0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {k: _example(spec, v, depth + 1, seen) for k, v in props.items()}
    if kind == "array":
        return [_example(spec, schema.get("items"), depth + 1, seen)]
    if kind == "string" and schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    return _SAMPLE.get(str(kind))


def _param_example(spec: dict, p: dict) -> Any:
    if "example" in p:
        return p["example"]
    examples = p.get("examples")
    if isinstance(examples, dict) and examples:
        first = _ref(spec, next(iter(examples.values())))
        if isinstance(first, dict) and "value" in first:
            return first["value"]
    value = _example(spec, p.get("schema"))
    return 1 if value is None else value


def _body(spec: dict, op: dict) -> Any:
    body = _ref(spec, op.get("requestBody"))
    content = (body or {}).get("content") if isinstance(body, dict) else None
    if not isinstance(content, dict):
        return None
    media = next((m for m in content if "json" in m), None)
    if media is None:
        return None
    m = content[media] or {}
    if "example" in m:
        return m["example"]
    if isinstance(m.get("examples"), dict) and m["examples"]:
        first = _ref(spec, next(iter(m["examples"].values())))
        if isinstance(first, dict) and "value" in first:
            return first["value"]
    return _example(spec, m.get("schema"))


def _literal(value: Any) -> Any:
    """Example values sent as they are: their braces escaped, so none reads as a {variable}."""
    if isinstance(value, str):
        return value.replace("{", "{{").replace("}", "}}")
    if isinstance(value, dict):
        return {_literal(k): _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    return value


def _var_name(name: str, taken: dict[str, str]) -> str:
    base = re.sub(r"\W", "_", name).strip("_") or "param"
    base = base if not base[0].isdigit() else f"p_{base}"
    out, n = base, 2
    while out in taken and taken[out] != name:
        out, n = f"{base}_{n}", n + 1
    taken[out] = name
    return out


def _success(op: dict) -> list[int]:
    codes = [int(c) for c in (op.get("responses") or {}) if str(c).isdigit() and 200 <= int(c) < 400]
    return sorted(codes)


def openapi_to_scenario(spec: Any, name: str, file: str = "openapi.yaml", host: str | None = None) -> dict:
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3"):
        raise ConfigError(f"{file}: not an OpenAPI 3 description (expected a top-level 'openapi: 3.x')")
    paths = spec.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise ConfigError(f"{file}: no paths: nothing to request")
    servers = [s.get("url", "") for s in spec.get("servers") or [] if isinstance(s, dict)]
    server = next((s for s in servers if s.startswith(("http://", "https://"))), "")
    base = host or server.rstrip("/") or "http://127.0.0.1:8000"
    parts = urlsplit(base)
    prefix = parts.path.rstrip("/") if not host else ""
    variables: dict[str, Any] = {}
    taken: dict[str, str] = {}
    requests: list[dict] = []
    names: set[str] = set()
    for raw_path, item in paths.items():
        item = _ref(spec, item)
        if not isinstance(item, dict):
            continue
        shared = [_ref(spec, p) for p in item.get("parameters") or []]
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params = {(p.get("in"), p.get("name")): p for p in shared + [_ref(spec, p) for p in op.get("parameters") or []]
                      if isinstance(p, dict)}
            path = prefix + str(raw_path).replace("{{", "{").replace("}}", "}")
            query = []
            for (where, pname), p in params.items():
                if not isinstance(pname, str):
                    continue
                if where == "path":
                    var = _var_name(pname, taken)
                    variables.setdefault(var, {"choice": [_param_example(spec, p)]})
                    path = path.replace("{" + pname + "}", "{" + var + "}")
                elif where == "query" and p.get("required"):
                    query.append(f"{pname}={_literal(str(_param_example(spec, p)))}")
            path = re.sub(r"\{([^}]*\W[^}]*)\}", lambda m: "{" + _var_name(m.group(1), taken) + "}", path)
            for missing in re.findall(r"\{([A-Za-z_]\w*)\}", path):
                variables.setdefault(missing, {"choice": [1]})
            op_name = str(op.get("operationId") or f"{method.upper()} {raw_path}")
            while op_name in names:
                op_name += "-2"
            names.add(op_name)
            req: dict[str, Any] = {"name": op_name, "method": method.upper(),
                                   "path": path + ("?" + "&".join(query) if query else "")}
            body = _body(spec, op)
            if body is not None:
                req["json"] = _literal(body)
            codes = _success(op)
            if codes:
                req["expect"] = {"status": codes if len(codes) > 1 else codes[0]}
            requests.append(req)
    if not requests:
        raise ConfigError(f"{file}: no operations under paths")
    user: dict[str, Any] = {"name": "api", "wait": {"between": ["0.5s", "2s"]}, "requests": requests}
    if variables:
        user["vars"] = variables
    title = (spec.get("info") or {}).get("title") if isinstance(spec.get("info"), dict) else None
    return {"name": name, "description": f"skeleton from {title or file}: one request per operation",
            "target": {"host": f"{parts.scheme}://{parts.netloc}", "allowed_hosts": [parts.hostname or "127.0.0.1"]},
            "users": [user], "load": {"users": 1, "spawn_rate": 1, "duration": "30s"}, "checks": ["error_rate < 1%"]}


def write_openapi_scenario(spec_file: str, out: str, name: str, host: str | None = None, force: bool = False) -> dict:
    """Read the spec (YAML or JSON), write its skeleton to ``out`` atomically after checking it validates."""
    from pathlib import Path

    import yaml

    from ..files import atomic_write
    from .read import parse_scenario

    target = Path(out)
    if target.exists() and not force:
        raise ConfigError(f"{out}: exists; give another -o or --force to replace it")
    try:
        text = Path(spec_file).read_text(encoding="utf-8")
        spec = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"cannot read {spec_file}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{spec_file}: not YAML or JSON: {str(exc).splitlines()[0]}") from None
    scenario = openapi_to_scenario(spec, name, spec_file, host)
    body = ("# made by loadkit scenario from-openapi: a skeleton, one request per operation; edit the values\n"
            + yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True, width=110))
    parse_scenario(body, str(target))
    atomic_write(target, body)
    return scenario
