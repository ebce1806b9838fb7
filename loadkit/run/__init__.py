"""Driving the load: Locust as a library, full-resolution capture, abort rules, workers.

Importing this package imports Locust, which applies gevent's monkey patching: only code that
runs load imports it (``runner``, ``engine``, ``users``, ``shapes``, ``openmodel``, ``capture``,
``workers``, ``abort``, ``progress``, ``preflight``, ``manifest``).
"""

from .runner import LoadRun, RunOptions, RunOutcome

__all__ = ["LoadRun", "RunOptions", "RunOutcome"]
