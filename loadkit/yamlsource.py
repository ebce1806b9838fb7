"""Reading YAML so that every value keeps its line: the basis of one-line, located errors.

Only ``yaml.SafeLoader`` is used: scenarios are data, never code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import ConfigError, Problem

__all__ = ["Source", "load_yaml", "interpolate", "apply_overrides", "key_path"]

Path = tuple[str | int, ...]
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def key_path(path: Path) -> str:
    return ".".join(str(p) for p in path)


@dataclass
class Source:
    """A parsed YAML document, the line of each key path, and the problems found so far."""

    file: str
    data: Any
    lines: dict[Path, int]
    problems: list[Problem] = field(default_factory=list)

    def line(self, path: Path) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def error(self, path: Path, message: str) -> None:
        self.problems.append(Problem(self.file, self.line(path), key_path(path), message))

    def raise_if_problems(self) -> None:
        if self.problems:
            raise ConfigError(problems=self.problems)


def load_yaml(file: str, text: str) -> Source:
    """Parse ``text``; a syntax error becomes one located :class:`ConfigError`."""
    if "\x00" in text:
        raise ConfigError(problems=[Problem(file, None, "", "not a text file (binary content); expected a YAML scenario")])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = exc.problem or str(exc)
        raise ConfigError(problems=[Problem(file, line, "", f"invalid YAML: {what} (check indentation and quoting)")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(problems=[Problem(file, None, "", f"invalid YAML: {exc}")]) from None
    lines: dict[Path, int] = {}
    if node is not None:
        _index(node, (), lines)
    return Source(file, data, lines)


def _index(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            lines[path + (k,)] = key.start_mark.line + 1
            _index(value, path + (k,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, path + (i,), lines)


def interpolate(src: Source, env: Mapping[str, str]) -> None:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string value, in place (``$$`` is a ``$``)."""

    def walk(value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, path + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, path + (i,)) for i, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            return _substitute(value, path)
        return value

    def _substitute(text: str, path: Path) -> str:
        def repl(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name, default = m.group(1), m.group(2)
            if name in env and env[name] != "":
                return env[name]
            if default is not None:
                return default
            src.error(path, f"environment variable {name} is not set (export it, or write ${{{name}:-default}})")
            return ""

        return _VAR.sub(repl, text)

    src.data = walk(src.data, ())


def apply_overrides(src: Source, overrides: list[str]) -> None:
    """Apply ``--set a.b.1.c=VALUE`` overrides (VALUE is read as YAML, so ``80`` is a number)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(problems=[Problem("--set", None, item, "expected KEY.PATH=VALUE, e.g. load.stages.1.users=80")])
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parts = key.strip().split(".")
        node = src.data
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(problems=[Problem("--set", None, key, f"{where}: no such list item (the list has {len(node)})")])
                idx = int(part)
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                raise ConfigError(problems=[Problem("--set", None, key, f"{where}: cannot set a key inside a {type(node).__name__}")])
