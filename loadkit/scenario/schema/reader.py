"""The base of the scenario builder: problem recording and the small typed readers every section uses."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

from ...units import parse_duration
from ..source import Path, Source


class Reader:
    """The builder's base: where problems are recorded, and readers of strings, numbers, durations and headers."""

    def __init__(self, src: Source, env: Mapping[str, str], base_dir: FsPath):
        self.src, self.env, self.base_dir = src, env, base_dir

    # -- small typed readers -------------------------------------------------
    def err(self, path: Path, msg: str) -> None:
        self.src.error(path, msg)

    def mapping(self, value: Any, path: Path, allowed: set[str], required: set[str] = frozenset()) -> dict | None:
        if not isinstance(value, dict):
            self.err(path, f"expected a mapping with keys {', '.join(sorted(allowed))}, got {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (expected one of {', '.join(sorted(allowed))})"
                self.err(path + (key,), f"unknown key {key!r}{hint}")
        for key in sorted(required - set(value)):
            self.err(path, f"missing required key {key!r}")
        return value

    def string(self, value: Any, path: Path) -> str | None:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        self.err(path, f"expected a string, got {_kind(value)}")
        return None

    def number(self, value: Any, path: Path, minimum: float = 0.0, integer: bool = False,
               maximum: float = 1e9) -> float | None:
        """A finite number in ``[minimum, maximum]`` (NaN, infinity and huge integers are refused here)."""
        try:
            if isinstance(value, bool):
                raise ValueError
            n = int(value) if integer and not isinstance(value, float) else float(value)
            if not math.isfinite(float(n)) or (integer and float(n) != float(value)):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            self.err(path, f"expected {'a whole number' if integer else 'a finite number'}, got {_kind(value)}")
            return None
        if n < minimum:
            self.err(path, f"expected a number >= {minimum:g}, got {n}")
            return None
        if n > maximum:
            self.err(path, f"expected a number <= {maximum:g}, got {n:g}")
            return None
        return n

    def duration(self, value: Any, path: Path) -> float | None:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.err(path, str(exc))
            return None

    def timeout(self, value: Any, path: Path) -> float | None:
        """A request timeout: a duration above 0 and at most a day."""
        seconds = self.duration(value, path)
        if seconds is None:
            return None
        if not 0 < seconds <= 86_400:
            self.err(path, f"expected a timeout above 0 and at most 24h, got {value!r}")
            return None
        return seconds

    def headers(self, value: Any, path: Path) -> tuple[tuple[str, str], ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            self.err(path, f"expected a mapping of header names to values, got {_kind(value)}")
            return ()
        out = []
        for k, v in value.items():
            name, text = str(k), "" if v is None else str(v)
            if not _HEADER_NAME.fullmatch(name):
                self.err(path + (k,), f"header name {name!r}: expected letters, digits and !#$%&'*+-.^_`|~")
            elif any(c in text for c in "\r\n\x00"):
                self.err(path + (k,), "a header value cannot hold a line break (it would inject headers)")
            elif not _latin1(text):
                self.err(path + (k,), "a header value must be Latin-1 text (HTTP/1.1 sends bytes): percent-encode it")
            else:
                out.append((name, text))
        return tuple(out)


    def resolve_file(self, file: str) -> FsPath | None:
        """A file named in the scenario: beside it or in a folder above it (so ``scenarios/x.py``
        works from the project root and from anywhere else), else from the current directory."""
        folders = [self.base_dir, *self.base_dir.parents, FsPath.cwd()]
        for candidate in [folder / file for folder in folders] + [FsPath(file)]:
            if candidate.is_file():
                return candidate.resolve()
        return None


_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
        return True
    except UnicodeEncodeError:
        return False


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
