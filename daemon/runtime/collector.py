"""The cyclic garbage collector's settings for ``svmon run``, and pausing it where it only costs.

svmon's state forms no reference cycles, and reference counting frees what it drops; the collector
is kept for the rare cycle other code makes, on thresholds that suit a heap of long-lived state.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["GC_THRESHOLDS", "collector_paused", "tune_gc"]

# CPython collects generation 0 every 700 net allocations. svmon allocates dozens of short-lived
# objects per message (a validated record, dicts, tuples) and keeps its long-lived state in older
# generations; nearly nothing it allocates forms a reference cycle, so reference counting frees it
# anyway. At the default the collector alone cost ~8 us per message (bench/throughput.py, engine
# phase: 37 -> 29 us/msg). Most of what a young collection walks is state that lives until the
# next checkpoint writes and evicts it (the entities of the records since the last one), and
# reference counting frees all of it then. In-process over 200,000 messages (11 checkpoints),
# generation 0 every 50,000 net allocations took 34 collections and 0.65 s; every 200,000, 19 and
# 0.29 s; every 500,000, 17 and 0.06 s (the full collections, 0.1-0.2 s, the same each time).
# Cyclic garbage, which svmon's own objects never form, waits longer; the bench's peak RSS did not
# move. The checkpoint, which builds a few hundred thousand short-lived rows at once, runs with
# the collector paused (:meth:`daemon.runtime.engine.Engine.checkpoint`).
GC_THRESHOLDS = (500_000, 10, 10)

_paused = 0
_was_enabled = False
_pause_lock = threading.Lock()


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block, on again when the last such block ends.

    Paused blocks may overlap (the read-ahead thread's and the loop's restore): a plain
    ``gc.disable()``/``gc.enable()`` pair in each would switch it back on under the other.
    """
    global _paused, _was_enabled  # noqa: PLW0603 - one process-wide collector
    with _pause_lock:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _pause_lock:
            _paused -= 1
            if _paused == 0 and _was_enabled:
                gc.enable()


def tune_gc() -> tuple[int, int, int]:
    """Apply :data:`GC_THRESHOLDS` to this process; returns the thresholds it replaced."""
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    return previous
