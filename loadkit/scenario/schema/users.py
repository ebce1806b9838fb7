"""Scenario sections ``target:`` and ``users:``: hosts, credentials, Locust classes, YAML users and their requests."""

from __future__ import annotations

import csv
import re
from typing import Any

from ...hosts import LOOPBACK, AllowList
from ..locustfile import locust_class_problem
from ..model import Auth, LocustUserRef, Request, Target, Var, Wait, YamlUser
from ..source import Path
from .flow import FlowSection, Names
from .reader import _kind, _strings

_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][\w]*)(?:\.([\w-]+))?\}(?!\})")


class UsersSection(FlowSection):
    """``target:`` and ``users:``: who sends which requests where, and with what credentials."""

    #: the hosts a locustfile's top-level code may connect to while it is imported (``target.allowed_hosts``)
    allowed_hosts: tuple[str, ...] = LOOPBACK

    def target(self, value: Any, path: Path) -> Target | None:
        d = self.mapping(value, path, {"host", "allowed_hosts", "headers", "auth"}, {"host"})
        if d is None or "host" not in d:
            return None
        host = self.string(d["host"], path + ("host",)) or ""
        allowed_raw = d.get("allowed_hosts", list(LOOPBACK))
        if not isinstance(allowed_raw, list) or not all(isinstance(h, str) for h in allowed_raw):
            self.err(path + ("allowed_hosts",), f"expected a list of host names, got {_kind(allowed_raw)}")
            allowed_raw = []
        allowed = tuple(h.lower() for h in allowed_raw)
        self.allowed_hosts = allowed  # locustfiles imported from here on connect only to these
        reason = AllowList(allowed).url_problem(host) if host else "expected a URL"
        if not reason and ("?" in host or "#" in host):
            reason = ("expected scheme://host:port (and a base path at most): a query string or fragment does not "
                      "belong in target.host; put it in the requests' paths")
        if reason:
            self.err(path + ("host",), reason)
        return Target(host.rstrip("/"), allowed, self.headers(d.get("headers"), path + ("headers",)),
                      self.auth(d.get("auth"), path + ("auth",)))

    def auth(self, value: Any, path: Path) -> Auth | None:
        if value is None:
            return None
        d = self.mapping(value, path, {"basic", "bearer"})
        if d is None:
            return None
        if len(d) != 1:
            self.err(path, "expected exactly one of 'basic' or 'bearer'")
            return None
        if "bearer" in d:
            b = self.mapping(d["bearer"], path + ("bearer",), {"token_env"}, {"token_env"})
            token = self._secret(b, "token_env", path + ("bearer",)) if b else None
            return Auth("bearer", "", token) if token is not None else None
        b = self.mapping(d["basic"], path + ("basic",), {"username_env", "password_env"}, {"username_env", "password_env"})
        if not b:
            return None
        user = self._secret(b, "username_env", path + ("basic",))
        password = self._secret(b, "password_env", path + ("basic",))
        return Auth("basic", user, password) if user is not None and password is not None else None

    def _secret(self, d: dict, key: str, path: Path) -> str | None:
        if key not in d:
            return None
        name = str(d[key])
        if name not in self.env:
            self.err(path + (key,), f"environment variable {name} is not set (credentials come only from the environment)")
            return None
        return self.env[name]

    def users(self, value: Any, path: Path) -> tuple[YamlUser | LocustUserRef, ...]:
        if not isinstance(value, list) or not value:
            self.err(path, f"expected a non-empty list of users, got {_kind(value)}")
            return ()
        out: list[YamlUser | LocustUserRef] = []
        names: set[str] = set()
        for i, item in enumerate(value):
            p = path + (i,)
            user = self.locust_user(item, p) if isinstance(item, dict) and "locust" in item else self.yaml_user(item, p)
            if isinstance(user, YamlUser):
                if user.name in names:
                    self.err(p + ("name",), f"duplicate user name {user.name!r}")
                names.add(user.name)
            if user is not None:
                out.append(user)
        return tuple(out)

    def locust_user(self, value: dict, path: Path) -> LocustUserRef | None:
        """``locust: FILE.py:Class`` or ``locust: {class: FILE.py:Class, options: {...}}``, with weight and timeout."""
        d = self.mapping(value, path, {"locust", "weight", "timeout", "options"}, {"locust"})
        if d is None:
            return None
        spec, options = d["locust"], d.get("options")
        if isinstance(spec, dict):
            inner = self.mapping(spec, path + ("locust",), {"class", "options"}, {"class"})
            if inner is None or "class" not in inner:
                return None
            spec, options = inner["class"], inner.get("options", options)
        ref = self.string(spec, path + ("locust",))
        weight = self.number(d["weight"], path + ("weight",), 1, integer=True, maximum=1e6) if "weight" in d else None
        timeout = self.timeout(d["timeout"], path + ("timeout",)) if "timeout" in d else None
        if options is not None and not (isinstance(options, dict) and all(
                isinstance(k, str) and isinstance(v, (str, int, float, bool, list)) for k, v in options.items())):
            self.err(path + ("locust", "options"), "expected a mapping of the locustfile's option names to values "
                                                    "(as its init_command_line_parser adds them)")
            return None
        if not ref:
            return None
        file, sep, cls = ref.rpartition(":")
        if not sep or not file or not cls:
            self.err(path + ("locust",), f"expected FILE.py:ClassName, got {ref!r}")
            return None
        resolved = self.resolve_file(file)
        if resolved is None:
            self.err(path + ("locust",), f"Locust file {file!r} not found (beside the scenario, in a folder above it, or in the current directory)")
            return None
        reason = locust_class_problem(str(resolved), cls, self.allowed_hosts)
        if reason:
            self.err(path + ("locust",), reason)
            return None
        return LocustUserRef(str(resolved), cls, None if weight is None else int(weight), timeout,
                             tuple(sorted((options or {}).items())))


    def yaml_user(self, value: Any, path: Path) -> YamlUser | None:
        d = self.mapping(value, path, {"name", "weight", "wait", "requests", "flow", "vars", "headers", "auth",
                                       "timeout"}, {"name"})
        if d is None:
            return None
        if ("requests" in d) == ("flow" in d):
            self.err(path, "expected exactly one of 'requests' (one picked at random per iteration) or 'flow' "
                           "(steps in order, once per iteration)")
            return None
        name = self.string(d.get("name"), path + ("name",)) if "name" in d else None
        weight = self.number(d.get("weight", 1), path + ("weight",), 1, integer=True, maximum=1e6)
        wait = self.wait(d.get("wait", {"constant": 0}), path + ("wait",))
        variables = self.variables(d.get("vars") or {}, path + ("vars",))
        known = {v.name: v for v in variables}
        flow = ()
        if "flow" in d:
            flow = self.flow(d["flow"], path + ("flow",), known)
            requests = () if flow is not None else None
        else:
            requests = self.requests(d.get("requests"), path + ("requests",), known)
        headers = self.headers(d.get("headers"), path + ("headers",))
        self.placeholders(headers, path + ("headers",), {v.name: v for v in variables})
        auth = self.auth(d.get("auth"), path + ("auth",))
        timeout = self.timeout(d["timeout"], path + ("timeout",)) if "timeout" in d else None
        if name is None or weight is None or wait is None or requests is None or flow is None:
            return None
        return YamlUser(name, int(weight), wait, requests, variables, headers, auth, timeout, flow)

    def wait(self, value: Any, path: Path) -> Wait | None:
        d = self.mapping(value, path, {"between", "constant", "pacing"})
        if d is None:
            return None
        if len(d) != 1:
            self.err(path, "expected exactly one of between: [MIN, MAX], constant: SECONDS, pacing: SECONDS")
            return None
        kind, arg = next(iter(d.items()))
        if kind == "between":
            if not isinstance(arg, list) or len(arg) != 2:
                self.err(path + ("between",), f"expected [MIN, MAX] in seconds, got {_kind(arg)}")
                return None
            lo, hi = (self.duration(a, path + ("between", i)) for i, a in enumerate(arg))
            if lo is None or hi is None:
                return None
            if lo > hi:
                self.err(path + ("between",), f"expected MIN <= MAX, got [{lo:g}, {hi:g}]")
                return None
            return Wait("between", lo, hi)
        seconds = self.duration(arg, path + (kind,))
        return None if seconds is None else Wait(kind, seconds)

    def variables(self, value: Any, path: Path) -> tuple[Var, ...]:
        if not isinstance(value, dict):
            self.err(path, f"expected a mapping of variable names to generators, got {_kind(value)}")
            return ()
        out = []
        for name, spec in value.items():
            p = path + (name,)
            if not re.fullmatch(r"[A-Za-z_]\w*", str(name)):
                self.err(p, "expected a variable name of letters, digits and '_'")
                continue
            var = self.variable(str(name), spec, p)
            if var is not None:
                out.append(var)
        return tuple(out)

    def variable(self, name: str, spec: Any, path: Path) -> Var | None:
        d = self.mapping(spec, path, {"choice", "randint", "uuid", "csv", "order"})
        if d is None:
            return None
        kinds = [k for k in ("choice", "randint", "uuid", "csv") if k in d]
        if len(kinds) != 1:
            self.err(path, "expected exactly one of choice: [...], randint: [LO, HI], uuid: true, csv: FILE")
            return None
        kind = kinds[0]
        if "order" in d and kind != "csv":
            self.err(path + ("order",), "'order' applies only to csv variables")
        arg = d[kind]
        if kind == "choice":
            if not isinstance(arg, list) or not arg:
                self.err(path + ("choice",), f"expected a non-empty list, got {_kind(arg)}")
                return None
            return Var(name, kind, tuple(arg))
        if kind == "randint":
            if not (isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, int) and not isinstance(a, bool) for a in arg)
                    and arg[0] <= arg[1]):
                self.err(path + ("randint",), f"expected [LO, HI] whole numbers with LO <= HI, got {arg!r}")
                return None
            return Var(name, kind, (arg[0], arg[1]))
        if kind == "uuid":
            if arg is not True:
                self.err(path + ("uuid",), f"expected uuid: true, got {arg!r}")
                return None
            return Var(name, kind)
        order = d.get("order", "random")
        if order not in ("random", "sequential"):
            self.err(path + ("order",), f"expected random or sequential, got {order!r}")
            return None
        return self.csv_var(name, arg, order, path + ("csv",))

    def csv_var(self, name: str, file: Any, order: str, path: Path) -> Var | None:
        resolved = self.resolve_file(str(file))
        if resolved is None:
            self.err(path, f"data file {file!r} not found (beside the scenario, in a folder above it, or in the current directory)")
            return None
        try:
            with open(resolved, newline="", encoding="utf-8") as fh:
                rows = tuple(dict(r) for r in csv.DictReader(fh))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            self.err(path, f"cannot read data file {file!r}: {exc}")
            return None
        if not rows:
            self.err(path, f"data file {file!r} has a header but no rows; expected at least one row")
            return None
        return Var(name, "csv", rows, order)

    def requests(self, value: Any, path: Path, variables: dict[str, Var]) -> tuple[Request, ...] | None:
        if not isinstance(value, list) or not value:
            self.err(path, f"expected a non-empty list of requests, got {_kind(value)}")
            return None
        out = []
        for i, item in enumerate(value):
            r = self.request(item, path + (i,), variables)
            if r is not None:
                out.append(r)
        if out and len(out) == len(value) and sum(r.weight for r in out) <= 0:
            self.err(path, "every request has weight 0: at least one needs a weight above 0")
            return None
        seen: set[tuple[str, str]] = set()
        for i, r in enumerate(out):
            if (r.method, r.name) in seen:
                self.err(path + (i, "name"), f"duplicate request {r.method} {r.name!r} (give it another name)")
            seen.add((r.method, r.name))
        return tuple(out) if len(out) == len(value) else None

    def request(self, value: Any, path: Path, variables: dict[str, Var], names: Names | None = None) -> Request | None:
        """A request of ``requests:``, or a flow step when ``names`` (the values extracted so far) is given."""
        keys = {"name", "method", "path", "weight", "headers", "json", "data", "expect", "timeout", "group"}
        d = self.mapping(value, path, keys | {"extract"} if names is not None else keys, {"path"})
        if d is None or "path" not in d:
            return None
        url_path = self.string(d["path"], path + ("path",))
        starts_with_value = url_path is not None and bool(_PLACEHOLDER.match(url_path))  # e.g. "{cart_url}"
        if url_path is not None and not url_path.startswith("/") and not starts_with_value:
            self.err(path + ("path",), f"expected a path starting with '/', got {url_path!r} (the host comes from target.host)")
        method = str(d.get("method", "GET")).upper()
        if method not in _METHODS:
            self.err(path + ("method",), f"expected one of {', '.join(sorted(_METHODS))}, got {d.get('method')!r}")
        weight = self.number(d.get("weight", 1), path + ("weight",), 0, maximum=1e6)
        if "json" in d and "data" in d:
            self.err(path, "give either json or data, not both")
        if "data" in d and not isinstance(d["data"], str):
            self.err(path + ("data",), f"expected a string body (use json: for structured data), got {_kind(d['data'])}")
        if "json" in d:
            self.json_body(d["json"], path + ("json",))
        headers = self.headers(d.get("headers"), path + ("headers",))
        expect = self.expect(d.get("expect"), path + ("expect",))
        name = str(d.get("name") or url_path)  # as Locust names a request: by its path
        for key, val in (("path", url_path), ("headers", headers), ("json", d.get("json")), ("data", d.get("data"))):
            self.placeholders(val, path + (key,), variables, names)
        group = self.group(d["group"], path + ("group",)) if "group" in d else None
        extract = self.extractions(d["extract"], path + ("extract",), variables, names) if "extract" in d else ()
        if url_path is None or weight is None or expect is None:
            return None
        data = None if d.get("data") is None else str(d["data"])
        timeout = self.timeout(d["timeout"], path + ("timeout",)) if "timeout" in d else None
        return Request(name, method, url_path, weight, headers, d.get("json"), data, expect, timeout, group, extract)

    def json_body(self, value: Any, path: Path) -> None:
        """A ``json:`` body must be JSON: YAML dates, times and binary values are not (quote them)."""
        bad = _not_json(value)
        if bad is not None:
            where, what = bad
            self.err(path + where, f"{what} is not a JSON value; quote it (e.g. \"2024-01-01\") to send it as text")

    def placeholders(self, value: Any, path: Path, variables: dict[str, Var], names: Names | None = None) -> None:
        """Every ``{name}`` must be a variable of the user or, in a flow, a value an earlier step extracted."""
        for text in _strings(value):
            for m in _PLACEHOLDER.finditer(text):
                name, col = m.group(1), m.group(2)
                var = variables.get(name)
                if var is None and names is not None and names.problem(name, col):
                    self.err(path, names.problem(name, col))
                elif var is None and names is not None and name in names.defined:
                    continue
                elif var is None:
                    known = ", ".join(sorted(variables)) or "none defined"
                    got = "" if names is None else f"; extracted by earlier steps: {', '.join(sorted(names.defined)) or 'none'}"
                    self.err(path, f"unknown variable {{{name}}} (vars of this user: {known}{got})")
                elif var.kind != "csv" and col is not None:
                    self.err(path, f"{{{name}.{col}}}: only csv variables have columns; {{{name}}} is a {var.kind} variable")
                elif var.kind == "csv" and col is not None and col not in var.values[0]:
                    self.err(path, f"data file of {{{name}}} has no column {col!r} (columns: {', '.join(var.values[0])})")
                elif var.kind == "csv" and col is None:
                    self.err(path, f"{{{name}}} is a csv row: write {{{name}.COLUMN}}")


def _not_json(value: Any, where: tuple = ()) -> tuple[tuple, str] | None:
    """(path, what) of the first value under ``value`` that JSON cannot hold, or None."""
    import datetime
    import math

    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return where + (k,), f"the key {k!r} ({type(k).__name__})"
            hit = _not_json(v, where + (k,))
            if hit:
                return hit
    elif isinstance(value, list):
        for i, v in enumerate(value):
            hit = _not_json(v, where + (i,))
            if hit:
                return hit
    elif isinstance(value, (datetime.date, datetime.datetime)):
        return where, f"a YAML date/time {value}"
    elif isinstance(value, bytes):
        return where, "a YAML binary value"
    elif isinstance(value, float) and not math.isfinite(value):
        return where, f"the number {value}"
    elif value is not None and not isinstance(value, (str, int, float, bool)):
        return where, f"a {type(value).__name__}"
    return None
