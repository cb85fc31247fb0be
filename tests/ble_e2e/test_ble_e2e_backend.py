"""The bumble bleak backend through bleak's public API (and bleak-retry-connector).

Covers the pitfalls of the study: UUIDs converted from bumble's little-endian bytes,
addresses without bumble's ``/P`` suffix and with their type remembered from the
advertisement, bumble's timeout error seen as ``TimeoutError``, a cancelled connection
attempt not poisoning later ones, disconnect reasons kept, ATT errors as bleak errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError, BleakGATTProtocolError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection
from bumble import core, hci
from support import wait_until

from drivers.ble import uuids
from drivers.ble.bumble_backend import (
    BumbleClientBackend,
    BumbleScannerBackend,
    bleak_address,
    bleak_uuid,
)
from drivers.ble.bumble_backend.central import translate_timeout
from hil.ble.devices import GlucoseMeter, HrStrap
from hil.ble.harness import Ward
from hil.ble.scenario import Scenario, Schedule

QUIET = Scenario([(0, {"hr": 70})])


def test_uuids_and_addresses_are_converted_for_bleak() -> None:
    assert bleak_uuid(core.UUID.from_16_bits(0x2A37)) == uuids.uuid128(0x2A37)
    custom = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
    assert bleak_uuid(core.UUID(custom)) == custom  # bumble stores these bytes reversed
    assert bleak_uuid(core.UUID.from_bytes(uuid.UUID(custom).bytes[::-1])) == custom
    public = hci.Address("00:11:22:33:44:55", hci.Address.PUBLIC_DEVICE_ADDRESS)
    assert str(public).endswith("/P") and bleak_address(public) == "00:11:22:33:44:55"
    assert isinstance(translate_timeout(core.TimeoutError()), TimeoutError)
    assert not isinstance(core.TimeoutError(), asyncio.TimeoutError)  # the pitfall itself


async def test_scan_connect_read_notify_and_disconnect_reasons() -> None:
    ward = await Ward.open(speed=10.0, adapter="emu-backend")
    strap = ward.add(HrStrap("strap-7", "F5:00:00:00:00:01", ward.clock, QUIET))
    kw = {"bumble_central": ward.central}
    try:
        await ward.start()
        device = await BleakScanner.find_device_by_filter(
            lambda d, adv: uuids.uuid128(0x180D) in adv.service_uuids,
            timeout=5,
            backend=BumbleScannerBackend,
            **kw,
        )
        assert device is not None and device.address == "F5:00:00:00:00:01"
        assert device.name == "strap-7"
        known = ward.central.address_book["F5:00:00:00:00:01"]
        assert known.address_type == hci.Address.RANDOM_DEVICE_ADDRESS
        assert ward.central.resolve("F5:00:00:00:00:01/P").is_public
        assert not ward.central.resolve("F5:00:00:00:00:09").is_public

        gone = asyncio.Event()
        client = BleakClient(
            device, lambda _c: gone.set(), backend=BumbleClientBackend, timeout=2, **kw
        )
        await client.connect()
        service_uuids = {s.uuid for s in client.services}
        assert {
            uuids.uuid128(0x180D),
            uuids.uuid128(0x180F),
            uuids.uuid128(0x180A),
        } <= service_uuids
        hrm = client.services.get_characteristic(uuids.uuid128(0x2A37))
        assert hrm is not None and "notify" in hrm.properties
        assert bytes(await client.read_gatt_char(uuids.uuid128(0x2A19))) == bytes([90])
        assert bytes(await client.read_gatt_char(uuids.uuid128(0x2A29))) == b"EdgeTwin Emulation"
        got: list[bytes] = []
        await client.start_notify(hrm, lambda _ch, data: got.append(bytes(data)))
        await wait_until(lambda: len(got) >= 3, what="notifications")
        assert got[0] == strap.sent[0].value

        await strap.walk_out_of_range()
        await wait_until(gone.is_set, what="supervision timeout")
        assert not client.is_connected
        assert client._backend.disconnect_reason == 0x08  # type: ignore[attr-defined]
        await strap.walk_back_in_range()

        gone.clear()
        await client.connect()
        await strap.terminate()
        await wait_until(gone.is_set, what="device closing the link")
        assert client._backend.disconnect_reason == 0x13  # type: ignore[attr-defined]
    finally:
        await ward.close()


async def test_timed_out_connect_is_a_timeout_error_and_later_connects_still_work() -> None:
    ward = await Ward.open(speed=10.0, adapter="emu-backend", connect_timeout_s=3.0)
    strap = ward.add(HrStrap("strap", "F5:00:00:00:00:02", ward.clock, QUIET))
    kw = {"bumble_central": ward.central}
    try:
        await ward.start()
        await strap.walk_out_of_range()
        for _ in range(2):  # bumble's controller used to hang here, then refuse every connect
            client = BleakClient(strap.address, backend=BumbleClientBackend, timeout=20, **kw)
            with pytest.raises(TimeoutError):
                await client.connect()
        scanner_device = None
        with contextlib.suppress(BleakError):
            device = await BleakScanner.find_device_by_address(
                strap.address, timeout=0.2, backend=BumbleScannerBackend, **kw
            )
            scanner_device = device
        assert scanner_device is None  # out of range: not advertising on the air

        await strap.walk_back_in_range()
        device = await BleakScanner.find_device_by_address(
            strap.address, timeout=5, backend=BumbleScannerBackend, **kw
        )
        assert device is not None
        client = await establish_connection(
            BleakClientWithServiceCache,
            device,
            "strap",
            max_attempts=2,
            backend=BumbleClientBackend,
            **kw,
        )
        assert client.is_connected
        await client.disconnect()
        assert not client.is_connected
    finally:
        await ward.close()


async def test_att_errors_become_bleak_gatt_protocol_errors() -> None:
    ward = await Ward.open(speed=10.0, adapter="emu-backend")
    meter = ward.add(GlucoseMeter("meter", "F5:00:00:00:00:03", ward.clock, QUIET, Schedule()))
    kw = {"bumble_central": ward.central}
    try:
        await ward.start()
        device = await BleakScanner.find_device_by_address(
            meter.address, timeout=5, backend=BumbleScannerBackend, **kw
        )
        assert device is not None
        async with BleakClient(device, backend=BumbleClientBackend, **kw) as client:
            racp = uuids.uuid128(uuids.RECORD_ACCESS_CONTROL_POINT)
            with pytest.raises(BleakGATTProtocolError) as caught:
                await client.write_gatt_char(racp, b"\x01\x01", response=True)
            assert caught.value.args[0] == 0x81  # CCCD improperly configured (no indications on)
            await client.pair()  # pairing works over the emulated stack ("Just Works")
            assert meter.connection is not None
            assert meter.connection.is_encrypted
    finally:
        await ward.close()
