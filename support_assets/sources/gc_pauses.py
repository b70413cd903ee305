"""Fewer garbage-collector passes while a sync runs.

A full sync allocates millions of short-lived containers (a dict per record, the lists and
dicts of each page), so CPython's collector, which by default runs after every 700 net
allocations, walks the young objects a thousand times per 100,000 records and, every so
often, every object of the process: in a Dagster run worker that is the whole of Dagster.
At 100,000 records that was ~0.3 s of a 3.7 s sync through Dagster (docs/performance.md).
Records are freed by reference counting, not by the collector, so collecting less often
costs no memory that matters; switching it off would (some objects of a sync form cycles:
+200 MB peak at 100,000 records).
"""

import gc
from contextlib import contextmanager
from typing import Iterator

# Young-generation threshold during a sync (CPython's default is 700); the older generations'
# thresholds stay as they are.
SYNC_THRESHOLD = 10_000


@contextmanager
def fewer_gc_pauses(threshold: int = SYNC_THRESHOLD) -> Iterator[None]:
    """Raises the collector's young-generation threshold for the block; restores it after."""
    before = gc.get_threshold()
    gc.set_threshold(max(threshold, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
