"""The collector kept off the load: what was allocated before the load is frozen, gen0 made roomier.

Why: CPython starts a young-generation collection every 700 net allocations, and after each one
the frees of objects allocated before it no longer count. With N users each holding a few dozen
objects while its request waits, a live set above ~700 makes the collector run every 700
allocations: 400 collections a second at 8 k requests/s, and every tenth of them promoted to full
collections of the whole heap (Locust, pyarrow, numpy: 200 k objects, 30-40 ms each, stalling
every user). Freezing the start-up heap (``gc.freeze``) takes it out of every collection, and a
gen0 threshold above a run's in-flight live set returns the collector to its normal rhythm.
Both are undone afterwards: a run may live in a long-lived process (a test suite, a notebook).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["GEN0", "steady_heap"]

#: Young-generation threshold during the load (CPython's default is 700). Measured side by side at 20 users
#: (benchmarks/overhead.py): 2,000 is the cheapest on both paths; 20,000 made the failure path 12 % dearer,
#: its cyclic garbage (exception, traceback, response) then collected cache-cold.
GEN0 = 2_000


@contextlib.contextmanager
def steady_heap(gen0: int = GEN0) -> Iterator[None]:
    """Freeze what exists now and raise the young threshold until the block ends."""
    thresholds = gc.get_threshold()
    gc.collect()  # nothing already garbage is frozen
    gc.freeze()
    gc.set_threshold(max(gen0, thresholds[0]), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
