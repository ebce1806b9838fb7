"""The expressions of flow steps: ``json:$.path``, ``header:Name``, ``regex:PATTERN``, ``cookie:NAME``.

One place reads and compiles them, so validation (before a request is sent) and the run compile
the same way: a JSONPath the validator accepts is the one the run evaluates.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from .model import Extract, ExtractFrom

__all__ = ["parse_extract", "compile_jsonpath", "compile_regex", "EXTRACT_FORMS"]

EXTRACT_FORMS = "json:$.PATH, header:NAME, regex:PATTERN or cookie:NAME"


@functools.lru_cache(maxsize=512)
def compile_jsonpath(text: str) -> Any:
    """The compiled JSONPath (jsonpath-ng, without its extensions); ValueError says what is wrong."""
    from jsonpath_ng import parse
    from jsonpath_ng.exceptions import JSONPathError

    if not text.startswith("$"):
        raise ValueError(f"JSONPath {text!r} must start with '$' (e.g. $.items[0].id)")
    try:
        return parse(text)
    except (JSONPathError, Exception) as exc:  # the parser raises bare Exceptions for some input
        raise ValueError(f"bad JSONPath {text!r}: {exc}".rstrip()) from None


def compile_regex(text: str) -> re.Pattern[str]:
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise ValueError(f"bad regular expression {text!r}: {exc}") from None
    if pattern.groups > 1:
        raise ValueError(f"regular expression {text!r} has {pattern.groups} groups; give one (its value is "
                         "extracted) or none (the whole match); write (?:...) for the others")
    return pattern


def parse_extract(name: str, spec: Any) -> Extract:
    """``token: "json:$.token"`` → an :class:`Extract`, its expression compiled once here to prove it."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"expected {EXTRACT_FORMS}, got {spec!r}")
    kind, _, expr = spec.partition(":")
    try:
        source = ExtractFrom(kind.strip().lower())
    except ValueError:
        raise ValueError(f"unknown source {kind!r}: expected {EXTRACT_FORMS}") from None
    expr = expr if source is ExtractFrom.REGEX else expr.strip()
    if not expr:
        raise ValueError(f"{source.value}: needs an expression after the colon ({EXTRACT_FORMS})")
    if source is ExtractFrom.JSON:
        compile_jsonpath(expr)
    elif source is ExtractFrom.REGEX:
        compile_regex(expr)
    elif source is ExtractFrom.HEADER and not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", expr):
        raise ValueError(f"header name {expr!r}: expected letters, digits and !#$%&'*+-.^_`|~")
    return Extract(name, source, expr)
