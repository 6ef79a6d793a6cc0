"""A serving worker's garbage collector, set once its model is loaded.

A worker's heap is mostly what it loaded (the model's boosters, calibrators and peer
statistics, and the libraries' modules), alive as long as the worker.  A request allocates
tens of thousands of short-lived objects (a 1,000-deal ``/score_batch`` of 50 activities
each: some 60,000 validated rows and their dicts), and with Python's default thresholds every
few hundred allocations start a collection that, now and then, walks the whole heap again.
So, once loaded: :func:`gc.freeze` moves everything alive into a generation the collector
never scans, and the young generation is collected every :data:`YOUNG_THRESHOLD` allocations
instead of 700 (``benchmarks/bench_serving.py`` prints the effect on its in-process stages).
Cycles are still collected; nothing is switched off.

Example:
    >>> import gc
    >>> saved = gc.get_threshold()
    >>> settle_after_load()
    >>> gc.get_threshold()[0] == YOUNG_THRESHOLD
    True
    >>> gc.unfreeze(); gc.set_threshold(*saved)
"""

from __future__ import annotations

import gc

#: Allocations (less deallocations) between young-generation collections.
YOUNG_THRESHOLD = 20_000


def settle_after_load() -> None:
    """Collect once, freeze what is alive, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
