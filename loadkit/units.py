"""The small unit-bearing values scenarios are written in (``10s``, ``300ms``, ``1%``), and the one formatter.

:func:`format_value` is the only place a measured value becomes text: a reason in the verdict,
the terminal, JUnit, Markdown and the HTML report all show the same number the same way.
"""

from __future__ import annotations

import re

__all__ = ["MAX_DURATION_S", "parse_duration", "parse_latency_ms", "parse_percent", "format_value", "kind_of_key"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


#: The longest duration anything in a scenario may last: 30 days (a soak test is long, never endless).
MAX_DURATION_S = 30 * 86_400.0


def parse_duration(value: object) -> float:
    """Seconds from ``1.5``, ``"30s"``, ``"5m"``, ``"1h"``, ``"250ms"``; ``ValueError`` otherwise.

    Compound forms such as ``1m30s`` are accepted too, as k6 users write them. Not-a-number,
    infinity and anything longer than 30 days are refused: a run must end.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    seconds: float | None = None
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"expected a finite duration such as 30s, 5m or 1h, got {value!r}")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        seconds = float(value)
    elif isinstance(value, str):
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)", value)
        if parts and re.fullmatch(r"(\s*\d+(?:\.\d+)?\s*(ms|s|m|h))+\s*", value):
            seconds = sum(float(n) * _FACTORS[u] for n, u in parts)
        else:
            m = _DURATION.match(value)
            if m:
                seconds = float(m.group(1)) * _FACTORS[m.group(2)]
    if seconds is None:
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")
    if not seconds <= MAX_DURATION_S:
        raise ValueError(f"expected a duration of at most 30 days, got {value!r}")
    return seconds


def parse_latency_ms(value: str) -> float:
    """Milliseconds from ``"300ms"`` or ``"1.5s"``; the unit is required, since a bare 300 is ambiguous."""
    m = _DURATION.match(value)
    if not m or m.group(2) not in ("ms", "s"):
        raise ValueError(f"expected a latency with its unit, such as 300ms or 1.5s, got {value!r}")
    ms = float(m.group(1)) * (1000.0 if m.group(2) == "s" else 1.0)
    if not ms <= MAX_DURATION_S * 1000:
        raise ValueError(f"expected a latency of at most 30 days, got {value!r}")
    return ms


def parse_percent(value: object) -> float:
    """A fraction from ``"1%"`` (0.01) or ``"0.5 %"``; ``ValueError`` otherwise."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)
        if m:
            return float(m.group(1)) / 100.0
    raise ValueError(f"expected a percentage such as 1% or 0.5%, got {value!r}")


def format_value(kind: str, value: float | None) -> str:
    """``value`` in the unit its kind implies: ``latency`` (ms), ``error_rate`` (a fraction, shown in %),
    ``rps`` (per second), ``count``, or anything else as 4 significant digits."""
    if value is None:
        return "(absent)"
    v = float(value)
    if v != v:
        return "n/a"
    if kind == "latency":
        if abs(v) >= 10_000:
            return f"{v / 1000:.2f} s"
        return f"{v:.0f} ms" if abs(v) >= 100 else f"{v:.1f} ms" if abs(v) >= 10 else f"{v:.2f} ms"
    if kind == "error_rate":
        pct = v * 100
        return f"{pct:.2g}%" if 0 < abs(pct) < 0.01 else f"{pct:.2f}%"
    if kind == "rps":
        return f"{v:.1f}/s"
    if kind == "count":
        return f"{v:.0f}"
    return f"{v:.4g}"


def kind_of_key(key: str) -> str:
    """The kind of an aggregate key (``p95(latency, x)``, ``error_rate``, ``rps(x)``, ``mean(db.tps)``)."""
    if key.startswith("error_rate"):
        return "error_rate"
    if key.startswith("rps"):
        return "rps"
    if key.startswith(("requests", "failures", "exceptions")):
        return "count"
    if "(latency" in key or key == "latency":
        return "latency"
    return "metric"
