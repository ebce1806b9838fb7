"""Hand-written Prometheus counters and a histogram: no dependency, a few dict updates per request.

gevent runs one greenlet at a time and nothing here yields, so no locks are needed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

__all__ = ["BUCKETS", "Metrics"]

#: Upper bounds, in seconds, of the request-duration histogram buckets (+Inf is implied).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Request counts and durations, labelled by endpoint template (never raw paths)."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.cache_hits = 0
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests[(endpoint, method, status)] += 1
        counts = self._buckets.get(endpoint)
        if counts is None:
            counts = self._buckets[endpoint] = [0] * (len(BUCKETS) + 1)
        counts[bisect_left(BUCKETS, seconds)] += 1  # le is inclusive, hence bisect_left
        self._sums[endpoint] += seconds

    def render(self, db_queries: int, db_transactions: int) -> str:
        """The text exposition format, version 0.0.4."""
        out = [
            "# HELP standin_http_requests_total HTTP requests served.",
            "# TYPE standin_http_requests_total counter",
        ]
        for (endpoint, method, status), count in sorted(self.requests.items()):
            labels = f'endpoint="{endpoint}",method="{method}",status="{status}"'
            out.append(f"standin_http_requests_total{{{labels}}} {count}")
        out += [
            "# HELP standin_db_queries_total SQL statements executed.",
            "# TYPE standin_db_queries_total counter",
            f"standin_db_queries_total {db_queries}",
            "# HELP standin_db_transactions_total Database transactions committed.",
            "# TYPE standin_db_transactions_total counter",
            f"standin_db_transactions_total {db_transactions}",
            "# HELP standin_cache_hits_total FAQ searches answered from the in-process cache.",
            "# TYPE standin_cache_hits_total counter",
            f"standin_cache_hits_total {self.cache_hits}",
            "# HELP standin_request_duration_seconds Time to serve a request.",
            "# TYPE standin_request_duration_seconds histogram",
        ]
        for endpoint, counts in sorted(self._buckets.items()):
            cumulative = 0
            for bound, count in zip((*map(repr, BUCKETS), "+Inf"), counts, strict=True):
                cumulative += count
                out.append(
                    f'standin_request_duration_seconds_bucket{{endpoint="{endpoint}",le="{bound}"}} {cumulative}'
                )
            out.append(f'standin_request_duration_seconds_sum{{endpoint="{endpoint}"}} {self._sums[endpoint]!r}')
            out.append(f'standin_request_duration_seconds_count{{endpoint="{endpoint}"}} {cumulative}')
        return "\n".join(out) + "\n"
