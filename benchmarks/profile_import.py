"""Throughput of ``loadkit profile import`` on a synthetic combined-format access log.

Generates N lines (default 2,000,000, about 400 MB) of nginx combined log with ids, UUIDs and
query strings in the paths, over a day-shaped rate curve, then imports it and prints lines/s
and the peak RSS (``resource.getrusage``), which must stay flat however big the log is. With
``--gzip`` the log is gzip-compressed first, to time decompression too.

Usage: ``python benchmarks/profile_import.py [--lines 2000000] [--gzip] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from loadkit.profiles import profile_from_logs, render_chart, summarize

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--gzip", action="store_true", help="compress the log first and import the .gz")
    ap.add_argument("--keep", type=Path, default=None, help="write the log here and keep it")
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
        t = time.perf_counter()
        profile = profile_from_logs([str(log)])
        elapsed = time.perf_counter() - t
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        s = summarize(profile)
        t = time.perf_counter()
        render_chart(profile, work / "chart.png")
        chart_s = time.perf_counter() - t
        print(f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, Python {platform.python_version()}")
        print(f"import: {profile.lines:,} lines in {elapsed:.2f} s = {profile.lines / elapsed:,.0f} lines/s "
              f"({size / 1e6 / elapsed:.0f} MB/s of {'gzip' if args.gzip else 'log'})")
        print(f"peak RSS: {rss_before / 1024:.0f} MB before the import, {rss_after / 1024:.0f} MB after "
              f"(ru_maxrss)")
        print(f"profile: {len(profile.requests)} intervals, {len(profile.endpoints)} endpoints, "
              f"peak {s.peak_rate:.0f} req/s, {s.peak_window.name}; chart {chart_s:.2f} s")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
