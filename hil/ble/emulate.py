"""Run one emulated device on a real Bluetooth controller (HIL bench).

``PYTHONPATH=. python -m hil.ble.emulate --transport usb:0 --device hr``

The transport is any bumble transport string (``usb:0``, ``usb:2fe3:000b``,
``serial:/dev/ttyACM0,1000000``, ``hci-socket:0``); the controller then advertises the
device to a gateway using its normal adapter (BlueZ). Scenario values ramp slowly; stored
measurements are taken every ``--every`` seconds. Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from hil.ble.devices import BpCuff, GlucoseMeter, HrStrap, PlxOximeter, Scale, Thermometer
from hil.ble.peripheral import EmulatedPeripheral
from hil.ble.scenario import Scenario, Schedule, SimClock

SCENARIO = Scenario(
    [
        (0, {"hr": 62, "spo2": 98, "pr": 64, "pai": 5.0, "sys": 118, "dia": 76}),
        (600, {"hr": 110, "spo2": 91, "pr": 108, "pai": 2.0, "sys": 150, "dia": 95}),
        (1200, {"hr": 70, "spo2": 96, "pr": 71, "pai": 4.5, "sys": 125, "dia": 80}),
    ]
)
KINDS = ("hr", "plx", "bp", "thermometer", "scale", "glucose")


def build(kind: str, address: str, clock: SimClock, every: float) -> EmulatedPeripheral:
    schedule = Schedule.regular(start_s=5, every_s=every, until_s=86_400)
    name = f"EdgeTwin {kind}"
    if kind == "hr":
        return HrStrap(name, address, clock, SCENARIO)
    if kind == "plx":
        return PlxOximeter(name, address, clock, SCENARIO)
    if kind == "bp":
        return BpCuff(name, address, clock, SCENARIO, schedule, current_time=True)
    if kind == "thermometer":
        return Thermometer(name, address, clock, SCENARIO, schedule)
    if kind == "scale":
        return Scale(name, address, clock, SCENARIO, schedule)
    return GlucoseMeter(name, address, clock, SCENARIO, schedule, preloaded=5)


async def run(transport: str, kind: str, address: str, every: float) -> None:
    clock = SimClock(1.0)
    device = build(kind, address, clock, every)
    await device.attach_transport(transport)
    clock.start()
    await device.start()
    print(f"{device.name} ({address}) advertising on {transport}; Ctrl-C to stop")
    try:
        await asyncio.Event().wait()
    finally:
        await device.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", required=True, help="bumble transport, e.g. usb:0")
    parser.add_argument("--device", choices=KINDS, default="hr")
    parser.add_argument("--address", default="F0:ED:6E:00:00:01", help="static random address")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between stored readings")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.transport, args.device, args.address, args.every))


if __name__ == "__main__":
    main()
