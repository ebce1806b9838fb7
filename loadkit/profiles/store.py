"""A profile's files: ``NAME.csv`` (rates), ``NAME.mix.csv`` (mix per block), ``NAME.json`` (the rest), ``NAME.png``.

Small, diff-friendly files side by side (docs/profiles.md): the rate CSV has one row per
interval, contiguous, ISO 8601 UTC starts; the mix is described in :mod:`.mix`; the JSON has one
top-level key per line. Each is written atomically, the JSON (which names the others) last.
Reading checks every file, so a damaged or mismatched one is one located line, not a replay of
something that was never recorded.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError, Problem
from ..files import atomic_path
from .mix import mix_rows, read_mix
from .profile import (
    DEFAULT_MAX_ENDPOINTS,
    FORMAT_VERSION,
    READABLE_FORMATS,
    Endpoint,
    Profile,
    ProfileFiles,
    SourceInfo,
    StatusShare,
)
from .summary import render_chart, summarize
from .timestamps import format_time, parse_timestamp, plain_number
from .window import interval_blocks

__all__ = ["save_profile", "load_profile"]

_num = plain_number


def _dump(doc: dict) -> str:
    """JSON with one top-level key per line and one list item per line: small diffs when a profile is re-imported."""
    out = ["{"]
    items = list(doc.items())
    for n, (key, value) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        if isinstance(value, list) and value:
            out.append(f"  {json.dumps(key)}: [")
            out += [f"    {json.dumps(v)}" + ("," if j < len(value) - 1 else "") for j, v in enumerate(value)]
            out.append(f"  ]{comma}")
        else:
            out.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    out.append("}")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class _Paths:
    csv: Path
    json: Path
    png: Path
    mix: Path


def _paths(path: str | Path) -> _Paths:
    """``NAME.csv``, ``NAME.json``, ``NAME.png``, ``NAME.mix.csv`` from any of them (or from ``NAME``)."""
    p = Path(path)
    if p.name.endswith(".mix.csv"):
        base = p.with_name(p.name[: -len(".mix.csv")])
    else:
        base = p.with_suffix("") if p.suffix in (".csv", ".json", ".png") else p
    name = base.name
    return _Paths(base.with_name(name + ".csv"), base.with_name(name + ".json"), base.with_name(name + ".png"),
                  base.with_name(name + ".mix.csv"))


def _write_csv(path: Path, rows: Iterable[list]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def _rate_rows(profile: Profile) -> Iterable[list]:
    yield ["start", "requests", "rate"]
    for i, r in enumerate(profile.requests):
        yield [format_time(profile.start + i * profile.interval), _num(r), _num(r / profile.interval)]


def save_profile(profile: Profile, path: str | Path, chart: bool = True, window: float | None = None) -> ProfileFiles:
    """Write ``NAME.csv`` + ``NAME.mix.csv`` + ``NAME.json`` (+ ``NAME.png``), each atomically.

    Existing files are replaced, since profiles live in git; the JSON, which names the others,
    is written last. A stale ``NAME.mix.csv`` is removed when the new profile has no mix.
    """
    paths = _paths(path)
    paths.csv.parent.mkdir(parents=True, exist_ok=True)
    summary = summarize(profile, window)
    _write_csv(paths.csv, _rate_rows(profile))
    has_mix = profile.mix_interval is not None and bool(profile.blocks)
    if has_mix:
        _write_csv(paths.mix, mix_rows(profile.blocks, profile.mix_interval, profile.start))  # type: ignore[arg-type]
    else:
        paths.mix.unlink(missing_ok=True)
    png = render_chart(profile, paths.png, window=window, title=paths.csv.stem) if chart else None
    pw = summary.peak_window
    doc = {
        "format": FORMAT_VERSION,
        "rates": paths.csv.name,
        "mix": paths.mix.name if has_mix else None,
        "chart": paths.png.name if chart else None,
        "interval_s": _num(profile.interval),
        "mix_interval_s": _num(profile.mix_interval) if has_mix else None,
        "start": format_time(profile.start),
        "end": format_time(profile.end),
        "intervals": len(profile.requests),
        "requests": _num(profile.total_requests),
        "unclassified_requests": _num(profile.unclassified),
        "excluded_requests": _num(profile.excluded),
        "exclude": list(profile.exclude),
        "max_endpoints": profile.max_endpoints,
        "distinct_endpoints": profile.distinct_endpoints,
        "other_endpoints_requests": _num(profile.other_endpoints),
        "summary": {
            "mean_rate": _num(summary.mean_rate), "peak_rate": _num(summary.peak_rate),
            "peak_at": format_time(summary.peak_at),
            "peak_window": {"name": pw.name, "start": format_time(pw.start), "end": format_time(pw.end),
                            "length_s": _num(pw.end - pw.start), "rate": _num(pw.rate)},
        },
        "sources": [{"path": s.path, "format": s.format, "lines": s.lines, "malformed": s.malformed}
                    for s in profile.sources],
        "statuses": [{"status": s.status, "requests": _num(s.requests), "share": round(s.share, 6)}
                     for s in profile.statuses],
        "endpoints": [{"method": e.method, "path": e.path, "requests": _num(e.requests), "share": round(e.share, 6)}
                      for e in profile.endpoints],
    }
    with atomic_path(paths.json) as tmp:
        tmp.write_text(_dump(doc), encoding="utf-8")
    return ProfileFiles(paths.csv, paths.json, png, paths.mix if has_mix else None)


def _bad(path: Path, key: str, message: str, line: int | None = None) -> ConfigError:
    return ConfigError(problems=[Problem(str(path), line, key, message)])


def _read_rates(csv_path: Path) -> tuple[float, ...]:
    requests: list[float] = []
    try:
        with csv_path.open(newline="", encoding="utf-8") as fh:
            for n, row in enumerate(csv.DictReader(fh), start=2):
                try:
                    value = float(row["requests"])
                    if not value >= 0 or math.isinf(value):
                        raise ValueError
                except (KeyError, TypeError, ValueError):
                    raise _bad(csv_path, "requests", "expected a number >= 0", n) from None
                requests.append(value)
    except OSError as exc:
        raise _bad(csv_path, "", f"cannot read the rate series: {exc.strerror or exc}") from None
    if not requests:
        raise _bad(csv_path, "", "no intervals; re-import the profile")
    return tuple(requests)


def load_profile(path: str | Path) -> Profile:
    """Read a profile back from any of its files (format 2, or format 1 without a mix); ConfigError if unreadable."""
    paths = _paths(path)
    try:
        doc = json.loads(paths.json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _bad(paths.json, "", f"cannot read the profile: {exc}") from None
    fmt = doc.get("format") if isinstance(doc, dict) else None
    if fmt not in READABLE_FORMATS:
        raise _bad(paths.json, "format", f"expected {' or '.join(map(repr, READABLE_FORMATS))}, got {fmt!r}; "
                                         "re-import the profile with this loadkit")
    requests = _read_rates(paths.csv)
    try:
        profile = _from_doc(doc, fmt, requests)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _bad(paths.json, "", f"malformed profile ({type(exc).__name__}: {exc}); re-import the profile") from None
    import math

    for key, value in (("interval_s", profile.interval), ("mix_interval_s", profile.mix_interval)):
        if value is not None and not (math.isfinite(value) and 0 < value <= 86_400):
            raise _bad(paths.json, key, f"expected a positive number of seconds (at most a day), got {value!r}; "
                                        "re-import the profile")
    if fmt == FORMAT_VERSION and doc.get("mix"):
        profile = _with_mix(profile, paths.mix)
    return profile


def _from_doc(doc: dict, fmt: str, requests: tuple[float, ...]) -> Profile:
    pw = doc.get("summary", {}).get("peak_window", {})
    mix_interval = doc.get("mix_interval_s")
    return Profile(
        interval=float(doc["interval_s"]), start=parse_timestamp(doc["start"]), requests=requests,
        endpoints=tuple(Endpoint(e["method"], e["path"], float(e["requests"]), float(e["share"]))
                        for e in doc.get("endpoints", [])),
        statuses=tuple(StatusShare(s["status"], float(s["requests"]), float(s["share"]))
                       for s in doc.get("statuses", [])),
        sources=tuple(SourceInfo(s["path"], s["format"], int(s.get("lines", 0)), int(s.get("malformed", 0)))
                      for s in doc.get("sources", [])),
        unclassified=float(doc.get("unclassified_requests", 0)),
        other_endpoints=float(doc.get("other_endpoints_requests", 0)),
        peak_window_length=float(pw["length_s"]) if "length_s" in pw else None,
        mix_interval=float(mix_interval) if mix_interval and doc.get("mix") else None,
        excluded=float(doc.get("excluded_requests", 0)),
        exclude=tuple(str(x) for x in doc.get("exclude", [])),
        max_endpoints=int(doc.get("max_endpoints", 200 if fmt != FORMAT_VERSION else DEFAULT_MAX_ENDPOINTS)),
        distinct_endpoints=int(doc.get("distinct_endpoints", len(doc.get("endpoints", [])))),
        format=fmt,
    )


def _with_mix(profile: Profile, mix_path: Path) -> Profile:
    """The profile with its per-block mix, checked against the rate series (a block cannot hold more)."""
    import numpy as np

    if profile.mix_interval is None or profile.mix_interval <= 0:
        raise _bad(mix_path, "mix_interval_s", "expected a positive block length in the profile's JSON; re-import it")
    idx = interval_blocks(profile)
    blocks = read_mix(mix_path, profile.mix_interval, int(idx[0]), int(idx[-1]))
    totals = np.bincount(idx - idx[0], weights=np.asarray(profile.requests, dtype=float))
    for b in blocks:
        have = totals[b.index - idx[0]]
        if b.classified > have + 1e-6 * max(1.0, have):
            when = format_time(max(b.index * profile.mix_interval, profile.start))
            raise _bad(mix_path, "", f"the block starting {when} holds {b.classified:g} requests but the rate series "
                                     f"only {have:g}; the files do not belong together, re-import the profile")
    return replace(profile, blocks=blocks)
