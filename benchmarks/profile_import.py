"""Throughput of ``loadkit profile import`` on a synthetic combined-format access log.

Generates N lines (default 2,000,000, about 400 MB) of nginx combined log with ids, UUIDs and
query strings in the paths, over a day-shaped rate curve, then imports it and prints lines/s
and the peak RSS (``resource.getrusage``), which must stay flat however big the log is. With
``--gzip`` the log is gzip-compressed first, to time decompression too.

The floor, measured in the same run and alternating with the import (``--repeats`` pairs, medians and
spreads): a loop that reads the same file the same way and matches loadkit's own line regex against
every line, and does nothing else. No importer that parses the line can be faster; the ratio
import/floor is what the templating, time parsing and counting cost on top.

Usage: ``python benchmarks/profile_import.py [--lines 2000000] [--gzip] [--repeats 3] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from loadkit.profiles import profile_from_logs, render_chart, summarize
from loadkit.profiles.logs import _CLF, open_text

_PATHS = (
    ("GET", "/tickets/{n}", 30), ("GET", "/faq/search?q={w}&page={p}", 25), ("POST", "/tickets", 10),
    ("GET", "/users/{u}/profile", 10), ("GET", "/static/app.{h}.js", 15), ("PUT", "/tickets/{n}/status", 5),
    ("GET", "/health", 5),
)
_BUILDS = ("3f9a2c1be7", "8d41e0f2a9", "c07b5d3e61")  # a few deployed bundle hashes, as in real logs
_WORDS = ("refund", "login", "shipping", "invoice", "password", "cancel")
_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def generate(path: Path, lines: int, seed: int = 7) -> None:
    """A day-shaped curve (sine over the span) of combined-format lines, written in chunks (flat memory)."""
    rng = np.random.default_rng(seed)
    weights = np.array([w for _, _, w in _PATHS], dtype=float)
    weights /= weights.sum()
    seconds = max(1, lines // 200)
    curve = 1.0 + 0.8 * np.sin(np.linspace(0, 2 * np.pi, seconds))
    per_second = np.diff(np.round(np.cumsum(curve) / curve.sum() * lines), prepend=0).astype(int)  # sums to lines
    t0 = 1_714_550_400  # 2024-05-01T08:00:00Z
    with path.open("w", encoding="utf-8") as fh:
        for s, count in enumerate(per_second):
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t0 + s))
            kinds = rng.choice(len(_PATHS), size=count, p=weights)
            nums = rng.integers(1, 10_000_000, size=count)
            status = rng.choice(["200", "201", "304", "404", "500"], size=count, p=[0.8, 0.05, 0.08, 0.05, 0.02])
            out = []
            for k, n, st in zip(kinds, nums, status, strict=True):
                method, template, _ = _PATHS[k]
                target = template.format(n=n, w=_WORDS[n % 6], p=n % 9, u=f"{n:08x}-1234-4abc-8def-{n:012x}",
                                         h=_BUILDS[n % 3])
                out.append(f'10.0.{n % 256}.{n % 199} - - [{stamp}] "{method} {target} HTTP/1.1" {st} {n % 50000} '
                           f'"https://helpdesk.example/" "{_UA}"\n')
            fh.write("".join(out))


def floor(path: Path) -> int:
    """Lines matched by one regex, reading the file as the import does: the least an importer must do."""
    matched = 0
    match = _CLF.match
    with open_text(str(path)) as fh:
        for line in fh:
            if match(line) is not None:
                matched += 1
    return matched


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--gzip", action="store_true", help="compress the log first and import the .gz")
    ap.add_argument("--keep", type=Path, default=None, help="write the log here and keep it")
    ap.add_argument("--repeats", type=int, default=3, help="floor/import pairs, alternating (default 3)")
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="loadkit-profile-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "access.log"
    try:
        t = time.perf_counter()
        generate(log, args.lines)
        if args.gzip:
            with log.open("rb") as src, gzip.open(str(log) + ".gz", "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            log.unlink()
            log = Path(str(log) + ".gz")
        size = log.stat().st_size
        print(f"generated {args.lines:,} lines, {size / 1e6:.0f} MB{' gzip' if args.gzip else ''} "
              f"in {time.perf_counter() - t:.1f} s")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        floors, imports = [], []
        for i in range(args.repeats):
            t = time.perf_counter()
            matched = floor(log)
            floors.append(matched / (time.perf_counter() - t))
            t = time.perf_counter()
            profile = profile_from_logs([str(log)])
            elapsed = time.perf_counter() - t
            imports.append(profile.lines / elapsed)
            print(f"  pair {i + 1}: floor {floors[-1]:,.0f} lines/s ({matched:,} matched), "
                  f"import {imports[-1]:,.0f} lines/s", flush=True)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        s = summarize(profile)
        t = time.perf_counter()
        render_chart(profile, work / "chart.png")
        chart_s = time.perf_counter() - t
        ratios = [b / a for a, b in zip(floors, imports, strict=True)]
        med = statistics.median
        print(f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, Python {platform.python_version()}")
        print(f"floor (one regex):  {med(floors):,.0f} lines/s median ({min(floors):,.0f}–{max(floors):,.0f})")
        print(f"import:             {med(imports):,.0f} lines/s median ({min(imports):,.0f}–{max(imports):,.0f}), "
              f"{size / 1e6 * med(imports) / profile.lines:.0f} MB/s of {'gzip' if args.gzip else 'log'}")
        print(f"import / floor:     {med(ratios):.2f} median per pair ({min(ratios):.2f}–{max(ratios):.2f}); goal >= 0.6")
        print(f"peak RSS: {rss_before / 1024:.0f} MB before the imports, {rss_after / 1024:.0f} MB after "
              f"(ru_maxrss)")
        print(f"profile: {len(profile.requests)} intervals, {len(profile.endpoints)} endpoints, "
              f"peak {s.peak_rate:.0f} req/s, {s.peak_window.name}; chart {chart_s:.2f} s")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
