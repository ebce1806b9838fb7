"""Rate series sources: a CSV of ``timestamp,rate[,endpoint]`` and a Prometheus range query.

Both give a rate (requests per second) sampled every *step*; each sample is taken to hold for
``[t, t + step)``, so it stands for ``rate * step`` requests. The step is the series' own spacing
(the most common gap for a CSV, ``--step`` for Prometheus); ``--interval`` may coarsen it to a
multiple of the step, never refine it (that would invent detail the data does not have).
"""

from __future__ import annotations

import csv
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ConfigError, Problem, RunError
from ..units import parse_duration
from .exclude import NO_EXCLUSION, Exclusion
from .logs import open_text, sniff
from .mix import block_of, resolve_mix_interval
from .profile import DEFAULT_MAX_ENDPOINTS, Malformed, Profile, SourceInfo, build_profile
from .templates import split_endpoint, template_path
from .timestamps import format_duration, format_time, parse_timestamp

__all__ = ["RatePoint", "profile_from_rate_csv", "profile_from_prometheus", "parse_time_arg", "profile_from_points"]

MAX_POINTS_PER_QUERY = 10_000  # Prometheus refuses more than 11,000 points per series
_METHOD_LABELS = ("method", "verb", "http_method", "request_method")
_PATH_LABELS = ("path", "handler", "route", "endpoint", "uri", "url")
_STATUS_LABELS = ("status", "code", "status_code", "http_status")


@dataclass(frozen=True)
class RatePoint:
    """One sample of a rate series: at ``t`` (epoch s) ``rate`` req/s, optionally of one endpoint / status."""

    t: float
    rate: float
    endpoint: tuple[str, str] | None = None
    status: str | None = None


def _infer_step(times: Iterable[float]) -> float | None:
    ts = sorted(set(times))
    gaps = Counter(round(b - a, 6) for a, b in zip(ts, ts[1:], strict=False))
    return gaps.most_common(1)[0][0] if gaps else None


def profile_from_points(
    points: list[RatePoint],
    sources: list[SourceInfo],
    step: float | None = None,
    interval: float | None = None,
    malformed: Iterable[Malformed] = (),
    what: str = "the series",
    exclusion: Exclusion = NO_EXCLUSION,
    mix_interval: float | None = None,
    max_endpoints: int = DEFAULT_MAX_ENDPOINTS,
) -> Profile:
    """Bucket rate samples into intervals of ``interval`` (default: the step), starting at the first sample.

    Samples of an endpoint ``exclusion`` matches are counted as excluded and left out.
    """
    if not points:
        raise ConfigError(f"{what}: no data points; nothing to import")
    step = step or _infer_step(p.t for p in points) or interval
    if not step:
        raise ConfigError(f"{what}: a single timestamp, so the step is unknown; pass --interval (e.g. 1m)")
    interval = interval or step
    ratio = interval / step
    if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-6:
        raise ConfigError(f"{what}: --interval {format_duration(interval)} must be a multiple of the series step "
                          f"{format_duration(step)}; use --interval {format_duration(step)} or a multiple")
    mix_interval = resolve_mix_interval(interval, mix_interval)
    origin = min(p.t for p in points)
    buckets: dict[int, float] = {}
    blocks: dict[int, dict[tuple[str, str], float]] = {}
    statuses: dict[str, float] = {}
    unclassified = excluded = 0.0
    for p in points:
        n = p.rate * step
        if p.endpoint is not None and exclusion and exclusion(p.endpoint):
            excluded += n
            continue
        i = math.floor((p.t - origin) / interval + 1e-9)
        buckets[i] = buckets.get(i, 0.0) + n
        if p.endpoint is None:
            unclassified += n
        else:
            counts = blocks.setdefault(block_of(origin + i * interval, mix_interval), {})
            counts[p.endpoint] = counts.get(p.endpoint, 0.0) + n
        if p.status is not None:
            statuses[p.status] = statuses.get(p.status, 0.0) + n
    return build_profile(interval, buckets, blocks, mix_interval, statuses, sources, malformed,
                         unclassified if blocks else 0.0, what=what, origin=origin, excluded=excluded,
                         exclusion=exclusion, max_endpoints=max_endpoints)


def profile_from_rate_csv(
    path: str,
    interval: float | None = None,
    max_malformed: float = 0.01,
    exclusion: Exclusion = NO_EXCLUSION,
    mix_interval: float | None = None,
    max_endpoints: int = DEFAULT_MAX_ENDPOINTS,
) -> Profile:
    """A profile from a CSV ``timestamp,rate[,endpoint]`` (ISO 8601 or epoch seconds; header optional)."""
    sniff(path, "csv")  # binary junk and empty files get the same one-line errors as logs
    points: list[RatePoint] = []
    bad: list[Malformed] = []
    bad_count = rows = 0
    cols = (0, 1, 2)
    with open_text(path) as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            if not row or not "".join(row).strip():
                continue
            names = [c.strip().lstrip("\ufeff").lower() for c in row]
            if rows == 0 and bad_count == 0 and "timestamp" in names and "rate" in names:
                cols = (names.index("timestamp"), names.index("rate"),
                        names.index("endpoint") if "endpoint" in names else -1)
                continue
            rows += 1
            try:
                t = parse_timestamp(row[cols[0]])
                rate = float(row[cols[1]])
                if not rate >= 0 or math.isinf(rate):
                    raise ValueError("rate")
                ep = None
                if 0 <= cols[2] < len(row) and row[cols[2]].strip():
                    ep = split_endpoint(row[cols[2]])
                    if ep is None:
                        raise ValueError("endpoint")
                points.append(RatePoint(t, rate, ep))
            except (ValueError, IndexError):
                bad_count += 1
                if len(bad) < 3:
                    bad.append(Malformed(path, lineno, ",".join(row)[:120]))
    if rows and bad_count / rows > max_malformed:
        raise ConfigError(problems=[Problem(
            path, bad[0].line, "", f"{bad_count} of {rows} rows ({bad_count / rows:.2%}) are malformed, above "
            f"--max-malformed {max_malformed:.2%}; expected timestamp (ISO 8601 or epoch seconds),rate "
            f"(requests/s, >= 0)[,endpoint like 'GET /tickets/42']; this one reads {bad[0].text!r}")])
    return profile_from_points(points, [SourceInfo(path, "csv", rows, bad_count)], interval=interval,
                               malformed=bad, what=path, exclusion=exclusion, mix_interval=mix_interval,
                               max_endpoints=max_endpoints)


def parse_time_arg(value: str, now: float | None = None, flag: str = "--start") -> float:
    """``now``, ``now-6h``, ISO 8601 or epoch seconds -> epoch seconds (ConfigError otherwise)."""
    text = value.strip()
    now = time.time() if now is None else now
    try:
        if text == "now":
            return now
        if text.startswith("now-"):
            return now - parse_duration(text[4:])
        return parse_timestamp(text)
    except ValueError:
        raise ConfigError(f"{flag}: expected ISO 8601 (2024-05-01T10:00:00Z), epoch seconds, now or now-6h; "
                          f"got {value!r}") from None


def _get_json(url: str, timeout: float) -> dict:
    req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "loadkit"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310  (the user's own URL)
            body = resp.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            detail = json.loads(body).get("error") or body[:200].decode("utf-8", "replace")
        except ValueError:
            detail = body[:200].decode("utf-8", "replace").strip()
        raise ConfigError(f"--prometheus: the query was refused (HTTP {exc.code}): {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RunError(f"--prometheus: cannot reach {url.split('/api/v1/')[0]}: {reason}") from None
    try:
        doc = json.loads(body)
        if not isinstance(doc, dict):
            raise ValueError
    except ValueError:
        raise ConfigError(f"--prometheus: {url.split('?')[0]} did not answer with Prometheus API JSON; "
                          "pass the server's base URL, e.g. http://prometheus:9090") from None
    if doc.get("status") != "success":
        raise ConfigError(f"--prometheus: query failed: {doc.get('errorType', 'error')}: {doc.get('error', doc)}")
    return doc


def _label(metric: dict, names: tuple[str, ...]) -> str | None:
    return next((str(metric[n]) for n in names if metric.get(n)), None)


def profile_from_prometheus(
    url: str,
    query: str,
    start: float,
    end: float,
    step: float | None = None,
    interval: float | None = None,
    timeout: float = 30.0,
    exclusion: Exclusion = NO_EXCLUSION,
    mix_interval: float | None = None,
    max_endpoints: int = DEFAULT_MAX_ENDPOINTS,
) -> Profile:
    """A profile from ``/api/v1/query_range``; the query must return requests per second.

    Series are summed; ``method``/``handler``/``path``... labels give the endpoint mix and
    ``code``/``status`` labels the status mix. Long ranges are fetched in chunks of 10,000 points.
    """
    if not end > start:
        raise ConfigError(f"--end ({format_time(end)}) must be after --start ({format_time(start)})")
    step = step or interval or max(15.0, math.ceil((end - start) / MAX_POINTS_PER_QUERY))
    if not step > 0:
        raise ConfigError("--step: expected a positive duration such as 15s")
    base = url.rstrip("/")
    seen: dict[tuple[tuple[tuple[str, str], ...], float], RatePoint] = {}
    bad: list[Malformed] = []
    bad_count = 0
    chunk_start = start
    while chunk_start <= end:
        chunk_end = min(end, chunk_start + step * (MAX_POINTS_PER_QUERY - 1))
        params = urllib.parse.urlencode({"query": query, "start": f"{chunk_start:.3f}", "end": f"{chunk_end:.3f}",
                                         "step": f"{step:g}"})
        doc = _get_json(f"{base}/api/v1/query_range?{params}", timeout)
        data = doc.get("data") or {}
        if data.get("resultType") != "matrix":
            raise ConfigError(f"--query: expected a range vector (resultType matrix), got {data.get('resultType')!r}")
        for series in data.get("result") or []:
            metric = series.get("metric") or {}
            path = _label(metric, _PATH_LABELS)
            ep = ((_label(metric, _METHOD_LABELS) or "GET").upper(), template_path(path)) if path else None
            status = _label(metric, _STATUS_LABELS)
            key = tuple(sorted(metric.items()))
            for pair in series.get("values") or []:
                try:
                    t, rate = float(pair[0]), float(pair[1])
                    if not rate >= 0 or math.isinf(rate):
                        raise ValueError
                except (ValueError, TypeError, IndexError):
                    bad_count += 1
                    if len(bad) < 3:
                        bad.append(Malformed(base, 0, f"{metric} {pair!r}"[:120]))
                    continue
                seen[(key, t)] = RatePoint(t, rate, ep, status)
        chunk_start = chunk_end + step
    if not seen:
        raise ConfigError(f"--query: no samples between {format_time(start)} and {format_time(end)}; "
                          f"check the query ({query!r}) and the time range")
    source = SourceInfo(f"{base} query={query}", "prometheus", len(seen) + bad_count, bad_count)
    return profile_from_points(list(seen.values()), [source], step=step, interval=interval, malformed=bad,
                               what="--prometheus", exclusion=exclusion, mix_interval=mix_interval,
                               max_endpoints=max_endpoints)
