"""Quantiles from cumulative histogram buckets, computed as Prometheus' ``histogram_quantile`` does.

Linear interpolation within the bucket holding the rank; the lowest bucket starts at 0
(when its bound is positive); a rank in the +Inf bucket returns the highest finite bound.
See https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["bucket_quantile"]


def bucket_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """``q``-quantile of ``(upper bound, cumulative count)`` pairs sorted by bound, last one +Inf;
    None when there are no observations or no usable buckets."""
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    b = next((i for i, (_, count) in enumerate(buckets[:-1]) if count >= rank), len(buckets) - 1)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start, end, count = 0.0, buckets[b][0], buckets[b][1]
    if b > 0:
        start, prev = buckets[b - 1]
        count -= prev
        rank -= prev
    return start + (end - start) * (rank / count) if count > 0 else end
