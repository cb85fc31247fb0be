"""Which C memory allocator the gateway runs on, and how to start it on jemalloc.

glibc's malloc gives each thread its own arena; the buffer's threads free payloads and
SQLite pages inside theirs, and the holes left between live chunks keep the resident size
creeping upwards for the first 10 - 30 minutes of a run (docs/performance.md: +5.6 - 8 %
in 10- and 30-minute soaks, all of it native heap, none of it Python objects). jemalloc
packs allocations by size class and hands unused pages back on a timer, so the gateway
reaches its working size within the first minute and stays there. The service unit
preloads it (``LD_PRELOAD=libjemalloc.so.2``, Debian package ``libjemalloc2``) and the
soak starts its gateway the same way; without the library everything runs on glibc.
"""

from __future__ import annotations

import ctypes.util
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path

JEMALLOC = "libjemalloc.so.2"


@cache
def jemalloc_installed() -> bool:
    """Whether the dynamic loader can find jemalloc (``ldconfig``'s cache)."""
    return ctypes.util.find_library("jemalloc") is not None


def in_use(pid: int | None = None) -> str:
    """``"jemalloc"`` when the process (this one by default) has jemalloc mapped, else
    ``"glibc"``; ``"unknown"`` when its memory map cannot be read."""
    maps = Path(f"/proc/{'self' if pid is None else pid}/maps")
    try:
        text = maps.read_text()
    except OSError:
        return "unknown"
    return "jemalloc" if "/libjemalloc" in text else "glibc"


def with_jemalloc(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` (this process's by default) that preloads jemalloc in a child."""
    out = dict(os.environ if env is None else env)
    preload = out.get("LD_PRELOAD", "").replace(":", " ").split()
    if JEMALLOC not in preload:
        preload.append(JEMALLOC)
    out["LD_PRELOAD"] = " ".join(preload)
    return out


def without_jemalloc(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` whose children run on the C library's own allocator."""
    out = dict(os.environ if env is None else env)
    preload = [
        p for p in out.get("LD_PRELOAD", "").replace(":", " ").split() if "libjemalloc" not in p
    ]
    if preload:
        out["LD_PRELOAD"] = " ".join(preload)
    else:
        out.pop("LD_PRELOAD", None)
    return out
