"""A simulated device that needs no port: typed records generated in-process.

Config ``kind = "synthetic"`` (for benchmarks and soak runs). Options: ``metrics`` (numeric
streams, default 6), ``rate_hz`` (values per stream per second; 0 = as fast as the pipeline
takes them), ``batch`` (records yielded per tick). Values follow a slow sine with noise.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

from drivers.base import DeviceSpec, DriverCounters
from gateway.model import Measurement, Quality, ReceiveTime, Record, stream_id_for

VALID = Quality(0)


def _int(spec: DeviceSpec, key: str, default: int, lo: int, hi: int) -> int:
    value = spec.options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{key}: an integer from {lo} to {hi}, got {value!r}")
    return value


def validate(spec: DeviceSpec) -> None:
    _int(spec, "metrics", 6, 1, 1000)
    _int(spec, "batch", 10, 1, 100_000)
    rate = spec.options.get("rate_hz", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1e6:
        raise ValueError(f"rate_hz: a number from 0 to 1e6, got {rate!r}")


class SyntheticDevice:
    def __init__(self, spec: DeviceSpec, counters: DriverCounters) -> None:
        self.spec = spec
        self.counters = counters
        self.metrics = _int(spec, "metrics", 6, 1, 1000)
        self.batch = _int(spec, "batch", 10, 1, 100_000)
        rate = spec.options.get("rate_hz", 1.0)
        self.rate_hz = float(rate) if isinstance(rate, int | float) else 1.0
        self.rng = random.Random(spec.id)
        self.codes = [900_000 + i for i in range(self.metrics)]  # private test codes

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def records(self) -> AsyncIterator[Record]:
        n = 0
        period = 0.0 if self.rate_hz == 0 else self.batch / (self.rate_hz * self.metrics)
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            received = ReceiveTime.now()
            for _ in range(self.batch):
                code = self.codes[n % self.metrics]
                value = 50 + 20 * math.sin(n / 500) + self.rng.gauss(0, 1)
                yield Measurement(
                    self.spec.id,
                    stream_id_for(self.spec.id, str(code)),
                    code,
                    "1",
                    value,
                    VALID,
                    received,
                )
                n += 1
            self.counters.count("frames")
            if period:
                next_tick += period
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
            else:
                await asyncio.sleep(0)


DRIVER = SyntheticDevice
