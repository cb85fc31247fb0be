"""Scenario time and values over time for the emulated BLE devices.

A :class:`SimClock` runs scenario time ``speed`` times faster than the event loop's clock
(``speed=10``: a 60 s scenario takes 6 s), so every emulator and every fault schedule
shares one notion of "now". A :class:`Scenario` holds named values at time points and
interpolates linearly between them (a step when a value is ``None``, meaning "no reading").
A :class:`LinkPlan` is a list of out-of-range intervals in scenario seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

DEFAULT_EPOCH = datetime(2024, 3, 1, 8, 0, 0)  # noqa: DTZ001 - device local time, no zone


class SimClock:
    """Scenario seconds since :meth:`start`, ``speed`` times faster than the loop clock."""

    def __init__(self, speed: float = 1.0, epoch: datetime = DEFAULT_EPOCH) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.epoch = epoch
        self._t0: float | None = None

    def start(self) -> None:
        self._t0 = asyncio.get_running_loop().time()

    def now(self) -> float:
        if self._t0 is None:
            self.start()
        assert self._t0 is not None
        return (asyncio.get_running_loop().time() - self._t0) * self.speed

    def wall(self, scenario_s: float) -> float:
        """Loop-clock seconds that ``scenario_s`` scenario seconds take."""
        return scenario_s / self.speed

    async def sleep(self, scenario_s: float) -> None:
        await asyncio.sleep(max(0.0, scenario_s) / self.speed)

    async def sleep_until(self, t: float) -> None:
        await self.sleep(t - self.now())

    def device_time(self, t: float | None = None, offset_s: float = 0.0) -> datetime:
        """The device's wall clock at scenario time ``t`` (now by default), to the second."""
        t = self.now() if t is None else t
        stamp = self.epoch + timedelta(seconds=t + offset_s)
        return stamp.replace(microsecond=0)


@dataclass(frozen=True)
class Scenario:
    """Named values at scenario time points; ``at(t)`` interpolates between them."""

    points: Sequence[tuple[float, Mapping[str, float | None]]]

    def at(self, t: float) -> dict[str, float | None]:
        points = sorted(self.points, key=lambda p: p[0])
        if not points:
            return {}
        if t <= points[0][0]:
            return dict(points[0][1])
        for (t0, v0), (t1, v1) in itertools.pairwise(points):
            if t0 <= t <= t1:
                frac = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                out: dict[str, float | None] = {}
                for key, a in v0.items():
                    b = v1.get(key, a)
                    out[key] = None if a is None or b is None else a + (b - a) * frac
                return out
        return dict(points[-1][1])


@dataclass(frozen=True)
class LinkPlan:
    """Out-of-range intervals ``(start, end)`` in scenario seconds, sorted, not overlapping."""

    outages: tuple[tuple[float, float], ...] = ()

    @classmethod
    def every(
        cls,
        *,
        duration_s: float,
        period_s: tuple[float, float],
        outage_s: tuple[float, float],
        seed: int,
        first_s: float = 2.0,
    ) -> LinkPlan:
        """Drops every ``period_s`` (uniform range) lasting ``outage_s``, up to ``duration_s``."""
        rng = random.Random(seed)
        out: list[tuple[float, float]] = []
        t = first_s + rng.uniform(*period_s) / 2
        while t < duration_s:
            length = rng.uniform(*outage_s)
            out.append((t, min(duration_s, t + length)))
            t += length + rng.uniform(*period_s)
        return cls(tuple(out))

    def in_range(self, t: float) -> bool:
        return not any(a <= t < b for a, b in self.outages)


@dataclass
class Schedule:
    """Scenario times at which a device takes a measurement (spot-check devices)."""

    times: list[float] = field(default_factory=list)

    @classmethod
    def regular(cls, *, start_s: float, every_s: float, until_s: float) -> Schedule:
        times: list[float] = []
        t = start_s
        while t < until_s:
            times.append(t)
            t += every_s
        return cls(times)
