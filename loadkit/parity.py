"""Staging–production parity: how the environment under test differs from a reference (production).

"p95 held in staging" means little if staging runs one replica, a smaller pool or a cache
production lacks. Pure: two flattened fingerprints (``source#key`` → value, as ``environment.json``
holds them) in, one :class:`ParityResult` out. Keys are aligned by what they read, not where: a URL
key by its path (``https://api.prod/config#pool_size`` is ``/config#pool_size``), a file key by the
file's name, variables, pairs and commands as named. ``map`` renames the reference's sources (or
single keys) to this environment's names; ``scale`` declares an intended ratio (this value =
reference × ratio) so a known difference is not reported as one; ``must_match`` keys must agree.

Also the one definition of the fingerprint document (its format version, its hash, its reader),
so a run's ``environment.json`` and a captured reference are the same thing and either can be
compared with the other.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError
from .redact import is_secret_key, mask_value, redact

__all__ = ["FORMAT", "ABSENT", "Gap", "ParityMode", "Reference", "ParitySpec", "ParityEntry", "ParityResult", "SourceKind",
           "values_hash", "mask", "align", "compare", "diff", "entry_text", "reference_from_json", "read_reference", "unmatched"]

#: The fingerprint document's format version: ``{"format", "hash", "values", "sources", "errors"}``.
FORMAT = 1
#: How a key that exists on one side only reads, in every output.
ABSENT = "(absent)"


class _StrEnum(str, Enum):
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class SourceKind(_StrEnum):
    """Where a fingerprint key was read: it decides how the key is aligned with another environment's."""

    URL = "url"
    FILE = "file"
    ENV = "env"
    CLI = "cli"
    COMMAND = "command"


class Gap(_StrEnum):
    """How a key of the reference and of this environment compare (equal keys are not listed)."""

    DIFFERENT = "different"
    ONLY_REFERENCE = "only in reference"
    ONLY_HERE = "only here"
    SCALED = "scaled as declared"


class ParityMode(_StrEnum):
    """What a ``must_match`` difference does to the verdict."""

    FAIL = "fail"
    WARN = "warn"


def values_hash(values: Mapping[str, str]) -> str:
    """The fingerprint's hash: SHA-256 of its (masked) values, so equal configurations hash equal."""
    return hashlib.sha256(json.dumps(dict(values), sort_keys=True).encode()).hexdigest()


def mask(key: str, value: str) -> str:
    """Secret-looking keys become ``***`` plus a digest (changes stay visible); URLs lose credentials."""
    if is_secret_key(key):
        return mask_value(value)
    return redact(value)


@dataclass(frozen=True)
class Reference:
    """A fingerprint read from a file (a captured reference, or a run's ``environment.json``)."""

    name: str  # as the scenario or the command line wrote it
    hash: str  # of the values as read (masked), whatever the file claims
    values: tuple[tuple[str, str], ...]
    sources: tuple[tuple[str, str], ...] = ()  # source → SourceKind value
    errors: tuple[str, ...] = ()  # sources that failed when it was captured

    @property
    def mapping(self) -> dict[str, str]:
        return dict(self.values)

    @property
    def short(self) -> str:
        return f"{self.name} ({self.hash[:12]})"

    def to_json(self) -> dict:
        """The document, as ``env capture`` writes it (plus the name it was read by)."""
        return {"format": FORMAT, "name": self.name, "hash": self.hash, "values": self.mapping,
                "sources": dict(self.sources), "errors": list(self.errors)}


@dataclass(frozen=True)
class ParitySpec:
    """The scenario's ``environment: {reference, must_match, scale, map, parity}``."""

    reference: Reference
    must_match: tuple[str, ...] = ()  # globs over aligned keys
    scale: tuple[tuple[str, float], ...] = ()  # glob → this value / the reference's
    map: tuple[tuple[str, str], ...] = ()  # reference source or key → this environment's
    mode: ParityMode = ParityMode.FAIL
    ignore: tuple[str, ...] = ()  # keys left out on both sides (the scenario's environment.ignore)

    def to_json(self) -> dict:
        """What the manifest records: the reference's name and hash, and what was asked of it."""
        return {"reference": self.reference.name, "hash": self.reference.hash, "must_match": list(self.must_match),
                "scale": dict(self.scale), "map": dict(self.map), "mode": self.mode, "ignore": list(self.ignore)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], reference: Reference) -> ParitySpec:
        return cls(reference, tuple(d.get("must_match") or ()), tuple((str(g), float(r)) for g, r in
                                                                      (d.get("scale") or {}).items()),
                   tuple((str(a), str(b)) for a, b in (d.get("map") or {}).items()), ParityMode(d.get("mode", "fail")),
                   tuple(d.get("ignore") or ()))


@dataclass(frozen=True)
class ParityEntry:
    key: str  # aligned
    reference: str | None  # None: absent in the reference
    here: str | None  # None: absent here
    gap: Gap
    must_match: bool = False
    note: str = ""

    def to_json(self) -> dict:
        return {"key": self.key, "reference": self.reference, "here": self.here, "gap": self.gap,
                "must_match": self.must_match, "note": self.note}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ParityEntry:
        return cls(str(d["key"]), d.get("reference"), d.get("here"), Gap(d["gap"]), bool(d.get("must_match")),
                   str(d.get("note") or ""))


@dataclass(frozen=True)
class ParityResult:
    """Every key that differs between the reference and this environment, and what ``must_match`` says of it."""

    reference: str
    reference_hash: str
    mode: ParityMode
    entries: tuple[ParityEntry, ...]  # sorted by key; SCALED ones are not differences
    must_match: tuple[tuple[str, tuple[str, ...]], ...] = ()  # glob → the aligned keys it matched
    compared: int = 0  # aligned keys on either side
    notes: tuple[str, ...] = ()

    @property
    def differences(self) -> tuple[ParityEntry, ...]:
        return tuple(e for e in self.entries if e.gap != Gap.SCALED)

    @property
    def scaled(self) -> tuple[ParityEntry, ...]:
        return tuple(e for e in self.entries if e.gap == Gap.SCALED)

    def failing(self, glob: str) -> tuple[ParityEntry, ...]:
        """The differences among the keys ``glob`` matched."""
        keys = set(dict(self.must_match).get(glob, ()))
        return tuple(e for e in self.differences if e.key in keys)

    def to_json(self) -> dict:
        return {"reference": self.reference, "reference_hash": self.reference_hash, "mode": self.mode,
                "compared": self.compared, "entries": [e.to_json() for e in self.entries],
                "must_match": {g: list(keys) for g, keys in self.must_match}, "notes": list(self.notes)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ParityResult:
        return cls(str(d["reference"]), str(d["reference_hash"]), ParityMode(d.get("mode", "fail")),
                   tuple(ParityEntry.from_json(e) for e in d.get("entries") or ()),
                   tuple((g, tuple(k)) for g, k in (d.get("must_match") or {}).items()), int(d.get("compared", 0)),
                   tuple(d.get("notes") or ()))


def entry_text(e: ParityEntry, here: str = "this run", tag: bool = True) -> str:
    """One entry as every output words it. The key is never followed by ``:``, so the masking of
    ``password: …`` pairs in printed text cannot hide which side a masked value is on."""
    if e.gap == Gap.ONLY_REFERENCE:
        text = f"{e.key} only in the reference: {e.reference}"
    elif e.gap == Gap.ONLY_HERE:
        text = f"{e.key} only in {here}: {e.here}"
    else:
        text = f"{e.key} {'as scaled' if e.gap == Gap.SCALED else 'differs'}: reference {_side(e.reference)}, " \
               f"{here} {_side(e.here)}"
    extra = [x for x in (e.note, "must_match" if e.must_match and tag else "") if x]
    return text + (f" ({'; '.join(extra)})" if extra else "")


def _side(v: str | None) -> str:
    return ABSENT if v is None else v


# -- alignment -------------------------------------------------------------------------------------
def _guess_kind(source: str) -> SourceKind:
    """For documents without ``sources`` (written before it existed): what the name looks like."""
    if source in ("env", "cli"):
        return SourceKind(source)
    if source.startswith("$ "):
        return SourceKind.COMMAND
    if "://" in source or source.startswith("/"):  # scenario URLs such as /config are read from the target
        return SourceKind.URL
    return SourceKind.FILE


def align_source(source: str, kind: SourceKind | None = None) -> str:
    """The name a source is aligned by: a URL's path, a file's name, anything else as it is."""
    kind = kind or _guess_kind(source)
    if kind == SourceKind.URL:
        try:
            return urlsplit(source).path or "/"
        except ValueError:
            return source
    if kind == SourceKind.FILE:
        return source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return source


def align(values: Mapping[str, str], sources: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Aligned key → (original key, value). Two keys aligning to one name keep their original names."""
    kinds = {s: SourceKind(k) for s, k in (sources or {}).items() if k in SourceKind._value2member_map_}
    out: dict[str, list[tuple[str, str]]] = {}
    for key, value in values.items():
        source, sep, inner = key.partition("#")
        name = f"{align_source(source, kinds.get(source))}#{inner}" if sep else key
        out.setdefault(name, []).append((key, value))
    aligned: dict[str, tuple[str, str]] = {}
    for name, items in out.items():
        if len(items) == 1:
            aligned[name] = items[0]
        else:
            aligned.update({k: (k, v) for k, v in items})
    return aligned


def _mapped(key: str, renames: Mapping[str, str]) -> str:
    if key in renames:
        return renames[key]
    source, sep, inner = key.partition("#")
    if sep and source in renames and "#" not in renames[source]:
        return f"{renames[source]}#{inner}"
    return key


def _map_name(name: str) -> str:
    return align_source(name, SourceKind.URL) if "://" in name.split("#", 1)[0] else name


def _prepare(values: Mapping[str, str], sources: Mapping[str, str] | None, ignore: tuple[str, ...],
             renames: Mapping[str, str] | None = None) -> dict[str, str]:
    out = {}
    for name, (original, value) in align(values, sources).items():
        name = _mapped(name, renames or {})
        if not any(fnmatch.fnmatchcase(k, g) for g in ignore for k in (name, original)):
            out[name] = value
    return out


def reference_keys(spec: ParitySpec) -> dict[str, str]:
    """The reference as compared: aligned, mapped, ignored keys left out."""
    renames = {_map_name(a): _map_name(b) for a, b in spec.map}
    ref = spec.reference
    return _prepare(ref.mapping, dict(ref.sources), spec.ignore, renames)


def unmatched(spec: ParitySpec) -> list[tuple[str, str, str]]:
    """(section, entry, why) for each ``must_match``/``scale`` glob or ``map`` name that finds nothing in the
    reference: a check that could never fail is bad input, not a pass."""
    ref = spec.reference
    aligned = set(align(ref.mapping, dict(ref.sources)))
    sources = {k.partition("#")[0] for k in aligned}
    keys = reference_keys(spec)
    problems = []
    for section, globs in (("must_match", spec.must_match), ("scale", tuple(g for g, _ in spec.scale))):
        for g in globs:
            if not any(fnmatch.fnmatchcase(k, g) for k in keys):
                problems.append((section, g, f"{g!r} matches no key of the reference {ref.name} "
                                             f"(its keys look like {_examples(keys)})"))
    for a, _ in spec.map:
        name = _map_name(a)
        if name not in aligned and name not in sources:
            problems.append(("map", a, f"{a!r} is neither a source nor a key of the reference {ref.name} "
                                       f"(its sources: {', '.join(sorted(sources)[:8]) or 'none'})"))
    return problems


def _examples(keys: Mapping[str, str] | set[str]) -> str:
    shown = sorted(keys)[:3]
    return ", ".join(shown) + (", ..." if len(keys) > 3 else "") if shown else "nothing: it is empty"


# -- comparison ------------------------------------------------------------------------------------
def _number(value: str | None) -> float | None:
    if value is None or value in ("true", "false"):
        return None
    try:
        n = float(value)
    except ValueError:
        return None
    return n if math.isfinite(n) else None


def _scaled(ref: str | None, here: str | None, ratio: float) -> tuple[bool, str]:
    a, b = _number(ref), _number(here)
    if a is None or b is None:
        return False, f"scale {ratio:g}: needs two numbers"
    expected = a * ratio
    whole = a.is_integer() and b.is_integer()
    ok = abs(b - expected) <= 1e-9 * max(1.0, abs(expected)) or (whole and abs(b - expected) < 1)
    shown = f"{ratio:g} × {a:g} = {expected:g}"
    return ok, (f"{shown}, as declared" if ok else f"scale {ratio:g}: expected {expected:g} ({shown}), got {b:g}")


def compare(spec: ParitySpec, here: Mapping[str, str], here_sources: Mapping[str, str] | None = None,
            here_errors: tuple[str, ...] = ()) -> ParityResult:
    """Every key that differs, exists on one side only, or differs as ``scale`` declares (listed, not a difference)."""
    ref = reference_keys(spec)
    mine = _prepare(here, here_sources, spec.ignore)
    entries = []
    for key in sorted(set(ref) | set(mine)):
        a, b = ref.get(key), mine.get(key)
        ratio = next((r for g, r in spec.scale if fnmatch.fnmatchcase(key, g)), None)
        must = any(fnmatch.fnmatchcase(key, g) for g in spec.must_match)
        if ratio is not None:
            ok, note = _scaled(a, b, ratio)
            if ok:
                entries.append(ParityEntry(key, a, b, Gap.SCALED, must, note))
                continue
        elif a == b:
            continue
        else:
            note = ""
        gap = Gap.ONLY_REFERENCE if b is None else Gap.ONLY_HERE if a is None else Gap.DIFFERENT
        entries.append(ParityEntry(key, a, b, gap, must, note))
    matched = tuple((g, tuple(k for k in sorted(set(ref) | set(mine)) if fnmatch.fnmatchcase(k, g)))
                    for g in spec.must_match)
    notes = [f"reference {spec.reference.name} incomplete when captured: {e}" for e in spec.reference.errors]
    notes += [f"this environment's fingerprint incomplete: {e}" for e in here_errors]
    r = spec.reference
    return ParityResult(r.name, r.hash, spec.mode, tuple(entries), matched, len(set(ref) | set(mine)), tuple(notes))


# -- the document ----------------------------------------------------------------------------------
def reference_from_json(data: Any, name: str) -> Reference:
    """A fingerprint document, validated; ConfigError with one line naming ``name`` otherwise.

    A document without ``format`` is a run's ``environment.json`` from before the field existed
    (format 1). Secret-looking keys are masked again (a hand-written reference holds no secret)."""
    if not isinstance(data, dict) or not isinstance(data.get("values"), dict):
        raise ConfigError(f"{name}: not an environment fingerprint (expected a JSON object with \"values\", as "
                          "`loadkit env capture` writes)")
    fmt = data.get("format", FORMAT)
    if fmt != FORMAT:
        raise ConfigError(f"{name}: fingerprint format {fmt!r}, this loadkit reads format {FORMAT} "
                          "(capture it again with this loadkit's `loadkit env capture`)")
    values = data["values"]
    bad = next((k for k, v in values.items() if not isinstance(v, str)), None)
    if bad is not None:
        raise ConfigError(f"{name}: values.{bad}: expected text, got {type(values[bad]).__name__} "
                          "(every value is a string, JSON-encoded when it was not one)")
    sources = data.get("sources") or {}
    errors = data.get("errors") or []
    if not isinstance(sources, dict) or not isinstance(errors, list):
        raise ConfigError(f"{name}: \"sources\" must be an object and \"errors\" a list")
    masked = {k: mask(k, v) for k, v in sorted(values.items())}
    return Reference(name, values_hash(masked), tuple(masked.items()),
                     tuple((str(k), str(v)) for k, v in sources.items()), tuple(str(e) for e in errors))


def read_reference(path: Path, name: str | None = None) -> Reference:
    """Read a fingerprint file; one line (ConfigError) when it is unreadable or not one."""
    shown = name or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read the fingerprint: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{shown}: not a UTF-8 text file; expected a JSON fingerprint") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{shown}: not JSON ({exc}); expected a fingerprint from `loadkit env capture`") from None
    return reference_from_json(data, shown)


def diff(a: Reference, b: Reference, ignore: tuple[str, ...] = (), renames: tuple[tuple[str, str], ...] = ()
         ) -> ParityResult:
    """``loadkit env diff A B``: the comparison a run makes with its reference, between any two fingerprints."""
    return compare(ParitySpec(a, map=renames, ignore=ignore), b.mapping, dict(b.sources), b.errors)
