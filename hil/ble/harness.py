"""An emulated ward: the air, a bumble central registered as a BLE adapter, and devices.

Used by the end-to-end tests and the benchmark. Build it inside the running loop::

    ward = await Ward.open(speed=10, adapter="emu")
    hr = ward.add(HrStrap("hr", "F1:00:00:00:00:01", ward.clock, scenario))
    await ward.start()                 # devices advertise, scenario time starts
    spec = ward.spec(hr, patient="p-1", silence_timeout_s=0.5)  # a kind="ble" DeviceSpec
    ...
    await ward.close()

Times in driver options are loop (wall) seconds; ``ward.clock.wall(s)`` converts scenario
seconds. :meth:`Ward.run_plan` walks devices out of range and back per a LinkPlan.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from drivers.base import DeviceSpec
from drivers.ble.bumble_backend import BumbleCentral, BumbleClientBackend, BumbleScannerBackend
from drivers.ble.manager import DEFAULT_SLOTS, BleAdapter, register_adapter, unregister_adapter
from hil.ble.air import Air
from hil.ble.peripheral import EmulatedPeripheral
from hil.ble.scenario import LinkPlan, SimClock

P = TypeVar("P", bound=EmulatedPeripheral)


#: Wall seconds a connect attempt gets at least (see :meth:`Ward.open`).
MIN_CONNECT_WALL_S = 0.5


class Ward:
    def __init__(
        self, air: Air, clock: SimClock, central: BumbleCentral, adapter: BleAdapter
    ) -> None:
        self.air = air
        self.clock = clock
        self.central = central
        self.adapter = adapter
        self.devices: list[EmulatedPeripheral] = []
        self._plans: list[asyncio.Task[None]] = []

    @classmethod
    async def open(
        cls,
        *,
        speed: float = 10.0,
        adapter: str = "emu",
        supervision_timeout_s: float = 2.0,
        connect_timeout_s: float = 4.0,
        slots: int = DEFAULT_SLOTS,
    ) -> Ward:
        """Supervision and connect timeouts are scenario seconds (scaled by ``speed``); a
        connect attempt gets at least :data:`MIN_CONNECT_WALL_S` of wall time, since setting
        up a link costs real time on a busy machine whatever the scenario's speed."""
        clock = SimClock(speed)
        air = Air(supervision_timeout_s=clock.wall(supervision_timeout_s))
        central = await BumbleCentral.on_link(
            air, connect_timeout_cap_s=max(MIN_CONNECT_WALL_S, clock.wall(connect_timeout_s))
        )
        registered = register_adapter(
            adapter,
            scanner_backend=BumbleScannerBackend,
            client_backend=BumbleClientBackend,
            backend_kwargs={"bumble_central": central},
            slots=slots,
        )
        return cls(air, clock, central, registered)

    def add(self, device: P) -> P:
        self.devices.append(device)
        return device

    async def start(self) -> None:
        for device in self.devices:
            await device.attach(self.air)
        self.clock.start()
        for device in self.devices:
            await device.start()

    def spec(
        self, device: EmulatedPeripheral, patient: str = "p-1", **options: object
    ) -> DeviceSpec:
        base: dict[str, object] = {
            "address": device.address,
            "adapter": self.adapter.name,
            "scan_timeout_s": self.clock.wall(10.0),
            "backoff_base_s": self.clock.wall(0.5),
            "backoff_cap_s": self.clock.wall(5.0),
        }
        base.update(options)
        return DeviceSpec(device.name, "ble", patient, base)

    def config_entry(
        self, device: EmulatedPeripheral, patient: str, **options: object
    ) -> dict[str, object]:
        """The ``[[devices]]`` table of a gateway config for ``device``."""
        spec = self.spec(device, patient, **options)
        return {"id": spec.id, "kind": "ble", "patient": patient, **spec.options}

    async def _plan(self, device: EmulatedPeripheral, plan: LinkPlan) -> None:
        for start, end in plan.outages:
            await self.clock.sleep_until(start)
            await device.walk_out_of_range()
            await self.clock.sleep_until(end)
            await device.walk_back_in_range()

    def run_plan(self, device: EmulatedPeripheral, plan: LinkPlan) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._plan(device, plan))
        self._plans.append(task)
        return task

    async def close(self) -> None:
        for task in self._plans:
            task.cancel()
        await asyncio.gather(*self._plans, return_exceptions=True)
        for device in self.devices:
            await device.stop()
        await unregister_adapter(self.adapter.name)
        await self.central.close()
