"""End-to-end BLE notifications per second through the emulated stack, layer by layer.

Run: ``PYTHONPATH=. python -m hil.ble.bench_e2e [--count 3000] [--repeat 3]``. An emulated
HR strap sends ``count`` Heart Rate Measurement notifications back to back over the
in-process bumble air; each layer is timed from the first send to the last arrival:

* ``bumble``: bare baseline, a bumble central's GATT client callback (no bleak);
* ``bleak``: ``BleakClient.start_notify`` through the bumble backend;
* ``driver``: records out of :class:`drivers.ble.driver.BleDriver` (parse, MDC mapping);
* ``gateway``: rows committed to the SQLite outbox by ``gateway.runtime.Gateway``.

All layers share one event loop with the emulator, so the figures are wall-clock
notifications/s on this machine, only comparable within one run (best of ``repeat``).
Connection intervals are not modelled: real BLE carries a few hundred notifications/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bleak import BleakClient

from drivers import registry
from drivers.base import DriverCounters
from drivers.ble import uuids
from drivers.ble.bumble_backend import BumbleClientBackend
from drivers.ble.driver import BleDriver
from gateway import codes
from gateway.config import parse_config
from gateway.model import Measurement
from gateway.runtime import BUFFER_FILE, Gateway
from hil.ble import encoders
from hil.ble.devices import HrStrap
from hil.ble.harness import Ward
from hil.ble.scenario import Scenario

ADDRESS = "F7:00:00:00:00:01"
HR = codes.MDC_ECG_HEART_RATE.mdc_code
PAYLOAD = encoders.heart_rate_measurement(72, contact=True, rr_1024=[850])


async def _ward() -> tuple[Ward, HrStrap]:
    ward = await Ward.open(speed=1.0, adapter="emu-bench")
    strap = ward.add(HrStrap("bench", ADDRESS, ward.clock, Scenario([(0, {})]), interval_s=1e9))
    await ward.start()
    return ward, strap


async def _blast(strap: HrStrap, count: int, arrived: Callable[[], int]) -> float:
    """Send ``count`` notifications; seconds until ``arrived()`` reaches ``count``."""
    start = time.perf_counter()
    for i in range(count):
        await strap.send(strap.hrm, uuids.HEART_RATE_MEASUREMENT, PAYLOAD)
        if i % 64 == 63:
            await asyncio.sleep(0)  # let the receiving side run, as a radio would
    while arrived() < count:  # noqa: ASYNC110 - polling a counter the receiver bumps
        await asyncio.sleep(0.001)
    return time.perf_counter() - start


async def _subscribed(strap: HrStrap) -> None:
    while not strap.subscribed(strap.hrm):  # noqa: ASYNC110 - GATT server state, no event
        await asyncio.sleep(0.005)


async def bench_bumble(count: int) -> float:
    from bumble.device import Peer

    ward, strap = await _ward()
    try:
        connection = await ward.central.connect(ADDRESS, timeout_s=5)
        peer = Peer(connection)
        await peer.discover_services()
        for service in peer.services:
            await peer.discover_characteristics(service=service)
        (hrm,) = peer.get_characteristics_by_uuid(strap.hrm.uuid)
        got = [0]

        def on_value(_value: bytes) -> None:
            got[0] += 1

        await peer.subscribe(hrm, on_value)
        await _subscribed(strap)
        return await _blast(strap, count, lambda: got[0])
    finally:
        await ward.close()


async def bench_bleak(count: int) -> float:
    ward, strap = await _ward()
    try:
        got = [0]

        def on_value(_char: object, _data: bytearray) -> None:
            got[0] += 1

        client = BleakClient(ADDRESS, backend=BumbleClientBackend, bumble_central=ward.central)
        async with client:
            await client.start_notify(uuids.uuid128(uuids.HEART_RATE_MEASUREMENT), on_value)
            await _subscribed(strap)
            return await _blast(strap, count, lambda: got[0])
    finally:
        await ward.close()


async def bench_driver(count: int) -> float:
    ward, strap = await _ward()
    got = [0]

    async def consume() -> None:
        spec = ward.spec(strap, silence_timeout_s=3600.0)
        async with BleDriver(spec, DriverCounters()) as driver:
            async for record in driver.records():
                if isinstance(record, Measurement) and record.mdc_code == HR:
                    got[0] += 1

    task = asyncio.create_task(consume())
    try:
        await _subscribed(strap)
        return await _blast(strap, count, lambda: got[0])
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ward.close()


async def bench_gateway(count: int) -> float:
    ward, strap = await _ward()
    registry.DRIVER_MODULES.setdefault("ble", "drivers.ble.driver")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        raw = {
            "gateway": {"id": "gw-bench", "site": "bench", "data_dir": str(data)},
            "mqtt": {"enabled": False},
            "buffer": {"flush_interval_ms": 20},
            "patients": [{"id": "p-1"}],
            "devices": [ward.config_entry(strap, "p-1", silence_timeout_s=3600.0)],
        }
        gateway = Gateway(parse_config(raw, "<bench>"))
        stop = asyncio.Event()
        run = asyncio.create_task(gateway.run(stop))
        db: sqlite3.Connection | None = None

        def committed() -> int:
            nonlocal db
            if db is None:
                db = sqlite3.connect(data / BUFFER_FILE)
            row = db.execute(
                "SELECT committed FROM streams WHERE stream_id = ?", (f"bench.{HR}",)
            ).fetchone()
            return int(row[0]) if row else 0

        try:
            await _subscribed(strap)
            return await _blast(strap, count, committed)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await run
            if db is not None:
                db.close()
            await ward.close()


LAYERS: dict[str, Callable[[int], Awaitable[float]]] = {
    "bumble (bare baseline)": bench_bumble,
    "bleak start_notify": bench_bleak,
    "BleDriver records": bench_driver,
    "Gateway -> SQLite": bench_gateway,
}


async def _main(count: int, repeat: int) -> dict[str, float]:
    rates: dict[str, float] = {}
    for name, bench in LAYERS.items():
        best = min([await bench(count) for _ in range(repeat)])
        rates[name] = count / best
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="notifications per timing")
    parser.add_argument("--repeat", type=int, default=3, help="timings per layer (best kept)")
    args = parser.parse_args(argv)
    rates = asyncio.run(_main(args.count, args.repeat))
    base = rates["bumble (bare baseline)"]
    print(f"{'layer':26} {'notifications/s':>16} {'vs bare':>8}")
    for name, rate in rates.items():
        print(f"{name:26} {rate:16,.0f} {rate / base:8.2f}")


if __name__ == "__main__":
    main()
