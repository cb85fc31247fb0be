"""A named fake driver whose I/O swallows one cancellation, as Python 3.11's
``asyncio.wait_for`` does when its awaitable completes at the moment it is cancelled.

Used only to prove that the gateway still stops such a driver; no real device behaves so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from drivers.base import DeviceSpec, DriverCounters, NothingToOpen
from gateway import codes
from gateway.model import Measurement, Quality, ReceiveTime, Record, stream_id_for

SWALLOWED = 0
PR = codes.MDC_PULS_OXIM_PULS_RATE


class CancelSwallowingDriver(NothingToOpen):
    def __init__(self, spec: DeviceSpec, counters: DriverCounters) -> None:
        self.spec = spec
        self.counters = counters

    async def records(self) -> AsyncIterator[Record]:
        global SWALLOWED
        stream = stream_id_for(self.spec.id, str(PR.mdc_code))
        seq = 0
        while True:
            try:
                await asyncio.sleep(0.005)
            except asyncio.CancelledError:
                if SWALLOWED:
                    raise
                SWALLOWED += 1  # the I/O "completed" as we were cancelled: carry on
            seq += 1
            yield Measurement(
                self.spec.id,
                stream,
                PR.mdc_code,
                PR.unit,
                60.0,
                Quality(0),
                ReceiveTime.now(),
                seq=seq,
            )


DRIVER = CancelSwallowingDriver
