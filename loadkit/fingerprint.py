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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from .redact import is_secret_key, mask_tree, mask_value, redact
from .scenario.model import EnvironmentSpec

__all__ = ["EnvironmentSpec", "Fingerprint", "Change", "collect_fingerprint", "drift", "flatten", "mask"]


@dataclass(frozen=True)
class Fingerprint:
    values: dict[str, str]
    hash: str
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"hash": self.hash, "values": self.values, "errors": list(self.errors)}


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


def mask(key: str, value: str) -> str:
    """Secret-looking keys become ``***`` plus a digest (changes stay visible); URLs lose credentials."""
    if is_secret_key(key):
        return mask_value(value)
    return redact(value)


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


def collect_fingerprint(spec: EnvironmentSpec, pairs: Mapping[str, str], env: Mapping[str, str],
                        read_file: Callable[[str], bytes], fetch_url: Callable[[str], bytes],
                        base_url: str = "") -> Fingerprint:
    """Read every source; a source that fails is listed in ``errors`` (the fingerprint is then partial).

    Keys name sources as the scenario writes them (``/config#cache``), so the same setting
    has the same key whichever host or port the target runs on.
    """
    values: dict[str, str] = {}
    errors: list[str] = []
    for path in spec.files:
        try:
            values.update({f"{path}#{k}": v for k, v in _parse_document(path, read_file(path)).items()})
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror or exc}")
    for url in spec.urls:
        shown = redact(url)
        try:
            full = base_url + url if url.startswith("/") else url
            values.update({f"{shown}#{k}": v for k, v in _parse_document(url, fetch_url(full)).items()})
        except Exception as exc:  # any network or HTTP failure: recorded, never fatal
            errors.append(f"{shown}: {redact(str(exc))}")
    for name in spec.env:
        if name in env:
            values[f"env#{name}"] = env[name]
    for k, v in pairs.items():
        values[f"cli#{k}"] = v
    masked = {k: mask(k, v) for k, v in sorted(values.items())
              if not any(fnmatch.fnmatchcase(k, pattern) for pattern in spec.ignore)}
    digest = hashlib.sha256(json.dumps(masked, sort_keys=True).encode()).hexdigest()
    return Fingerprint(masked, digest, tuple(errors))


def drift(old: Mapping[str, str], new: Mapping[str, str]) -> list[Change]:
    """Every key whose value differs, appeared or disappeared, sorted by key."""
    keys = sorted(set(old) | set(new))
    return [Change(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]
