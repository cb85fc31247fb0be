"""Make the bumble-emulated BLE devices (:mod:`hil.ble.devices`) follow an engine scenario.

The devices read their values from a :class:`hil.ble.scenario.Scenario` (``at(t)`` -> dict
of ``hr``, ``spo2``, ``pr``, ``sys``, ``dia``, ``temp``, ``kg``, ``glucose``);
:class:`EngineValues` is that view of an engine :class:`~hil.scenarios.engine.Scenario`.
:class:`BleFollower` walks scenario time and applies the scenario's events to one device
through its existing controls: ``link_drop`` -> out of range, ``stall`` -> stall/resume,
``corrupt`` / ``truncate`` -> the next ``count`` notifications damaged, ``battery`` ->
the Battery Level the device serves. Every action is logged with its scenario time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from hil.ble.peripheral import EmulatedPeripheral
from hil.ble.scenario import Scenario as PointScenario
from hil.ble.scenario import SimClock
from hil.scenarios.engine import Scenario

TARGET = "ble"
#: Engine vital -> key the BLE device emulators read.
BLE_KEYS: Mapping[str, str] = {
    "heart_rate": "hr",
    "spo2": "spo2",
    "pulse_rate": "pr",
    "systolic": "sys",
    "diastolic": "dia",
    "temperature": "temp",
    "weight": "kg",
    "glucose": "glucose",
}
MG_DL_PER_MMOL_L = 18.016  # glucose (C6H12O6, 180.16 g/mol): the meter emulator counts mg/dL


def ble_values(engine: Scenario, t: float) -> dict[str, float | None]:
    """The device-side values at scenario time ``t`` (None while the sensor is off)."""
    out: dict[str, float | None] = {}
    for vital, key in BLE_KEYS.items():
        if vital not in engine.baseline:
            continue
        value = engine.value(vital, t)
        if vital == "glucose" and value is not None:
            value *= MG_DL_PER_MMOL_L
        out[key] = value
    return out


@dataclass(frozen=True)
class EngineValues(PointScenario):
    """A :class:`hil.ble.scenario.Scenario` whose values come from the engine."""

    points: tuple[()] = ()
    engine: Scenario | None = None

    def at(self, t: float) -> dict[str, float | None]:
        return {} if self.engine is None else ble_values(self.engine, t)


def values_of(engine: Scenario) -> EngineValues:
    return EngineValues(engine=engine)


@dataclass
class BleFollower:
    """Applies an engine scenario's events to one emulated peripheral (run :meth:`run`)."""

    engine: Scenario
    device: EmulatedPeripheral
    clock: SimClock
    target: str = TARGET
    step_s: float = 0.25
    #: (scenario time, action) for the report: "link_drop", "link_back", "stall", ...
    actions: list[tuple[float, str]] = field(default_factory=list)

    async def run(self) -> None:
        """Follow the scenario from now to its end (cancel to stop early)."""
        t_prev = 0.0
        self._battery(0.0)
        t = self.step_s
        while t_prev < self.engine.duration_s:
            await self.clock.sleep_until(t)
            await self.apply(t_prev, t)
            t_prev, t = t, t + self.step_s
        await self._release(t_prev)

    async def apply(self, t0: float, t1: float) -> None:
        """Apply what happens in ``[t0, t1)`` (point events) and the states in force at t1."""
        for event in self.engine.events_between(t0, t1):
            if event["target"] not in ("all", self.target):
                continue
            if event["kind"] == "corrupt":
                self.device.corrupt_next(int(event["count"]))
                self.actions.append((event["at_s"], f"corrupt x{event['count']}"))
            elif event["kind"] == "truncate":
                self.device.truncate_next(int(event["count"]))
                self.actions.append((event["at_s"], f"truncate x{event['count']}"))
        dropped = self.engine.active("link_drop", t1, self.target)
        if dropped and self.device.in_range:
            await self.device.walk_out_of_range()
            self.actions.append((t1, "link_drop"))
        elif not dropped and not self.device.in_range:
            await self.device.walk_back_in_range()
            self.actions.append((t1, "link_back"))
        stalled = self.engine.active("stall", t1, self.target)
        if stalled and not self.device.stalled:
            self.device.stall()
            self.actions.append((t1, "stall"))
        elif not stalled and self.device.stalled:
            self.device.resume()
            self.actions.append((t1, "resume"))
        self._battery(t1)

    def _battery(self, t: float) -> None:
        level = self.engine.battery(t)
        if level is not None:
            self.device.battery_percent = max(0, min(100, round(level)))

    async def _release(self, t: float) -> None:
        """At the end: back in range and running, so the last data can be collected."""
        if not self.device.in_range:
            await self.device.walk_back_in_range()
            self.actions.append((t, "link_back"))
        if self.device.stalled:
            self.device.resume()
            self.actions.append((t, "resume"))

    def start(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self.run(), name=f"follow-{self.device.name}")
