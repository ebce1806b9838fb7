"""Reading YAML so that every value keeps its line: the basis of one-line, located errors.

Only ``yaml.SafeLoader`` is used: scenarios are data, never code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import ConfigError, Problem

__all__ = ["Source", "Path", "load_yaml", "key_path", "MAX_BYTES", "MAX_VALUES", "MAX_DEPTH"]

Path = tuple[str | int, ...]
#: Limits that keep a hostile or broken file from holding ``validate`` for minutes: a file larger than
#: this, a document of more values than this once its aliases are expanded, or nested deeper.
MAX_BYTES = 16 * 2**20
MAX_VALUES = 2_000_000
MAX_DEPTH = 64


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


def _measure(node: yaml.Node, memo: dict[int, tuple[int, int]], seen: set[int]) -> tuple[int, int]:
    """(values once aliases are expanded, depth) of ``node``, each node measured once (linear in the file)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in seen:  # a recursive alias: infinitely large
        return MAX_VALUES + 1, MAX_DEPTH + 1
    seen.add(key)
    if isinstance(node, yaml.MappingNode):
        children = [c for pair in node.value for c in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    size, depth = 1, 0
    for child in children:
        n, d = _measure(child, memo, seen)
        size, depth = min(size + n, MAX_VALUES + 1), max(depth, d)
    memo[key] = (size, depth + 1)
    return memo[key]


def _check_size(file: str, node: yaml.Node) -> None:
    memo: dict[int, tuple[int, int]] = {}
    size, depth = _measure(node, memo, set())
    if size > MAX_VALUES:
        raise ConfigError(problems=[Problem(file, None, "", (
            f"the document holds more than {MAX_VALUES:,} values once its YAML aliases are expanded "
            f"({len(memo):,} written); a scenario is never that large (an alias bomb?)"))])
    if depth > MAX_DEPTH:
        raise ConfigError(problems=[Problem(file, None, "", f"values nested more than {MAX_DEPTH} levels deep; "
                                                              "expected a scenario (see docs/scenarios.md)")])


def load_yaml(file: str, text: str) -> Source:
    """Parse ``text``; a syntax error, or a document too large or too deep, becomes one located :class:`ConfigError`."""
    if "\x00" in text:
        raise ConfigError(problems=[Problem(file, None, "", "not a text file (binary content); expected a YAML scenario")])
    if len(text) > MAX_BYTES:
        raise ConfigError(problems=[Problem(file, None, "", f"{len(text):,} characters: a scenario is at most "
                                                              f"{MAX_BYTES:,}")])
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_size(file, node)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except RecursionError:
        raise ConfigError(problems=[Problem(file, None, "", f"values nested more than {MAX_DEPTH} levels deep")]) from None
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
