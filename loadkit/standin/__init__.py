"""A bundled stand-in for a staging service: a small helpdesk HTTP API with tunable latency,
CPU cost, caching, stalls and a SQLite or PostgreSQL backend, so loadkit can be tried and
tested without a real target.

Importing this package never monkey-patches; only ``python -m loadkit.standin`` does.
"""

from .config import StandinConfig, add_arguments, config_from_args
from .server import StandinHandle, serve, start_standin

__all__ = [
    "StandinConfig",
    "StandinHandle",
    "add_arguments",
    "config_from_args",
    "serve",
    "start_standin",
]
