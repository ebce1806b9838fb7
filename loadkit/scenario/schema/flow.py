"""``flow:`` of a YAML user: steps in order, think times, repeated blocks, extractions and expectations.

Checked in the order the steps run, so a value used before the step that extracts it is found here,
before a request is sent, and named with the step that would define it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ..extract import compile_jsonpath, parse_extract
from ..model import Expect, Extract, Repeat, Request, Step, Think, Var, Wait, flow_requests
from ..source import Path, key_path
from .reader import Reader, _kind

__all__ = ["FlowSection", "Names", "JSON_WORDS"]

#: the JSON expectations that are not an equality: the path matches and the value is not empty / the path matches
JSON_WORDS = ("non-empty", "exists")
_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class Names:
    """The values a flow has extracted up to a step, and those it extracts only later (for the message)."""

    def __init__(self, later: dict[str, str]):
        self.defined: set[str] = set()
        self.later = later  # name -> where it is extracted, e.g. "step 'login' (users.0.flow.0)"

    def problem(self, name: str, col: str | None) -> str | None:
        if name in self.defined:
            return f"{{{name}.{col}}}: {{{name}}} is an extracted value, it has no columns" if col else None
        if name in self.later:
            return f"{{{name}}} is used before it is extracted: {self.later[name]} defines it later in the flow"
        return None


class FlowSection(Reader):
    """The flow of a YAML user (``request`` and ``placeholders`` come from the users section)."""

    def flow(self, value: Any, path: Path, variables: dict[str, Var]) -> tuple[Step, ...] | None:
        if not isinstance(value, list) or not value:
            self.err(path, f"expected a non-empty list of steps, got {_kind(value)}")
            return None
        later: dict[str, str] = {}
        for where, name, step in _extractions_of(value, path):
            later.setdefault(name, f"step {step!r} ({key_path(where)})")
        names = Names(later)
        steps = self.steps(value, path, variables, names)
        if steps is None:
            return None
        self.flow_names(tuple(flow_requests(steps)), path)
        if not any(True for _ in flow_requests(steps)):
            self.err(path, "a flow needs at least one request")
            return None
        return steps

    def steps(self, value: list, path: Path, variables: dict[str, Var], names: Names,
              group: str | None = None) -> tuple[Step, ...] | None:
        out: list[Step] = []
        ok = True
        for i, item in enumerate(value):
            step = self.step(item, path + (i,), variables, names, group)
            ok = ok and step is not None
            if step is not None:
                out.append(step)
        return tuple(out) if ok else None

    def step(self, item: Any, path: Path, variables: dict[str, Var], names: Names, group: str | None) -> Step | None:
        if isinstance(item, dict) and "think" in item:
            d = self.mapping(item, path, {"think"})
            wait = self.think(d["think"], path + ("think",)) if d else None
            return None if wait is None else Think(wait)
        if isinstance(item, dict) and ("repeat" in item or "steps" in item):
            d = self.mapping(item, path, {"repeat", "steps", "group"}, {"repeat", "steps"})
            if d is None or "repeat" not in d or "steps" not in d:
                return None
            count = self.number(d["repeat"], path + ("repeat",), 1, integer=True, maximum=10_000)
            inner = self.group(d["group"], path + ("group",)) if "group" in d else group
            if not isinstance(d["steps"], list) or not d["steps"]:
                self.err(path + ("steps",), f"expected a non-empty list of steps, got {_kind(d['steps'])}")
                return None
            steps = self.steps(d["steps"], path + ("steps",), variables, names, inner)
            return None if count is None or steps is None else Repeat(int(count), steps)
        request: Request | None = self.request(item, path, variables, names)  # type: ignore[attr-defined]
        if request is None:
            return None
        names.defined.update(e.name for e in request.extract)
        if request.group is None and group is not None:
            request = _with_group(request, group)
        if isinstance(item, dict) and "weight" in item:
            self.err(path + ("weight",), "flow steps run in order, each once: 'weight' applies to requests: lists")
        return request

    def think(self, value: Any, path: Path) -> Wait | None:
        """``think: 2s`` or ``{between: [1s, 3s]}`` or ``{constant: 2s}``."""
        if not isinstance(value, dict):
            seconds = self.duration(value, path)
            return None if seconds is None else Wait("constant", seconds)
        if "pacing" in value:
            self.err(path + ("pacing",), "a think time is a pause: expected between: [MIN, MAX] or constant: SECONDS")
            return None
        return self.wait(value, path)  # type: ignore[attr-defined]

    def group(self, value: Any, path: Path) -> str | None:
        name = self.string(value, path)
        if name is not None and not _GROUP.fullmatch(name):
            self.err(path, f"expected a group name of letters, digits, '-', '_' or '.', got {name!r}")
            return None
        return name

    def flow_names(self, requests: tuple[Request, ...], path: Path) -> None:
        """Steps may share a name (their statistics merge), but not with different groups."""
        group_of: dict[str, str | None] = {}
        for r in requests:
            if r.name in group_of and group_of[r.name] != r.group:
                self.err(path, f"steps named {r.name!r} belong to different groups ({group_of[r.name]} and "
                               f"{r.group}); give them different names")
            group_of.setdefault(r.name, r.group)

    def extractions(self, value: Any, path: Path, variables: dict[str, Var], names: Names | None) -> tuple[Extract, ...]:
        if not isinstance(value, dict) or not value:
            self.err(path, f'expected a mapping of variable names to sources (token: "json:$.token"), got {_kind(value)}')
            return ()
        out = []
        for name, spec in value.items():
            p = path + (name,)
            if not re.fullmatch(r"[A-Za-z_]\w*", str(name)):
                self.err(p, "expected a variable name of letters, digits and '_'")
                continue
            if str(name) in variables:
                self.err(p, f"{name!r} is already a variable of this user (vars:); give the extracted value another name")
                continue
            try:
                out.append(parse_extract(str(name), spec))
            except ValueError as exc:
                self.err(p, str(exc))
        return tuple(out)

    def expect(self, value: Any, path: Path) -> Expect | None:
        if value is None:
            return Expect()
        d = self.mapping(value, path, {"status", "contains", "body_contains", "body_not_contains", "json",
                                       "max_latency"})
        if d is None:
            return None
        status = d.get("status", [])
        status = status if isinstance(status, list) else [status]
        if not all(isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in status):
            self.err(path + ("status",), f"expected an HTTP status code or a list of them, got {d.get('status')!r}")
            return None
        if "contains" in d and "body_contains" in d:
            self.err(path, "give body_contains or its older name contains, not both")
        contains = self.texts(d.get("body_contains", d.get("contains")), path + ("body_contains",))
        not_contains = self.texts(d.get("body_not_contains"), path + ("body_not_contains",))
        checks: list[tuple[str, Any]] = []
        if "json" in d:
            if not isinstance(d["json"], dict) or not d["json"]:
                self.err(path + ("json",), f'expected a mapping of JSONPaths to values ("$.items": non-empty), '
                                           f"got {_kind(d['json'])}")
            else:
                for jp, want in d["json"].items():
                    try:
                        compile_jsonpath(str(jp))
                        checks.append((str(jp), want))
                    except ValueError as exc:
                        self.err(path + ("json", jp), str(exc))
        latency = self.timeout(d["max_latency"], path + ("max_latency",)) if "max_latency" in d else None
        if contains is None or not_contains is None:
            return None
        return Expect(tuple(status), contains, not_contains, tuple(checks), latency)

    def texts(self, value: Any, path: Path) -> tuple[str, ...] | None:
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in items):
            self.err(path, f"expected a text or a list of texts, got {_kind(value)}")
            return None
        return tuple(str(v) for v in items)


def _with_group(request: Request, group: str) -> Request:
    return replace(request, group=group)


def _extractions_of(value: list, path: Path):
    """(path, name, step name) of every extraction in the raw flow, in order, nested blocks included."""
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("steps"), list):
            yield from _extractions_of(item["steps"], path + (i, "steps"))
        elif isinstance(item.get("extract"), dict):
            step = str(item.get("name") or item.get("path"))
            for name in item["extract"]:
                yield path + (i, "extract", name), str(name), step
