"""Command line: a thin wrapper over the library. The only module that prints or exits.

Exit codes: 0 PASS or WARN, 1 FAIL, 2 usage or configuration error, 3 run error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from . import __version__
from .errors import ConfigError, LoadkitError
from .redact import strip_url
from .status import exit_code
from .units import format_value

if TYPE_CHECKING:
    from .scenario import Scenario

__all__ = ["main"]

EXIT_PASS, EXIT_FAIL, EXIT_CONFIG, EXIT_RUN, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message} (see {self.prog} --help)")


def _number(minimum: float = 0.0, maximum: float = 1e12, integer: bool = False):
    """An argparse type: a finite number in [minimum, maximum] (NaN and infinity are not numbers here)."""
    import math

    def parse(text: str) -> float | int:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole number' if integer else 'a number'}, "
                                             f"got {text!r}") from None
        if not math.isfinite(value) or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"expected a number from {minimum:g} to {maximum:g}, got {text!r}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="loadkit", description="Pre-production load tests with a CI verdict.")
    p.add_argument("--version", action="version", version=f"loadkit {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks and Locust's log")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a scenario and judge it")
    run.add_argument("scenario")
    _run_options(run)

    demo = sub.add_parser("demo", help="start the bundled stand-in, run scenarios/demo.yaml against it, stop it")
    demo.add_argument("--scenario", default=None, help="another scenario to run against the stand-in")
    _run_options(demo, host=False)

    val = sub.add_parser("validate", help="check scenario files without sending a request")
    val.add_argument("files", nargs="+")
    val.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")

    target = sub.add_parser("target", help="serve the bundled helpdesk stand-in until Ctrl-C")
    from .standin import add_arguments

    add_arguments(target)

    cmp = sub.add_parser("compare", help="re-judge a finished run against the baseline, without re-running it")
    cmp.add_argument("run_dir", type=Path)
    _baseline_options(cmp)
    _publish_options(cmp)

    base = sub.add_parser("baseline", help="manage the accepted runs that new runs are compared with")
    bsub = base.add_subparsers(dest="action", required=True, parser_class=_Parser)
    promote = bsub.add_parser("promote", help="add a finished, passing run to the baseline")
    promote.add_argument("run_dir", type=Path)
    promote.add_argument("--force", action="store_true", help="accept an interrupted, aborted, errored or failed run")
    _baseline_options(promote)
    rec = bsub.add_parser("record", help="start a baseline: run a scenario N times, spaced, promoting each run that may join")
    rec.add_argument("scenario")
    rec.add_argument("--runs", type=_number(1, 100, integer=True), default=5, help="runs to record (default: 5)")
    rec.add_argument("--every", type=_number(0, 86_400), default=0.0, metavar="SECONDS",
                     help="seconds from one run's start to the next, so the baseline sees the machine's drift "
                          "(default: 0, back to back)")
    _run_options(rec)
    listing = bsub.add_parser("list", help="scenarios and environments with baselines")
    _baseline_options(listing, env=False)
    show = bsub.add_parser("show", help="the runs in one baseline")
    show.add_argument("scenario")
    _baseline_options(show)
    remove = bsub.add_parser("remove", help="drop one run from a baseline")
    remove.add_argument("scenario")
    remove.add_argument("run_id")
    _baseline_options(remove)

    rep = sub.add_parser("report", help="write the self-contained HTML report of a finished run")
    rep.add_argument("run_dir", type=Path)
    rep.add_argument("-o", "--output", type=Path, default=None, metavar="FILE",
                     help="the HTML file (default: RUN_DIR/report.html); charts are written beside it as PNG")
    _baseline_options(rep)

    cap = sub.add_parser("capacity", help="fit the Universal Scalability Law to measured load levels; headroom")
    cap.add_argument("sources", nargs="+", metavar="SOURCE",
                     help="a CSV (concurrency,throughput[,latency_ms]), one step-load run folder, or several run folders")
    cap.add_argument("--json", action="store_true", help="print the result as JSON")
    cap.add_argument("-o", "--output", type=Path, default=None, metavar="FILE", help="write a report: .html, .md, .png or .json")
    cap.add_argument("--peak", default=None, metavar="RPS|PROFILE",
                     help="recorded peak throughput: a number, or a traffic profile whose peak rate is used")
    cap.add_argument("--growth", type=_number(1e-6, 1e6), default=1.0, metavar="X", help="growth factor applied to --peak (default 1)")
    cap.add_argument("--latency-limit", type=_number(1e-6, 1e9), default=None, metavar="MS", help="mean-latency limit in ms")
    cap.add_argument("--think-time", type=_number(0, 1e6), default=0.0, metavar="S", help="users' wait between requests, seconds")
    cap.add_argument("--include-generator-limited", action="store_true",
                     help="keep steps the load generator could not drive in the fit (left out by default)")
    cap.add_argument("--seed", type=int, default=0, help="seed of the draws behind the intervals (default 0)")

    prof = sub.add_parser("profile", help="production traffic profiles")
    psub = prof.add_subparsers(dest="profile_command", required=True, parser_class=_Parser)
    imp = psub.add_parser("import", help="build a traffic profile from access logs, a CSV rate series or Prometheus")
    from .profiles import add_import_arguments

    add_import_arguments(imp)

    envp = sub.add_parser("env", help="environment fingerprints: capture production's as a reference, diff two")
    esub = envp.add_subparsers(dest="env_command", required=True, parser_class=_Parser)
    cap_env = esub.add_parser("capture", help="record a configuration fingerprint (secrets masked) as a reference")
    cap_env.add_argument("--url", action="append", default=[], help="a URL answering JSON, YAML or KEY=VALUE lines")
    cap_env.add_argument("--file", action="append", default=[], help="a configuration file (JSON, YAML, KEY=VALUE)")
    cap_env.add_argument("--env-var", action="append", default=[], metavar="NAME", help="an environment variable")
    cap_env.add_argument("--command", dest="commands", action="append", default=[], metavar="[NAME=]CMD",
                         help="a command whose output is JSON or KEY=VALUE lines (no shell); NAME names the source")
    cap_env.add_argument("--ignore", action="append", default=[], metavar="GLOB", help="keys to leave out, e.g. '*#port'")
    cap_env.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="where to write it (JSON)")
    diff_env = esub.add_parser("diff", help="compare two fingerprints as a run compares with its reference")
    diff_env.add_argument("a", type=Path, metavar="A.json", help="the reference (a capture or a run's environment.json)")
    diff_env.add_argument("b", type=Path, metavar="B.json")
    diff_env.add_argument("--ignore", action="append", default=[], metavar="GLOB", help="keys to leave out")
    diff_env.add_argument("--map", action="append", default=[], metavar="A_SOURCE=B_SOURCE",
                          help="a source (or key) of A that B names differently")

    scen = sub.add_parser("scenario", help="make scenarios from recordings")
    ssub = scen.add_subparsers(dest="scenario_command", required=True, parser_class=_Parser)
    har = ssub.add_parser("from-har", help="turn a browser recording (HAR) into a flow scenario")
    har.add_argument("har", help="the .har file (DevTools: Save all as HAR)")
    har.add_argument("-o", "--out", required=True, help="the scenario file to write")
    har.add_argument("--name", help="the scenario's name (default: the output file's stem)")
    har.add_argument("--host", help="the host (host:port) to replay; default: the one most requests went to (others are dropped)")
    har.add_argument("--keep-static", action="store_true", help="keep scripts, styles, images and fonts")
    har.add_argument("--min-think", type=float, default=0.2,
                     help="shortest pause, in seconds, kept as a think time (default 0.2)")
    har.add_argument("--force", action="store_true", help="replace the output file if it exists")
    oas = ssub.add_parser("from-openapi", help="a skeleton scenario from an OpenAPI 3 description")
    oas.add_argument("spec", help="the OpenAPI 3 file (YAML or JSON)")
    oas.add_argument("-o", "--out", required=True, help="the scenario file to write")
    oas.add_argument("--name", help="the scenario's name (default: the output file's stem)")
    oas.add_argument("--host", help="the target URL (default: the spec's first absolute server URL)")
    oas.add_argument("--force", action="store_true", help="replace the output file if it exists")

    worker = sub.add_parser("worker", help="run as a Locust worker of a `loadkit run --expect-workers` master")
    worker.add_argument("scenario")
    worker.add_argument("--master", required=True, metavar="HOST:PORT")
    worker.add_argument("--host", default=None)
    worker.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    worker.add_argument("--parent-pid", type=int, default=None, help="quit when this process (the master) is gone")
    worker.add_argument("--max-seconds", type=_number(0.001, 1e8), default=None, help="quit after this many seconds in any case")
    return p


def _baseline_options(p: argparse.ArgumentParser, env: bool = True) -> None:
    p.add_argument("--baselines", type=Path, default=Path("baselines"), help="baseline folder (default: baselines)")
    if env:
        p.add_argument("--env", default="staging", help="environment the baseline belongs to (default: staging)")
    p.add_argument("--keep", type=_number(1, 10_000, integer=True), default=10, help="runs kept per baseline (default: 10)")


def _publish_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--junit", type=Path, default=None, help="write the verdict as JUnit XML (one testcase per check)")
    p.add_argument("--markdown", type=Path, default=None, help="write a Markdown summary (PR comment, step summary)")


def _run_options(p: argparse.ArgumentParser, host: bool = True) -> None:
    _baseline_options(p)
    _publish_options(p)
    p.add_argument("--promote-on-pass", action="store_true", help="add the run to the baseline when it passes")
    p.add_argument("--confirm", type=_number(0, 10, integer=True), default=0, metavar="N",
                   help="when only baseline comparisons fail, rerun up to N times and judge the runs together")
    p.add_argument("--env-var", action="append", default=[], metavar="KEY=VALUE",
                   help="a configuration value recorded in the environment fingerprint (repeatable)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value, e.g. --set load.stages.1.users=80")
    if host:
        p.add_argument("--host", default=None, help="override target.host (must be in allowed_hosts)")
    p.add_argument("--out", default="results", type=Path, help="folder the run folder is created in (default: results)")
    p.add_argument("--run-id", default=None, help="name of the run folder (default: time, scenario, random suffix)")
    p.add_argument("--workers", type=_number(0, 1024, integer=True), default=0, help="Locust worker processes on this host (default: none)")
    p.add_argument("--expect-workers", type=_number(0, 1024, integer=True), default=0,
                   help="workers from other hosts (`loadkit worker SCENARIO --master ADDR:PORT`) to wait for")
    p.add_argument("--master-bind", default=None, metavar="ADDR:PORT",
                   help="where the master listens (default: 0.0.0.0:5557 with --expect-workers, else loopback)")
    p.add_argument("--worker-timeout", type=_number(1, 3600), default=60.0,
                   help="seconds to wait for every worker to join (default: 60)")
    p.add_argument("--target-pid", type=int, default=None, help="sample this process's CPU during the run")
    p.add_argument("--progress-interval", type=_number(0.05, 3600), default=None,
                   help="seconds between progress lines (default: 1 on a terminal, 5 otherwise)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    logging.basicConfig(level=logging.INFO if debug else logging.WARNING, stream=err,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        args = _parser().parse_args(argv)
        return _COMMANDS[args.command](args, out, err)
    except LoadkitError as exc:
        if debug:
            raise
        for line in exc.lines():
            print(f"loadkit: error: {line}", file=err)
        return exc.exit_code
    except KeyboardInterrupt:
        print("loadkit: interrupted", file=err)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug in loadkit: one line, the traceback with --debug
        if debug:
            raise
        print(f"loadkit: internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback)",
              file=err)
        return EXIT_RUN


def _cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .scenario import load_scenario

    problems: list[str] = []
    for file in args.files:
        try:
            s = load_scenario(file, overrides=args.set)
            print(f"{file}: ok ({s.name}: {len(s.users)} users, {s.load.duration:g}s, {len(s.checks)} checks)", file=out)
            _print_load_warnings(s, file, err)
        except ConfigError as exc:
            problems += exc.lines()
    for line in problems:
        print(f"loadkit: error: {line}", file=err)
    return EXIT_CONFIG if problems else EXIT_PASS


def _cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario, overrides=args.set, host=args.host)
    _print_load_warnings(scenario, args.scenario, err)
    return _execute(scenario, args, out, err, target_pid=args.target_pid)


def _print_load_warnings(scenario: Scenario, file: str, err: TextIO) -> None:
    """What a replay cannot do as recorded (``OpenLoad.warnings``), before anything is sent."""
    if scenario.load.open is not None:
        for w in scenario.load.open.warnings:
            print(f"loadkit: warning: {file}: load.replay: {w}", file=err)


def _cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .scenario import load_scenario
    from .standin import StandinConfig, start_standin

    file = args.scenario or _demo_scenario()
    load_scenario(file, overrides=args.set)  # bad input is reported before anything starts
    with start_standin(StandinConfig()) as target:
        print(f"stand-in target listening on {target.url} (pid {target.pid})", file=err)
        scenario = load_scenario(file, overrides=args.set, host=target.url)
        return _execute(scenario, args, out, err, target_pid=args.target_pid or target.pid)


def _demo_scenario() -> str:
    for candidate in (Path("scenarios/demo.yaml"), Path(__file__).resolve().parents[1] / "scenarios" / "demo.yaml"):
        if candidate.is_file():
            return str(candidate)
    raise ConfigError("scenarios/demo.yaml not found: run from the loadkit checkout, or pass --scenario FILE")


def _workers_text(args: argparse.Namespace) -> str:
    parts = [f"{args.workers} local"] if args.workers else []
    if args.expect_workers:
        parts.append(f"{args.expect_workers} remote, master at {args.master_bind or '0.0.0.0:5557'}")
    return f" with workers ({', '.join(parts)})" if parts else ""


def _factory(scenario, args: argparse.Namespace, err: TextIO, target_pid: int | None):
    """The baseline store and a maker of the run the flags describe (``rerun``: no promotion or CI files)."""
    from .baseline import BaselineStore
    from .run import LoadRun
    from .run.progress import render_bar, render_line

    if args.workers < 0:
        raise ConfigError(f"--workers: expected 0 or more, got {args.workers}")
    tty = err.isatty()
    interval = args.progress_interval or (1.0 if tty else 5.0)

    def show(p) -> None:
        if not args.quiet:
            print(render_bar(p) if tty else render_line(p), file=err, end="" if tty else "\n", flush=True)

    pairs = {}
    for item in args.env_var:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--env-var: expected KEY=VALUE, got {item!r}")
        pairs[key] = value
    store = BaselineStore(args.baselines, args.keep)
    store.folder(scenario.name, args.env)  # a bad --env is refused before the load

    def make(rerun: bool = False) -> LoadRun:
        return LoadRun(scenario, args.out, workers=args.workers, expect_workers=args.expect_workers,
                       master_bind=args.master_bind, worker_start_timeout=args.worker_timeout,
                       run_id=None if rerun else args.run_id, target_pid=target_pid, progress_interval=interval,
                       baselines=store, environment=args.env, env_pairs=pairs, junit=None if rerun else args.junit,
                       markdown=None if rerun else args.markdown,
                       promote_on_pass=args.promote_on_pass and not rerun, on_progress=show)

    return store, make


def _execute(scenario, args: argparse.Namespace, out: TextIO, err: TextIO, target_pid: int | None) -> int:
    import gevent

    from .run.confirm import ConfirmedRun

    tty = err.isatty()
    _, make = _factory(scenario, args, err, target_pid)

    def rerunning(i: int, outcome) -> None:
        print(f"loadkit: only baseline comparisons failed; confirming with rerun {i} of {args.confirm}", file=err)

    run = ConfirmedRun(make, args.confirm, rerunning) if args.confirm else make(False)
    print(f"loadkit {__version__}: running {scenario.name} against {strip_url(scenario.target.host)} "
          f"for {scenario.load.duration:g}s" + _workers_text(args), file=err)
    handlers = [gevent.signal_handler(sig, run.interrupt, f"interrupted by {sig.name}")
                for sig in (signal.SIGINT, signal.SIGTERM)]
    try:  # a signal stops the load; once the load has ended it waits until every output is written
        outcome = run.execute()
    finally:
        for h in handlers:
            h.cancel()
        _exit_on_signal()
    if tty and not args.quiet:
        print(file=err)
    if outcome.status == "error":
        print(f"loadkit: error: {outcome.reason}", file=err)
    s = outcome.summary.requests
    p95 = s.latency_ms.p95 if s.latency_ms else None
    print(f"requests: {outcome.samples} ({s.total} checked, {s.failures} failed), "
          f"{s.rps:.1f}/s, p95 {format_value('latency', p95)}", file=out)
    _print_verdict(outcome.verdict, outcome.paths.root, outcome.files, outcome.warnings, out)
    if outcome.promoted:
        record, pruned = outcome.promoted
        print(f"baseline: promoted {record.run_id} to {record.scenario}/{args.env}"
              + (f" (dropped {', '.join(pruned)})" if pruned else ""), file=out)
    return exit_code(outcome.verdict.status, outcome.status)


def _exit_on_signal() -> None:
    """Every output is written: what is left is printing and exiting, which a signal must not cut short
    (the process would die by the raw signal, and CI would read that as a crash, not as the verdict)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def _print_verdict(verdict, run_dir: Path, files: tuple[Path, ...], warnings: tuple[str, ...], out: TextIO) -> None:
    """Print the verdict, what the run says about its measurement, and the files written (lines from the library)."""
    from .report.ci import terminal_lines
    from .report.facts import read_truth

    for line in terminal_lines(verdict, run_dir, files, warnings, read_truth(run_dir)):
        print(line, file=out)


def _cmd_compare(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .baseline import BaselineStore
    from .report.publish import publish
    from .runfolder import read_json
    from .verdict import checks_from_manifest, judge_run

    manifest = read_json(args.run_dir / "manifest.json")
    checks, compare = checks_from_manifest(manifest)
    store = BaselineStore(args.baselines, args.keep)
    verdict = judge_run(args.run_dir, checks, compare, store, args.env)
    published = publish(args.run_dir, verdict, baselines=store, environment=args.env, junit=args.junit,
                        markdown_file=args.markdown)
    _print_verdict(verdict, args.run_dir, published.files, published.warnings, out)
    return exit_code(verdict.status, manifest.get("status", "error"))


def _cmd_baseline(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .baseline import BaselineStore

    if args.action == "record":
        return _baseline_record(args, out, err)
    store = BaselineStore(args.baselines, args.keep)
    if args.action == "promote":
        from .verdict.promote import promote_run

        record, pruned = promote_run(store, args.run_dir, args.env, time.time(), force=args.force)
        print(f"promoted {record.run_id} to {record.scenario}/{args.env}"
              + (" (forced)" if args.force else "") + (f"; dropped {', '.join(pruned)}" if pruned else ""), file=out)
    elif args.action == "list":
        entries = store.entries()
        if not entries:
            print(f"no baselines in {args.baselines}", file=out)
        for scenario, env, n in entries:
            print(f"{scenario}/{env}: {n} run(s)", file=out)
    elif args.action == "show":
        runs = store.runs(args.scenario, args.env)
        if not runs:
            raise ConfigError(f"no baseline for {args.scenario}/{args.env} in {args.baselines}")
        for r in runs:
            a = r.aggregates
            p95, rps, er = a.get("p95(latency)"), a.get("rps"), a.get("error_rate")
            print(f"{r.run_id}  start {r.start}  p95 {p95 if p95 is None else f'{p95:.1f} ms'}  "
                  f"rps {rps if rps is None else f'{rps:.1f}'}  errors {er if er is None else f'{er:.2%}'}  "
                  f"config {r.fingerprint_hash[:12] or '-'}" + ("  (forced)" if r.forced else ""), file=out)
    else:
        store.remove(args.scenario, args.env, args.run_id)
        print(f"removed {args.run_id} from {args.scenario}/{args.env}", file=out)
    return EXIT_PASS


def _baseline_record(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .run.record import record_baseline
    from .scenario import load_scenario
    from .verdict.compare import MIN_RUNS

    scenario = load_scenario(args.scenario, overrides=args.set, host=args.host)
    args.promote_on_pass = False  # record_baseline promotes, after judging each run against the runs it joins
    store, make = _factory(scenario, args, err, args.target_pid)
    store.check_writable(scenario.name, args.env)
    interrupted: list[str] = []

    def report(i: int, rec) -> None:
        head = f"run {i} of {args.runs}: {rec.outcome.paths.root.name}"
        print(f"{head}: promoted" if rec.promoted else f"{head}: not promoted: {rec.reason}", file=out)

    import gevent

    current: list = []

    def tracked():
        current[:] = [make(False)]
        return current[0]

    def stop(reason: str) -> None:
        interrupted.append(reason)
        if current:
            current[0].interrupt(reason)

    handlers = [gevent.signal_handler(sig, stop, f"interrupted by {sig.name}") for sig in (signal.SIGINT, signal.SIGTERM)]
    try:
        done = record_baseline(tracked, args.runs, args.every, store, args.env, on_run=report,
                               stopped=lambda: bool(interrupted))
    finally:
        for h in handlers:
            h.cancel()
    have = len(store.runs(scenario.name, args.env))
    print(f"baseline {scenario.name}/{args.env}: {have} run(s), {sum(r.promoted for r in done)} promoted now"
          + ("" if have >= MIN_RUNS else f"; comparisons block from {MIN_RUNS} runs"), file=out)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_PASS if have >= MIN_RUNS else EXIT_FAIL


def _cmd_target(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from gevent import monkey

    monkey.patch_all()  # before psycopg opens a socket: database calls then overlap
    from .standin import config_from_args, serve

    config = config_from_args(args, os.environ)
    serve(config, ready=lambda url: print(f"stand-in target listening on {url} (Ctrl-C stops it)", file=out, flush=True))
    return EXIT_PASS


def _cmd_env(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.env_command == "capture":
        from .run.preflight import capture_environment

        fp = capture_environment(args.output, files=args.file, urls=args.url, env_names=args.env_var,
                                 commands=args.commands, ignore=args.ignore, env=os.environ)
        print(f"captured {len(fp.values)} key(s) from {len(fp.sources)} source(s) into {args.output} "
              f"(hash {fp.hash[:12]})", file=out)
        return EXIT_PASS
    from .parity import diff, read_reference
    from .report.ci import parity_lines

    renames = []
    for item in args.map:
        a, sep, b = item.partition("=")
        if not sep or not a or not b:
            raise ConfigError(f"--map: expected A_SOURCE=B_SOURCE, got {item!r}")
        renames.append((a, b))
    a, b = read_reference(args.a), read_reference(args.b)
    result = diff(a, b, tuple(args.ignore), tuple(renames))
    for line in parity_lines(result, here=str(args.b)):
        print(line, file=out)
    return EXIT_FAIL if result.differences else EXIT_PASS


def _cmd_worker(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .run.workers import run_worker
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario, overrides=args.set, host=args.host)
    return run_worker(scenario, args.master, args.parent_pid, args.max_seconds, lambda line: print(line, file=err))


def _cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .baseline import BaselineStore
    from .report import write_report

    files = write_report(args.run_dir, args.output, BaselineStore(args.baselines, args.keep), args.env)
    for line in files.missing:
        print(f"note: {line}", file=out)
    print(f"report: {files.html}" + "".join(f"\nchart: {c}" for c in files.charts), file=out)
    return EXIT_PASS


def _cmd_capacity(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json

    import numpy as np

    from .capacity import analyze, load_input, read_step_loads, render_text, write_report

    title = Path(args.sources[0]).name if len(args.sources) == 1 else f"{len(args.sources)} runs"
    peak = None
    if args.peak is not None:
        try:
            peak = float(args.peak)
        except ValueError:
            from .profiles import load_profile
            from .profiles import summarize as summarize_profile

            peak = summarize_profile(load_profile(args.peak)).peak_rate
            print(f"peak from {args.peak}: {peak:.1f} requests/s", file=err if args.json else out)
    if args.seed < 0:
        raise ConfigError(f"--seed: expected 0 or a positive whole number, got {args.seed}")
    data = load_input(args.sources)
    report = analyze(data.points, peak_rps=peak, growth=args.growth, latency_limit_ms=args.latency_limit,
                     think_time_s=args.think_time, title=title, rng=np.random.default_rng(args.seed),
                     loads=read_step_loads(data), runs=data.runs,
                     include_generator_limited=args.include_generator_limited)
    if args.output:
        write_report(report, args.output)
    print(json.dumps(report.to_json(), indent=2) if args.json else render_text(report), file=out)
    return EXIT_PASS if report.fit.ok else EXIT_FAIL


def _cmd_profile(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json

    from .profiles import run_import

    report = run_import(args)
    for line in report.warnings():
        print(f"loadkit: warning: {line}", file=err)
    if args.json or args.json_intervals:
        print(json.dumps(report.json(intervals=args.json_intervals), indent=2), file=out)
    else:
        for line in report.lines():
            print(line, file=out)
    return EXIT_PASS


def _cmd_scenario(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import re
    from pathlib import Path

    from .scenario.har import HarOptions, write_har_scenario
    from .scenario.openapi import write_openapi_scenario

    name = args.name or re.sub(r"[^A-Za-z0-9_.-]", "-", Path(args.out).stem).strip("-.") or "recorded"
    if args.scenario_command == "from-openapi":
        s = write_openapi_scenario(args.spec, args.out, name, args.host, args.force)
        print(f"{args.out}: {len(s['users'][0]['requests'])} requests, one per operation; {s['description']}", file=out)
        return EXIT_PASS
    s = write_har_scenario(args.har, args.out, HarOptions(name=name, host=args.host, keep_static=args.keep_static,
                                                          min_think=args.min_think), force=args.force)
    flow = s["users"][0]["flow"]
    requests = [x for x in flow if "path" in x]
    extracted = sum(len(x.get("extract") or {}) for x in requests)
    print(f"{args.out}: {len(requests)} requests, {len(flow) - len(requests)} think times, {extracted} extracted "
          f"values; {s['description']}", file=out)
    return EXIT_PASS


_COMMANDS = {"run": _cmd_run, "demo": _cmd_demo, "validate": _cmd_validate, "target": _cmd_target,
             "worker": _cmd_worker, "compare": _cmd_compare, "baseline": _cmd_baseline, "capacity": _cmd_capacity, "report": _cmd_report,
             "profile": _cmd_profile, "env": _cmd_env, "scenario": _cmd_scenario}
