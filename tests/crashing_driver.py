"""A deliberately broken driver (a named fake): it raises a bug-like exception on first read.

Used only to prove that a crashing driver is restarted alone; no real device behaves so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

from drivers.base import DeviceSpec, DriverCounters
from gateway.model import Record

OPENED = 0


class CrashingDriver:
    def __init__(self, spec: DeviceSpec, counters: DriverCounters) -> None:
        self.spec = spec
        self.counters = counters

    async def __aenter__(self) -> Self:
        global OPENED
        OPENED += 1
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def records(self) -> AsyncIterator[Record]:
        raise ZeroDivisionError("simulated driver bug")
        yield  # pragma: no cover - makes this an async generator


DRIVER = CrashingDriver
