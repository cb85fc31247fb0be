"""Cyclic garbage collector settings while the gateway runs.

Every record is a small Python object that lives for up to a flush interval: queued,
batched, encoded, committed. With Python's default thresholds (700, 10, 10) a young
collection runs every 700 net allocations, so queued records survive it, are promoted, and
soon make up most of the oldest generation; the interpreter then runs full collections that
walk every object the process holds. In the flood benchmark that was 18 full collections in
12.7 s at 29 ms each, plus about 2,000 young and 200 middle ones: about 8 % of the time, and
each full collection a 29 ms stall of the event loop (docs/performance.md).

Records hold no reference cycles, so the collector finds nothing among them. While the
gateway runs, :func:`tuned` raises the young threshold (fewer, larger young collections; a
record freed before the next one is never walked) and, once start-up is done, freezes what
start-up allocated (modules, configuration, twins) so full collections skip it. Both are
undone when the last running gateway in the process stops.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_active = 0
_previous: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def tuned(young_threshold: int) -> Iterator[None]:
    """Raise the young-generation threshold to ``young_threshold`` (0: leave Python's)."""
    global _active, _previous
    if not young_threshold:
        yield
        return
    if _active == 0:
        _previous = gc.get_threshold()
        gc.set_threshold(young_threshold, _previous[1], _previous[2])
    _active += 1
    try:
        yield
    finally:
        _active -= 1
        if _active == 0:
            gc.set_threshold(*_previous)
            gc.unfreeze()


def freeze_startup() -> None:
    """Collect once, then move every object still alive out of the collector's reach until
    :func:`tuned` ends.

    Called once start-up is done: what start-up built lives as long as the gateway, and
    walking it in every full collection finds nothing. The collection first matters: with
    the raised threshold, full collections are rare, and garbage frozen here (a previous
    gateway's in the same process, as in the bench) would stay until the process ends.
    Only inside :func:`tuned`, which unfreezes when the last gateway stops."""
    if _active:
        gc.collect()
        gc.freeze()
