"""Uncaught exceptions in user code: counted, with their text and where they were raised.

Locust keeps them in ``runner.exceptions`` (and writes ``exceptions.csv``); a task that raises
stops its iteration, so the load was not the one the scenario describes. The verdict says so.
"""

from __future__ import annotations

import re
from typing import Any

from ..redact import Redactor

__all__ = ["locust_exceptions", "where_raised"]

_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def where_raised(traceback_text: str) -> str:
    """``file:line in function`` of the innermost frame of a formatted traceback."""
    frames = _FRAME.findall(traceback_text or "")
    if not frames:
        return ""
    file, line, fn = frames[-1]
    return f"{file.rsplit('/', 1)[-1]}:{line} in {fn}"


def locust_exceptions(runner: Any, redactor: Redactor) -> list[dict]:
    """``[{count, message, where, traceback}]`` of the runner's exceptions, most frequent first, redacted."""
    out = []
    for row in getattr(runner, "exceptions", {}).values():
        tb = str(row.get("traceback", ""))
        out.append({"count": int(row.get("count", 0)), "message": redactor.text(str(row.get("msg", "")))[:500],
                    "where": where_raised(tb), "traceback": redactor.text(tb)[-4000:]})
    return sorted(out, key=lambda r: -r["count"])
