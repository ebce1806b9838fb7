"""The stand-in's knobs: one frozen dataclass, filled from flags, the environment or code.

Every way in (``StandinConfig(...)``, :meth:`StandinConfig.from_env`, the CLI flags) ends in
``__post_init__``, so a bad value is rejected once, with one line, as a ConfigError.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError
from ..redact import redact

__all__ = [
    "ENDPOINTS",
    "StandinConfig",
    "add_arguments",
    "config_from_args",
    "parse_latency",
    "parse_stall",
]

#: Endpoint templates the stand-in serves; latency keys must be one of these or "*".
ENDPOINTS = (
    "/health",
    "/faq/search",
    "/tickets",
    "/tickets/{id}",
    "/config",
    "/metrics",
)

_PG_PREFIXES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class StandinConfig:
    """What the stand-in serves and how badly it behaves (latency, CPU, stalls)."""

    host: str = "127.0.0.1"
    port: int = 0
    db: str = "sqlite"
    cache: bool = True
    cpu_ms: float = 0.0
    latency_ms: Mapping[str, float] = field(default_factory=dict)
    stall: tuple[float, float] | None = None
    pool_size: int = 8  # PostgreSQL connections; SQLite has one, but /config shows the setting either way

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigError(f"standin port must be 0..65535, got {self.port!r}")
        if not self.host:
            raise ConfigError("standin host must not be empty")
        if self.db != "sqlite" and not is_postgres_dsn(self.db):
            raise ConfigError(f"standin db must be 'sqlite' or a postgresql:// DSN, got {redact(self.db)!r}")
        object.__setattr__(self, "cpu_ms", _non_negative("cpu_ms", self.cpu_ms))
        if isinstance(self.pool_size, bool) or not isinstance(self.pool_size, int) or not 1 <= self.pool_size <= 1000:
            raise ConfigError(f"standin pool_size must be a whole number from 1 to 1000, got {self.pool_size!r}")
        latency = {}
        for key, value in dict(self.latency_ms).items():
            if key != "*" and key not in ENDPOINTS:
                raise ConfigError(
                    f"standin latency endpoint {key!r} is unknown; use one of {', '.join(ENDPOINTS)} or '*'"
                )
            latency[key] = _non_negative(f"latency for {key}", value)
        # Frozen all the way down: a shared config must not change under a running server.
        object.__setattr__(self, "latency_ms", MappingProxyType(latency))
        if self.stall is not None:
            object.__setattr__(self, "stall", _check_stall(self.stall))

    def latency_for(self, endpoint: str) -> float:
        """Injected latency in ms: the endpoint's own value wins over ``"*"``."""
        return self.latency_ms.get(endpoint, self.latency_ms.get("*", 0.0))

    @property
    def db_kind(self) -> str:
        return "sqlite" if self.db == "sqlite" else "postgresql"

    def public(self) -> dict[str, Any]:
        """The configuration as JSON-ready data, credentials masked (served by ``/config``)."""
        return {
            "host": self.host,
            "port": self.port,
            "db": self.db_kind,
            "dsn": None if self.db == "sqlite" else redact(self.db),
            "cache": self.cache,
            "pool_size": self.pool_size,
            "cpu_ms": self.cpu_ms,
            "latency_ms": dict(self.latency_ms),
            "stall": list(self.stall) if self.stall else None,
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> StandinConfig:
        """Read ``STANDIN_*`` variables; keyword overrides (e.g. from flags) win."""
        values: dict[str, Any] = {}
        if env.get("STANDIN_HOST"):
            values["host"] = env["STANDIN_HOST"]
        if env.get("STANDIN_PORT"):
            values["port"] = _int("STANDIN_PORT", env["STANDIN_PORT"])
        if env.get("STANDIN_DB"):
            values["db"] = env["STANDIN_DB"]
        if env.get("STANDIN_CACHE"):
            values["cache"] = _bool("STANDIN_CACHE", env["STANDIN_CACHE"])
        if env.get("STANDIN_POOL_SIZE"):
            values["pool_size"] = _int("STANDIN_POOL_SIZE", env["STANDIN_POOL_SIZE"])
        if env.get("STANDIN_CPU_MS"):
            values["cpu_ms"] = _float("STANDIN_CPU_MS", env["STANDIN_CPU_MS"])
        if env.get("STANDIN_LATENCY"):
            values["latency_ms"] = parse_latency([env["STANDIN_LATENCY"]])
        if env.get("STANDIN_STALL"):
            values["stall"] = parse_stall(env["STANDIN_STALL"])
        values.update(overrides)
        return cls(**values)


def is_postgres_dsn(db: str) -> bool:
    return db.startswith(_PG_PREFIXES)


def parse_latency(items: list[str]) -> dict[str, float]:
    """``["/tickets=50,*=5"]`` → ``{"/tickets": 50.0, "*": 5.0}``; later items win."""
    latency: dict[str, float] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            endpoint, sep, ms = part.rpartition("=")
            if not sep or not endpoint:
                raise ConfigError(f"standin latency {part!r} must look like ENDPOINT=MS, e.g. /tickets=50")
            latency[endpoint.strip()] = _float(f"latency for {endpoint.strip()}", ms)
    return latency


def parse_stall(text: str) -> tuple[float, float]:
    """``"5,8"`` → ``(5.0, 8.0)``: stall between 5 s and 8 s after start."""
    parts = text.split(",")
    if len(parts) != 2:
        raise ConfigError(f"standin stall {text!r} must look like T0,T1 (seconds), e.g. 5,8")
    return _check_stall((_float("stall start", parts[0]), _float("stall end", parts[1])))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the stand-in's flags; unset flags stay None so the environment can fill them."""
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--db", help="'sqlite' (default) or a postgresql:// DSN")
    parser.add_argument(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="memoise FAQ search results (default on)",
    )
    parser.add_argument("--cpu-ms", dest="cpu_ms", help="CPU to burn per request, in ms")
    parser.add_argument("--pool-size", dest="pool_size", type=int,
                        help="database connections (PostgreSQL; SQLite has one); shown by /config (default 8)")
    parser.add_argument(
        "--latency",
        action="append",
        metavar="ENDPOINT=MS",
        help="injected latency, e.g. /tickets=50 or '*=5'; repeatable, comma lists allowed",
    )
    parser.add_argument("--stall", metavar="T0,T1", help="hold every request between T0 and T1 s after start")


def config_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> StandinConfig:
    """Flags from :func:`add_arguments` over ``STANDIN_*`` environment over defaults."""
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "db", "cache", "pool_size"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    if getattr(args, "cpu_ms", None) is not None:
        overrides["cpu_ms"] = _float("--cpu-ms", str(args.cpu_ms))
    if getattr(args, "latency", None):
        overrides["latency_ms"] = parse_latency(args.latency)
    if getattr(args, "stall", None):
        overrides["stall"] = parse_stall(args.stall)
    return StandinConfig.from_env(env, **overrides)


def _float(what: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"standin {what} must be a number, got {text!r}") from None


def _int(what: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"standin {what} must be an integer, got {text!r}") from None


def _bool(what: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"standin {what} must be 0 or 1, got {text!r}")


def _non_negative(what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"standin {what} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"standin {what} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_stall(stall: Any) -> tuple[float, float]:
    try:
        t0, t1 = (_non_negative("stall time", v) for v in stall)
    except (TypeError, ValueError):
        raise ConfigError(f"standin stall must be a pair (t0, t1), got {stall!r}") from None
    if t1 <= t0:
        raise ConfigError(f"standin stall end must be after its start, got {t0},{t1}")
    return (t0, t1)
