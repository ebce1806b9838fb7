"""Uncaught exceptions in user code: counted, with their type, text and where they were raised.

A task that raises stops its iteration, so the load was not the one the scenario describes;
Locust keeps such exceptions in ``runner.exceptions`` and writes ``exceptions.csv``. Here they
are taken from Locust's ``user_error`` event as they happen (type and message, the innermost
frame, the traceback of the first one), with no reference to the exception kept, and end in
``summary.json`` and the verdict. Workers ship theirs to the master when they stop.
"""

from __future__ import annotations

import traceback
from typing import Any

from ..redact import Redactor

__all__ = ["ExceptionLog", "where_raised"]


def where_raised(tb: Any) -> str:
    """``file:line in function`` of the innermost frame of a traceback."""
    frames = traceback.extract_tb(tb) if tb is not None else []
    if not frames:
        return ""
    f = frames[-1]
    return f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}"


class ExceptionLog:
    """Listens to ``user_error``; ``rows()`` gives ``[{count, message, where, traceback}]``, most frequent first."""

    def __init__(self, redactor: Redactor | None = None):
        self.redactor = redactor or Redactor()
        self.counts: dict[tuple[str, str], dict] = {}

    def attach(self, events: Any) -> None:
        events.user_error.add_listener(self.on_error)

    def on_error(self, user_instance: Any = None, exception: BaseException | None = None, tb: Any = None,
                 **_: Any) -> None:
        if exception is None:
            return
        message = f"{type(exception).__name__}: {exception}" if str(exception) else type(exception).__name__
        key = (message, where_raised(tb))
        row = self.counts.get(key)
        if row is None:
            text = "".join(traceback.format_exception(type(exception), exception, tb))
            row = self.counts[key] = {"count": 0, "message": self.redactor.text(message)[:500], "where": key[1],
                                      "traceback": self.redactor.text(text)[-4000:]}
        row["count"] += 1

    def merge(self, rows: list[dict]) -> None:
        """Rows shipped by a worker."""
        for r in rows:
            key = (str(r.get("message", "")), str(r.get("where", "")))
            mine = self.counts.setdefault(key, {**r, "count": 0})
            mine["count"] += int(r.get("count", 0))

    def rows(self) -> list[dict]:
        return sorted((dict(r) for r in self.counts.values()), key=lambda r: -r["count"])
