"""Reading a scenario: YAML with lines, ``${VAR}`` interpolation, ``--set`` overrides, ``--host``, validation.

Every problem of a file is collected (file, line, key path, what was expected) and raised
together as one :class:`~loadkit.errors.ConfigError`, so a user fixes them in one pass.
Interpolation happens after parsing, so line numbers stay right and a value cannot inject YAML.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

import yaml

from ..errors import ConfigError, Problem
from .model import Scenario
from .schema import Builder
from .source import Path, Source, load_yaml

__all__ = ["load_scenario", "parse_scenario", "interpolate", "apply_overrides"]

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_scenario(
    file: str, overrides: list[str] | None = None, host: str | None = None, env: Mapping[str, str] | None = None
) -> Scenario:
    """Read, interpolate, override and validate a scenario file. Raises :class:`ConfigError`."""
    try:
        raw = FsPath(file).read_bytes()
    except OSError as exc:
        raise ConfigError(problems=[Problem(file, None, "", f"cannot read scenario: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(problems=[Problem(file, None, "", "not a UTF-8 text file; expected a YAML scenario")]) from None
    return parse_scenario(text, file, overrides or [], host, os.environ if env is None else env)


def parse_scenario(
    text: str, file: str = "<scenario>", overrides: list[str] | None = None, host: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Scenario:
    env = env or {}
    src = load_yaml(file, text)
    if not isinstance(src.data, dict):
        src.error((), "expected a mapping with keys name, target, users, load (see docs/scenarios.md)")
        src.raise_if_problems()
    interpolate(src, env)
    apply_overrides(src, list(overrides or []))
    if host is not None:
        src.data.setdefault("target", {})
        if isinstance(src.data["target"], dict):
            src.data["target"]["host"] = host
    base_dir = FsPath(file).resolve().parent
    scenario = Builder(src, env, base_dir).scenario(text, overrides or [])
    src.raise_if_problems()
    if scenario is None:  # every path that gives up records why; this is a guard, not a message
        raise ConfigError(problems=[Problem(file, None, "", "the scenario is incomplete (see docs/scenarios.md)")])
    return scenario


#: Where a value from the environment is an address to show, not a secret to mask (credentials and
#: query strings of URLs are stripped wherever they are shown anyway).
_VISIBLE = (("target", "host"), ("target", "allowed_hosts"))


def interpolate(src: Source, env: Mapping[str, str]) -> None:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string value, in place (``$$`` is a ``$``).

    Every value taken from the environment is recorded in ``src.secrets`` (outside ``target.host``
    and ``target.allowed_hosts``): loadkit masks it in everything it writes.
    """

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
                if not any(path[: len(v)] == v for v in _VISIBLE):
                    src.secrets.append(env[name])
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
