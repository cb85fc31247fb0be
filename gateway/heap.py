"""Hand freed heap memory back to the system now and then (glibc's ``malloc_trim``).

The gateway's threads (event loop, the buffer's SQLite writers and reader) each allocate
from their own glibc arena: payloads of tens of kilobytes, SQLite pages and prepared
statements. Freed chunks stay inside those arenas, so the resident size creeps upwards over
hours although Python's own heap stays flat (docs/performance.md: tracemalloc flat at about
4 MB while RSS grew). ``malloc_trim(0)`` returns the free pages of every arena; it takes a
few milliseconds and runs off the event loop. Elsewhere than glibc (musl, macOS), and when
the process runs on jemalloc (gateway/allocator.py: it returns pages on its own), it is not
run.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

from gateway import allocator

log = logging.getLogger(__name__)


def _find_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _find_trim()


def available() -> bool:
    """Whether this C library can trim its heap (glibc)."""
    return _TRIM is not None


def trim() -> bool:
    """Return free heap pages to the system; True if any memory was released."""
    return _TRIM is not None and _TRIM(0) == 1


async def trim_every(interval_s: float) -> None:
    """Trim the heap every ``interval_s`` seconds (in a worker thread) until cancelled."""
    if not available():
        log.debug("malloc_trim not available: the heap is not trimmed")
        return
    if allocator.in_use() == "jemalloc":
        log.debug("running on jemalloc, which returns free pages itself: no malloc_trim")
        return
    while True:
        await asyncio.sleep(interval_s)
        await asyncio.to_thread(trim)
