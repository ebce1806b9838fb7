"""Reading YAML so that every value keeps its line: the basis of one-line, located errors.

Only ``yaml.SafeLoader`` is used: scenarios are data, never code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import ConfigError, Problem

__all__ = ["Source", "Path", "load_yaml", "key_path"]

Path = tuple[str | int, ...]


def key_path(path: Path) -> str:
    return ".".join(str(p) for p in path)


@dataclass
class Source:
    """A parsed YAML document, the line of each key path, and the problems found so far."""

    file: str
    data: Any
    lines: dict[Path, int]
    problems: list[Problem] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # values interpolated from the environment

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
