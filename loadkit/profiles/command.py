"""``loadkit profile import``: the flags and the whole import as one call the CLI wraps (no printing here)."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError
from ..units import parse_duration, parse_percent
from .exclude import NO_EXCLUSION, Exclusion, check_pattern
from .logs import LOG_FORMATS, profile_from_logs, sniff
from .profile import DEFAULT_MAX_ENDPOINTS, Profile, ProfileFiles, ProfileSummary
from .sources import parse_time_arg, profile_from_prometheus, profile_from_rate_csv
from .store import save_profile
from .summary import summarize
from .summary import summary_json as _summary_json
from .timestamps import format_duration, format_time
from .window import peak_window

__all__ = ["ImportReport", "add_import_arguments", "import_profile", "run_import", "default_output"]

DEFAULT_DIR = Path("scenarios/profiles")


@dataclass(frozen=True)
class ImportReport:
    """The outcome of an import: the profile, its files, its summary, and what the CLI should show."""

    profile: Profile
    files: ProfileFiles
    summary: ProfileSummary
    window: float | None = None

    def json(self, intervals: bool = False) -> dict:
        """The ``--json`` document: where the files went, then :func:`summary_json` (every interval only if asked)."""
        f = self.files
        files = {"rates": str(f.csv), "json": str(f.json), "mix": str(f.mix) if f.mix else None,
                 "chart": str(f.chart) if f.chart else None}
        return {"files": files, **_summary_json(self.profile, self.window, intervals=intervals)}

    def warnings(self) -> list[str]:
        """Malformed lines that were skipped (below the threshold): a count and the first few, for stderr."""
        p = self.profile
        if not p.malformed_count:
            return []
        share = p.malformed_count / p.lines if p.lines else 0.0
        out = [f"{p.malformed_count} malformed lines of {p.lines} ({share:.2%}) skipped"]
        out += [f"  {m.file}:{m.line}: {m.text}" if m.line else f"  {m.file}: {m.text}" for m in p.malformed]
        return out

    def lines(self) -> list[str]:
        """The human summary for stdout."""
        s, p = self.summary, self.profile
        pw = s.peak_window
        out = [
            f"profile: {self.files.csv} (+ {self.files.json.name}"
            + (f", {self.files.chart.name})" if self.files.chart else ")"),
            f"span: {format_time(s.start)} to {format_time(s.end)} ({format_duration(p.duration)}, "
            f"{len(p.requests)} intervals of {format_duration(p.interval)})",
            f"requests: {s.total_requests:.0f}, mean {s.mean_rate:.2f} req/s, peak {s.peak_rate:.2f} req/s "
            f"at {format_time(s.peak_at)}",
            f"{pw.name}: {format_time(pw.start)} to {format_time(pw.end)}, {pw.rate:.2f} req/s",
        ]
        if p.excluded:
            read = p.excluded + p.total_requests
            out.append(f"excluded: {p.excluded:.0f} requests ({p.excluded / read:.2%} of {read:.0f}) by "
                       f"{', '.join(p.exclude)}; they are in neither the rate nor the mix")
        if s.top_endpoints:
            out.append("top endpoints:")
            out += [f"  {e.share:7.2%}  {e.method} {e.path}" for e in s.top_endpoints]
            other = p.other_endpoints / p.classified if p.classified else 0.0
            out.append(f"endpoints: {p.distinct_endpoints} distinct, {len(p.endpoints)} kept by name "
                       f"(--max-endpoints {p.max_endpoints}); the rest: {other:.2%} of the requests")
        if p.mix_interval is not None:
            name = self.files.mix.name if self.files.mix else "the mix"
            out.append(f"mix: per {format_duration(p.mix_interval)} block, {len(p.blocks)} blocks with requests ({name})")
        if p.unclassified:
            out.append(f"requests without a method/path (e.g. \"-\" or TLS probes): {p.unclassified:.0f}")
        if s.statuses:
            out.append("statuses: " + ", ".join(f"{x.status} {x.share:.1%}" for x in s.statuses))
        return out


def _duration(value: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration such as 1s or 1m, got {value!r}")
    return seconds


def _count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}")
    return n


def _pattern(value: str) -> str:
    try:
        return check_pattern(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _percent(value: str) -> float:
    if value.strip() in ("0", "0%"):
        return 0.0
    try:
        return parse_percent(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_import_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``loadkit profile import``; values are parsed here, so a bad one is a usage error (exit 2)."""
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="access logs (plain or gzip; rotated files are merged in time order) or one CSV rate series")
    p.add_argument("-o", "--output", default=None, metavar="FILE.csv",
                   help="profile to write; NAME.mix.csv, NAME.json and NAME.png go next to it "
                        "(default: scenarios/profiles/NAME.csv)")
    p.add_argument("--json", action="store_true",
                   help="print the summary as JSON (peak, windows, top endpoints, counts; not every interval)")
    p.add_argument("--json-intervals", action="store_true",
                   help="with the JSON summary, every interval too (implies --json; a day of 1 s is 86,400 rows)")
    p.add_argument("--interval", type=_duration, default=None,
                   help="bucket length (default: 1s for logs, the series step for CSV/Prometheus)")
    p.add_argument("--format", dest="fmt", default="auto", choices=("auto", *LOG_FORMATS, "csv"),
                   help="source format (default: detected from the first lines)")
    p.add_argument("--json-fields", default=None, metavar="ts=F,method=F,path=F,status=F",
                   help="field names of JSON-lines logs (default: guessed: time/timestamp, method, path/uri, status)")
    p.add_argument("--max-malformed", type=_percent, default=0.01, metavar="PERCENT",
                   help="fail when more lines than this are unreadable (default: 1%%)")
    p.add_argument("--peak-window", type=_duration, default=None, metavar="DURATION",
                   help="length of the peak window (default: 1h, shorter for a shorter profile)")
    p.add_argument("--no-chart", dest="chart", action="store_false", help="do not draw NAME.png")
    p.add_argument("--exclude", action="append", default=[], type=_pattern, metavar="GLOB",
                   help="leave out endpoints matching GLOB (repeatable): a templated path ('/feed/*', '*.php') or "
                        "'METHOD /path' ('HEAD /'); matched with and without the query string")
    p.add_argument("--exclude-static", action="store_true",
                   help="leave out static assets: .css .js .map, images (png jpg jpeg gif svg ico webp), "
                        "fonts (woff woff2 ttf eot otf) and favicon.*")
    p.add_argument("--max-endpoints", type=_count, default=DEFAULT_MAX_ENDPOINTS, metavar="N",
                   help=f"endpoints kept by name, the rest summed as other (default: {DEFAULT_MAX_ENDPOINTS})")
    p.add_argument("--mix-interval", type=_duration, default=None, metavar="DURATION",
                   help="block length of the endpoint mix over time, NAME.mix.csv (default: 1m, or the "
                        "shortest whole number of intervals of at least 1m)")
    prom = p.add_argument_group("Prometheus range query (instead of SOURCE files)")
    prom.add_argument("--prometheus", default=None, metavar="URL", help="Prometheus base URL, e.g. http://prom:9090")
    prom.add_argument("--query", default=None, help="PromQL giving requests per second, e.g. "
                      "'sum by (method, handler) (rate(http_requests_total[1m]))'")
    prom.add_argument("--start", default=None, help="ISO 8601, epoch seconds, or now-6h")
    prom.add_argument("--end", default="now", help="ISO 8601, epoch seconds, or now (default: now)")
    prom.add_argument("--step", type=_duration, default=None,
                      help="query resolution (default: --interval, else 15s or coarser for long ranges)")
    prom.add_argument("--timeout", type=_duration, default=30.0, help="HTTP timeout (default: 30s)")


def default_output(sources: list[str], prometheus: bool = False) -> Path:
    """``access.log.2.gz`` -> ``scenarios/profiles/access.csv``; a Prometheus import -> ``prometheus.csv``."""
    if prometheus or not sources:
        return DEFAULT_DIR / "prometheus.csv"
    name = Path(sources[0]).name
    name = re.sub(r"(\.(gz|\d+|log|csv|jsonl?|txt))+$", "", name) or "profile"
    return DEFAULT_DIR / f"{name}.csv"


def import_profile(
    sources: list[str],
    fmt: str = "auto",
    interval: float | None = None,
    json_fields: str | None = None,
    max_malformed: float = 0.01,
    exclusion: Exclusion = NO_EXCLUSION,
    mix_interval: float | None = None,
    max_endpoints: int = DEFAULT_MAX_ENDPOINTS,
) -> Profile:
    """A profile from files: access logs, or a CSV rate series (detected, or ``fmt="csv"``)."""
    if not sources:
        raise ConfigError("profile import: expected SOURCE files (access logs or a CSV rate series) or --prometheus URL")
    missing = [s for s in sources if not Path(s).is_file()]
    if missing:
        raise ConfigError(f"{missing[0]}: no such file (expected an access log or a CSV rate series)")
    is_csv = fmt == "csv" or (fmt == "auto" and sniff(sources[0]).format == "csv")
    if is_csv:
        if len(sources) > 1:
            raise ConfigError(f"{sources[1]}: a CSV rate series is imported on its own; pass one CSV file")
        return profile_from_rate_csv(sources[0], interval=interval, max_malformed=max_malformed, exclusion=exclusion,
                                     mix_interval=mix_interval, max_endpoints=max_endpoints)
    return profile_from_logs(sources, fmt=fmt, interval=interval or 1.0, json_fields=json_fields,
                             max_malformed=max_malformed, exclusion=exclusion, mix_interval=mix_interval,
                             max_endpoints=max_endpoints)


def run_import(args: argparse.Namespace) -> ImportReport:
    """Everything ``loadkit profile import`` does except printing: read, build, write the files, summarise."""
    exclusion = Exclusion(tuple(args.exclude), args.exclude_static)
    options = {"exclusion": exclusion, "mix_interval": args.mix_interval, "max_endpoints": args.max_endpoints}
    if args.prometheus:
        if args.sources:
            raise ConfigError("profile import: pass SOURCE files or --prometheus, not both")
        if not args.query or not args.start:
            raise ConfigError("--prometheus needs --query and --start (and optionally --end, --step)")
        start = parse_time_arg(args.start, flag="--start")
        end = parse_time_arg(args.end, flag="--end")
        profile = profile_from_prometheus(args.prometheus, args.query, start, end, step=args.step,
                                          interval=args.interval, timeout=args.timeout, **options)
    else:
        if args.query or args.start:
            raise ConfigError("--query/--start are for --prometheus URL; pass it, or drop them")
        profile = import_profile(args.sources, fmt=args.fmt, interval=args.interval, json_fields=args.json_fields,
                                 max_malformed=args.max_malformed, **options)
    if args.peak_window:
        try:
            peak_window(profile, args.peak_window)
        except ValueError as exc:
            hint = (f"; pass a multiple of the {format_duration(profile.mix_interval)} --mix-interval"
                    if profile.mix_interval and args.peak_window <= profile.duration else "")
            raise ConfigError(f"--peak-window {format_duration(args.peak_window)}: {exc}{hint}") from None
        profile = replace(profile, peak_window_length=args.peak_window)
    out = Path(args.output) if args.output else default_output(args.sources, bool(args.prometheus))
    files = save_profile(profile, out, chart=args.chart, window=args.peak_window)
    return ImportReport(profile, files, summarize(profile, args.peak_window), args.peak_window)
