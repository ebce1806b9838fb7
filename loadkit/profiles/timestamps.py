"""Timestamps of access logs and rate series: ISO 8601, CLF (``10/Oct/2000:13:55:36 -0700``) and epoch numbers.

Parsed once per distinct string (a log's timestamp changes at most once a second, so a small
cache hits almost always). Also how profile files write times, durations and numbers, so every
file of a profile spells them the same way.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timezone
from typing import Any

__all__ = ["parse_timestamp", "format_time", "format_duration", "plain_number"]

_CLF_TIME = re.compile(r"(\d{1,2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?: ([+-])(\d{2}):?(\d{2}))?$")
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                        "nov", "dec"), start=1)}
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?")
_ISO_REST = re.compile(r"(?:[.,](\d+))?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$")
_EPOCH = re.compile(r"\d+(?:\.\d+)?$")
_cache: dict[str, float] = {}


def _clf_epoch(text: str) -> float:
    m = _CLF_TIME.match(text)
    if not m:
        raise ValueError(text)
    day, mon, year, hh, mi, ss, sign, tzh, tzm = m.groups()
    t = calendar.timegm((int(year), _MONTHS[mon.lower()], int(day), int(hh), int(mi), int(ss)))
    if sign:
        t -= (1 if sign == "+" else -1) * (int(tzh) * 3600 + int(tzm) * 60)
    return float(t)


def _iso_epoch(text: str) -> float:
    m = _ISO.match(text)
    if not m:
        raise ValueError(text)
    y, mo, d, hh, mi, ss = m.groups()
    rest = _ISO_REST.match(text, m.end())
    if not rest:
        raise ValueError(text)
    frac, tz = rest.groups()
    t = calendar.timegm((int(y), int(mo), int(d), int(hh), int(mi), int(ss or 0)))
    if frac:
        t += int(frac) / 10 ** len(frac)
    if tz and tz not in ("Z", "z", "UTC"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        t -= sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)
    datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss or 0))  # range check (month 13, hour 25)
    return float(t)


_YEAR_10000 = 253_402_300_800.0


def parse_timestamp(value: Any) -> float:
    """Epoch seconds from ISO 8601 (no zone = UTC), CLF ``10/Oct/2000:13:55:36 -0700``, or epoch s/ms.

    Epoch numbers above 1e11 are taken as milliseconds (1e11 s is the year 5138). ValueError otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        t = float(value)
    else:
        text = str(value).strip()
        if _EPOCH.match(text):
            t = float(text)
        elif text[:1].isdigit() and "/" in text[:6]:
            return _clf_epoch(text)
        else:
            return _iso_epoch(text)
    if t != t or t in (float("inf"), float("-inf")) or t < 0:
        raise ValueError(value)
    t = t / 1000.0 if t > 1e11 else t
    if t >= _YEAR_10000:  # not a time any log was written at: the line is malformed
        raise ValueError(value)
    return t


def _cached_time(text: str, parse=_clf_epoch) -> float:
    """Parse once per distinct string; the cache is emptied now and then so memory stays flat."""
    t = _cache.get(text)
    if t is None:
        t = parse(text)
        if len(_cache) > 8192:
            _cache.clear()
        _cache[text] = t
    return t


def _iso_cached(text: str) -> float:
    """ISO timestamps with fractions: the ``YYYY-MM-DDTHH:MM:SS`` prefix and the zone are cached, the fraction added."""
    if len(text) > 20 and text[19] in ".,":
        j = 20
        while j < len(text) and text[j].isdigit():
            j += 1
        frac = text[20:j]
        return _cached_time(text[:19] + text[j:], _iso_epoch) + (int(frac) / 10 ** len(frac) if frac else 0.0)
    return _cached_time(text, _iso_epoch)




def format_time(t: float) -> str:
    """ISO 8601 UTC with a ``Z``; milliseconds only when not on a whole second, so most rows stay short."""
    ms = round(t * 1000)
    secs, frac = divmod(ms, 1000)
    text = datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{frac:03d}Z" if frac else "Z")


def format_duration(seconds: float) -> str:
    """``3600`` -> ``1h``, ``600`` -> ``10m``, ``45`` -> ``45s``, ``85039`` -> ``23h37m19s``: peak window names."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds > 3600 and float(seconds).is_integer():
        h, rest = divmod(int(seconds), 3600)
        m, sec = divmod(rest, 60)
        return f"{h}h" + (f"{m}m" if m or sec else "") + (f"{sec}s" if sec else "")
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def plain_number(x: float) -> int | float:
    """Integers stay integers in the files (diff-friendly); other values keep 6 decimals."""
    x = float(x)
    return int(x) if x.is_integer() else round(x, 6)
