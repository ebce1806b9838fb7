"""``python -m loadkit.standin``: serve the stand-in until SIGTERM/SIGINT.

This is the server process's entry point, the only place monkey-patching is allowed: it
must come before psycopg is imported so that its waits yield to other greenlets.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402

from loadkit.errors import LoadkitError  # noqa: E402
from loadkit.standin.config import add_arguments, config_from_args  # noqa: E402
from loadkit.standin.server import READY_PREFIX, serve  # noqa: E402


def _announce(url: str) -> None:
    print(f"{READY_PREFIX}{url}", flush=True)


def _watch_parent(parent_pid: int) -> None:
    """Stop when the process that started us is gone, so no stand-in outlives a crashed run."""
    while os.getppid() == parent_pid:
        gevent.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadkit.standin", description="Serve the loadkit staging stand-in."
    )
    add_arguments(parser)
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args, os.environ)
        if args.parent_pid:
            gevent.spawn(_watch_parent, args.parent_pid)
        serve(config, ready=_announce)
    except LoadkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
