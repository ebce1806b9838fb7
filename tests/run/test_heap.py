"""The collector settings of the load are the load's only: a run in a long-lived process (a test suite, a
notebook) leaves the collector as it found it, and a young object is still collected during the load."""

import gc
import weakref

from loadkit.run.heap import GEN0, steady_heap


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_the_collector_is_restored_after_the_load_and_still_collects_during_it():
    before = gc.get_threshold()
    old = _Cycle()  # from before the load: frozen with the rest of the start-up heap
    with steady_heap():
        assert gc.get_threshold()[0] == max(GEN0, before[0]) and gc.get_freeze_count() > 0
        young = _Cycle()
        gone = weakref.ref(young)
        del young
        gc.collect()
        assert gone() is None  # cyclic garbage made during the load is collected
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    kept = weakref.ref(old)
    del old
    gc.collect()
    assert kept() is None  # unfrozen again: garbage from before the load is collectable after it
