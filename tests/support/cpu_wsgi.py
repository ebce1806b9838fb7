"""A WSGI app that burns a known amount of CPU per request: a pre-fork target whose CPU is easy to predict.

Every request spins for BURN_MS milliseconds of the worker's own CPU time (default 4), then
answers ``ok``. Run under gunicorn with several workers, the CPU of the whole server is the sum
over its processes, which is what a collector by ``port:`` must report.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

BURN_S = float(os.environ.get("BURN_MS", "4")) / 1000.0


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    t0 = time.process_time()
    while time.process_time() - t0 < BURN_S:
        pass
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
