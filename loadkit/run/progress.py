"""Progress of a running test: one snapshot type and two renderings (terminal bar, CI log line)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Progress", "render_bar", "render_line"]


@dataclass(frozen=True)
class Progress:
    elapsed: float
    total: float
    users: int
    rps: float
    p95_ms: float | None
    requests: int
    failures: int
    inflight: int = 0  # requests sent and not answered yet

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def _p95(p: Progress) -> str:
    return "-" if p.p95_ms is None else f"{p.p95_ms:.0f}ms"


def render_line(p: Progress) -> str:
    """A plain line for logs that are not a terminal."""
    return (f"[{p.elapsed:5.0f}s/{p.total:.0f}s] users={p.users} rps={p.rps:.1f} p95={_p95(p)} "
            f"requests={p.requests} errors={p.failures} ({p.error_rate:.2%}) in-flight={p.inflight}")


def render_bar(p: Progress, width: int = 24) -> str:
    """A one-line bar, redrawn in place with a carriage return."""
    frac = min(1.0, p.elapsed / p.total) if p.total else 1.0
    filled = int(frac * width)
    bar = "#" * filled + "-" * (width - filled)
    return (f"\r[{bar}] {p.elapsed:4.0f}/{p.total:.0f}s users {p.users:4d}  rps {p.rps:7.1f}  "
            f"p95 {_p95(p):>7}  errors {p.failures} ({p.error_rate:.2%})  in flight {p.inflight}  ")
