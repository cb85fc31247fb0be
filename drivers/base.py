"""What every driver is: an async context manager that yields typed records.

A driver owns one device connection. ``async with driver:`` opens it; ``driver.records()``
is an async iterator of :data:`gateway.model.Record` that ends (or raises a
:class:`~gateway.errors.DeviceError`) when the device goes away, and the supervisor
restarts the driver with backoff. One exception: where coming and going is the device's
normal life (a BLE cuff or scale connects to hand over its readings, then leaves), the
driver's ``records()`` runs its own scan-connect-session cycle and does not end when a
link drops; it reports each link's end as records (a disconnect event, and a technical
alarm when a continuous wearable loses signal) and backs off between connects itself.

Cancelling the supervisor's task stops a driver. Some libraries can swallow that request
(see :mod:`gateway.cancellation`): a driver with a loop of its own inside ``records()``
(the BLE driver's scan-connect-session cycle) calls ``stop_if_cancelled()`` once a turn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

from gateway.model import Record


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A configured device: who it is, which driver, which patient, driver options."""

    id: str
    kind: str
    patient: str
    options: Mapping[str, object] = field(default_factory=dict)


class DriverCounters:
    """Per-device counters the metrics and status page read (parse errors and the like)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.last_error: str = ""

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n


class Driver(Protocol):
    spec: DeviceSpec
    counters: DriverCounters

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def records(self) -> AsyncIterator[Record]: ...


class NothingToOpen:
    """For drivers with no connection to open or close (simulators, test doubles)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class DriverFactory(Protocol):
    def __call__(self, spec: DeviceSpec, counters: DriverCounters) -> Driver: ...
