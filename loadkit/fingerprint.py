"""The environment fingerprint: the target's configuration, recorded with every run.

A release that passes in staging and falls over in production often differs in a setting
nobody noticed. Every run records where the target's configuration comes from (files, a
URL returning JSON such as the stand-in's ``/config``, ``--env-var KEY=VALUE`` pairs from
CI), flattened to ``source#dotted.key`` → value, with a hash; the verdict lists every key
that changed since the baseline beside the performance changes. Secret-looking keys are
masked to a short digest, so a change is still seen but the value never is.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from .parity import FORMAT, SourceKind, mask, values_hash
from .redact import mask_tree, redact
from .scenario.model import EnvironmentSpec

__all__ = ["EnvironmentSpec", "Fingerprint", "Change", "collect_fingerprint", "drift", "flatten", "mask",
           "command_source"]


@dataclass(frozen=True)
class Fingerprint:
    values: dict[str, str]
    hash: str
    errors: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)  # source name → SourceKind: how keys align (parity)

    def to_json(self) -> dict:
        return {"format": FORMAT, "hash": self.hash, "values": self.values, "sources": self.sources,
                "errors": list(self.errors)}


@dataclass(frozen=True)
class Change:
    key: str
    old: str | None  # None: the key is new
    new: str | None  # None: the key is gone

    def to_json(self) -> dict:
        return {"key": self.key, "old": self.old, "new": self.new}


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """Nested JSON/YAML data as ``a.b.0.c`` → scalar rendered as JSON text."""
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix] = data if isinstance(data, str) else json.dumps(data)
    return out


def _parse_document(name: str, raw: bytes) -> dict[str, str]:
    text = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
    if isinstance(data, (dict, list)):
        return flatten(mask_tree(data))  # a subtree under a secret-looking key is masked whole
    pairs = {}
    for line in text.splitlines():  # KEY=VALUE files (.env, .properties)
        line = line.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            k, v = line.split("=", 1)
            pairs[k.strip()] = v.strip()
    return pairs or {"sha256": hashlib.sha256(raw).hexdigest()}


def command_source(command: str) -> tuple[str, str]:
    """``NAME=CMD`` → (NAME, CMD); a bare command is its own source, ``$ CMD``."""
    name, sep, rest = command.partition("=")
    if sep and rest.strip() and name.replace("-", "_").replace(".", "_").isidentifier():
        return name, rest.strip()
    return f"$ {command.strip()}", command.strip()


def collect_fingerprint(spec: EnvironmentSpec, pairs: Mapping[str, str], env: Mapping[str, str],
                        read_file: Callable[[str], bytes], fetch_url: Callable[[str], bytes],
                        base_url: str = "", commands: Sequence[str] = (),
                        run_command: Callable[[str], bytes] | None = None) -> Fingerprint:
    """Read every source; a source that fails is listed in ``errors`` (the fingerprint is then partial).

    Keys name sources as the scenario writes them (``/config#cache``), so the same setting
    has the same key whichever host or port the target runs on. ``commands`` (``[NAME=]CMD``, for
    ``loadkit env capture``) are run by ``run_command``; their output is read as a file's would be.
    """
    values: dict[str, str] = {}
    errors: list[str] = []
    sources: dict[str, str] = {}
    for path in spec.files:
        try:
            values.update({f"{path}#{k}": v for k, v in _parse_document(path, read_file(path)).items()})
            sources[path] = SourceKind.FILE
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror or exc}")
    for url in spec.urls:
        shown = redact(url)
        try:
            full = base_url + url if url.startswith("/") else url
            values.update({f"{shown}#{k}": v for k, v in _parse_document(url, fetch_url(full)).items()})
            sources[shown] = SourceKind.URL
        except Exception as exc:  # any network or HTTP failure: recorded, never fatal
            errors.append(f"{shown}: {redact(str(exc))}")
    for command in commands:
        name, cmd = command_source(command)
        shown = redact(name)
        try:
            assert run_command is not None, "commands need run_command"
            values.update({f"{shown}#{k}": v for k, v in _parse_document(name, run_command(cmd)).items()})
            sources[shown] = SourceKind.COMMAND
        except (OSError, ValueError) as exc:  # not found, failed, timed out: recorded, never fatal
            errors.append(f"{shown}: {redact(str(exc))}")
    for name in spec.env:
        if name in env:
            values[f"env#{name}"] = env[name]
            sources["env"] = SourceKind.ENV
    for k, v in pairs.items():
        values[f"cli#{k}"] = v
        sources["cli"] = SourceKind.CLI
    masked = {k: mask(k, v) for k, v in sorted(values.items())
              if not any(fnmatch.fnmatchcase(k, pattern) for pattern in spec.ignore)}
    return Fingerprint(masked, values_hash(masked), tuple(errors), {k: str(v) for k, v in sources.items()})


def drift(old: Mapping[str, str], new: Mapping[str, str]) -> list[Change]:
    """Every key whose value differs, appeared or disappeared, sorted by key."""
    keys = sorted(set(old) | set(new))
    return [Change(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]
