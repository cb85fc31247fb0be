"""A device that keeps its data behind a bond: paired through bleak's ``pair()`` over the
emulated stack (LE Secure Connections, "Just Works"), and nothing without it."""

from __future__ import annotations

import asyncio

from support import wait_until

from drivers.base import DriverCounters
from drivers.ble.driver import BleDriver
from gateway import codes
from gateway.model import Measurement, Record
from hil.ble.devices import HrStrap
from hil.ble.harness import Ward
from hil.ble.scenario import Scenario

HR = codes.MDC_ECG_HEART_RATE.mdc_code
FLAT = Scenario([(0, {"hr": 72})])


class BondedStrap(HrStrap):
    requires_bonding = True


async def run_for(driver: BleDriver, out: list[Record]) -> None:
    async with driver:
        async for record in driver.records():
            out.append(record)


async def test_a_bonded_strap_delivers_only_after_pairing_and_reencrypts_on_reconnect() -> None:
    ward = await Ward.open(speed=10.0, adapter="emu-bond")
    strap = ward.add(BondedStrap("strap", "F6:00:00:00:00:21", ward.clock, FLAT))
    out: list[Record] = []
    counters = DriverCounters()
    task = None
    try:
        await ward.start()
        driver = BleDriver(ward.spec(strap, pair=True), counters)
        task = asyncio.get_running_loop().create_task(run_for(driver, out))
        await wait_until(
            lambda: len([r for r in out if isinstance(r, Measurement) and r.mdc_code == HR]) >= 3,
            what="heart rate over the bonded link",
        )
        assert strap.connection is not None
        assert strap.connection.is_encrypted
        keystore = ward.central.device.keystore
        assert keystore is not None
        assert await keystore.get(str(strap.connection.self_address)) is not None  # bonded
        # out of range and back: the bond's keys encrypt the new link, no new pairing
        await strap.walk_out_of_range()
        await wait_until(lambda: not strap.connected, what="the link lost")
        await strap.walk_back_in_range()
        await wait_until(lambda: counters.counts["connects"] >= 2, what="reconnected")
        before = len(out)
        await wait_until(lambda: len(out) > before + 3, what="readings after reconnecting")
        assert strap.connection is not None
        assert strap.connection.is_encrypted
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await ward.close()
    assert counters.counts["pairings"] >= 2, dict(counters.counts)
    assert counters.counts["pairing_failures"] == 0


async def test_without_pairing_the_bonded_strap_sends_nothing() -> None:
    ward = await Ward.open(speed=10.0, adapter="emu-nobond")
    strap = ward.add(BondedStrap("strap", "F6:00:00:00:00:22", ward.clock, FLAT))
    out: list[Record] = []
    counters = DriverCounters()
    task = None
    try:
        await ward.start()
        driver = BleDriver(ward.spec(strap), counters)
        task = asyncio.get_running_loop().create_task(run_for(driver, out))
        await wait_until(lambda: counters.counts["connects"] >= 1, what="a plain connection")
        await ward.clock.sleep(3.0)  # scenario seconds in which a paired strap sends ~3 values
        assert strap.connection is not None
        assert not strap.connection.is_encrypted
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await ward.close()
    assert not [r for r in out if isinstance(r, Measurement) and r.mdc_code == HR]
    assert counters.counts["read_errors"] >= 1  # the encrypted battery/profile reads refused
