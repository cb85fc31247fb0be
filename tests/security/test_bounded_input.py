"""Hostile input on every deframer is bounded in memory and rejected with a counted error.

A device (or whatever is plugged into its port) may send megabytes with no line end, no
flag, or a frame that never closes. Each streaming decoder must keep at most its bound
between feeds, report the run as ParseError values (a bounded number of them: the session
logs and counts each), and decode the next good frame. Through a real pseudo-terminal, a
10 MB blast reaches the session's ``parse_errors`` counter and the next reading still
arrives. BLE values longer than an ATT attribute may be (512 bytes, Core Specification
Vol 3 Part F 3.2.9) are rejected by every fixed-layout parser, and by the session for the
variable-length ones.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from bleak import BleakClient

from drivers.base import DeviceSpec, DriverCounters
from drivers.ble import device_info, uuids
from drivers.ble.decode import PARSERS
from drivers.ble.manager import BleAdapter
from drivers.ble.profiles import PROFILES
from drivers.ble.session import BleSession, Link, SessionOptions
from drivers.ble.state import StateStore, TransferState
from drivers.datex import driver as datex_driver
from drivers.datex.framing import MAX_WIRE
from drivers.datex.records import DatexDecoder
from drivers.intellivue.framing import FCS_LEN, HEADER_LEN, MAX_USER_DATA
from drivers.intellivue.session import MonitorStream
from drivers.masimo import driver as masimo_driver
from drivers.masimo.codec import MAX_LINE, MasimoDecoder
from drivers.nonin.codec import (
    PACKET_LEN,
    RECORD8_LEN,
    REPORT_SKIPPED_AFTER,
    Format7Decoder,
    Format8Decoder,
)
from gateway.errors import ParseError
from gateway.model import Measurement, Record
from hil.ble import encoders as ble
from hil.intellivue_sim import encoder as iv
from hil.pty_port import PtyPort
from hil.serial_sim import datex_encoder as dx
from hil.serial_sim import nonin_encoder as nn

MB = 1024 * 1024
READ_SIZE = 4096  # a typical serial read
#: Longest ATT attribute value (Core Specification Vol 3 Part F 3.2.9).
MAX_ATTRIBUTE_VALUE = 512
STAMP = datetime(2024, 5, 20, 7, 30)  # noqa: DTZ001

MASIMO_LINE = (
    b"05/15/07 08:12:21 SN=0000070986 SPO2=098% BPM=072 PI=02.34% SPCO=--.-% "
    b"SPMET=--.-% DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000000\r\n"
)
DATEX_FRAME = dx.frame(dx.phdb_record(1_700_000_000, {"ecg": {"status": 3, "hr": 72}}))
IV_FRAME = iv.frame(iv.aare())


@dataclass(frozen=True)
class Blast:
    name: str
    new: Callable[[], Any]
    bound: int  # most bytes the decoder may hold between feeds
    prefix: bytes  # sent first (e.g. a frame opener)
    filler: bytes  # one byte, repeated: never a delimiter
    size: int
    then: bytes  # a good frame after the blast (with whatever resynchronises)
    max_errors: Callable[[int], int]  # errors allowed for n bytes of blast


def _per(run: int) -> Callable[[int], int]:
    return lambda n: n // run + 2


BLASTS = [
    Blast("masimo-no-newline", MasimoDecoder, MAX_LINE, b"", b"A", 10 * MB,
          b"\r\n" + MASIMO_LINE, _per(MAX_LINE)),
    # Nonin decoders walk garbage a byte at a time in Python: 256 KB keeps the test short.
    Blast("nonin7-no-status-byte", Format7Decoder, PACKET_LEN - 1, b"", b"\x00", MB // 4,
          nn.encode_packet7(nn.PacketValues()), _per(REPORT_SKIPPED_AFTER)),
    Blast("nonin8-no-record", Format8Decoder, RECORD8_LEN - 1, b"", b"\xff", MB // 4,
          nn.encode_record8(0, 72, 97), _per(REPORT_SKIPPED_AFTER)),
    Blast("datex-no-flag", DatexDecoder, MAX_WIRE, b"", b"\x00", 10 * MB,
          DATEX_FRAME, lambda _n: 2),
    Blast("datex-frame-never-closes", DatexDecoder, MAX_WIRE, b"\x7e", b"\x00", 10 * MB,
          DATEX_FRAME, lambda _n: 2),
    Blast("intellivue-no-bof", MonitorStream, 2 * (HEADER_LEN + MAX_USER_DATA + FCS_LEN),
          b"", b"\x00", 10 * MB, IV_FRAME, lambda _n: 2),
    Blast("intellivue-frame-never-closes", MonitorStream,
          2 * (HEADER_LEN + MAX_USER_DATA + FCS_LEN), b"\xc0", b"\x00", 10 * MB, IV_FRAME,
          lambda _n: 2),
]  # fmt: skip


def _errors(items: list[Any]) -> list[ParseError]:
    return [i for i in items if isinstance(i, ParseError)]


def _recover(decoder: Any, then: bytes) -> list[ParseError]:
    """Feed the good frame; return the errors reported on the way (a run ends at a flag)."""
    items = decoder.feed(then)
    assert items, "the good frame after the blast was not decoded"
    assert not isinstance(items[-1], ParseError), items[-1]
    return _errors(items)


@pytest.mark.parametrize("blast", BLASTS, ids=lambda b: b.name)
def test_a_blast_in_serial_reads_stays_within_the_bound_and_is_reported(blast: Blast) -> None:
    decoder = blast.new()
    chunk = blast.filler * READ_SIZE
    items = list(decoder.feed(blast.prefix))
    # tracemalloc slows the byte-by-byte Nonin loops tenfold: their bound is checked alone
    traced = blast.size >= 10 * MB
    if traced:
        tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(blast.size // READ_SIZE):
            out = decoder.feed(chunk)
            assert decoder.pending <= blast.bound
            items.extend(out)
            del out
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    errors = _errors(items)
    assert len(errors) == len(items)
    # what the decoder keeps (its buffer, the errors it returns) stays far below the blast
    assert peak - before < max(4 * blast.bound, 256 * 1024) + 2 * READ_SIZE * len(errors)
    errors += _recover(decoder, blast.then)
    assert errors, "the blast was not reported"
    assert len(errors) <= blast.max_errors(blast.size), f"{len(errors)} errors: a log flood"


@pytest.mark.parametrize("blast", BLASTS, ids=lambda b: b.name)
def test_a_blast_in_one_read_is_rejected_and_not_kept(blast: Blast) -> None:
    decoder = blast.new()
    items = decoder.feed(blast.prefix + blast.filler * blast.size)
    assert decoder.pending <= blast.bound
    assert len(_errors(items)) == len(items)
    errors = _errors(items) + _recover(decoder, blast.then)
    assert errors, "the blast was not reported"
    assert len(errors) <= blast.max_errors(blast.size)


# --- through a real port ---------------------------------------------------------------


async def _first_measurement(session: Any, pty: PtyPort, blast: bytes, good: bytes) -> Record:
    async def send() -> None:
        for at in range(0, len(blast), 64 * 1024):
            await pty.write(blast[at : at + 64 * 1024])
        await pty.write(good)

    writer = asyncio.create_task(send())
    try:
        async with asyncio.timeout(60):
            async for record in session.records():
                if isinstance(record, Measurement):
                    return record
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    raise AssertionError("the session ended without a measurement")


@pytest.mark.parametrize(
    ("kind", "make", "blast", "good"),
    [
        pytest.param("masimo", masimo_driver.DRIVER, b"A" * (10 * MB), b"\r\n" + MASIMO_LINE,
                     id="masimo-10MB-without-newline"),
        pytest.param("datex-s5", datex_driver.DRIVER, b"\x7e" + b"\x00" * (10 * MB),
                     DATEX_FRAME, id="datex-10MB-frame-never-closes"),
    ],
)  # fmt: skip
async def test_a_10_mb_serial_blast_is_counted_and_the_next_reading_arrives(
    pty_port: PtyPort, kind: str, make: Callable[..., Any], blast: bytes, good: bytes
) -> None:
    counters = DriverCounters()
    spec = DeviceSpec("dev", kind, "p-1", {"port": pty_port.path, "silence_timeout_s": 30})
    async with make(spec, counters) as session:
        record = await _first_measurement(session, pty_port, blast, good)
        pending = session._decoder.pending
    assert isinstance(record, Measurement)
    assert counters.counts["bytes_in"] >= len(blast)
    assert counters.counts["parse_errors"] >= 1
    assert counters.last_error
    assert pending <= MAX_WIRE


# --- BLE -------------------------------------------------------------------------------

#: One valid value per characteristic whose layout has a fixed maximum size.
FIXED_LAYOUT: dict[int, bytes] = {
    uuids.BODY_SENSOR_LOCATION: ble.body_sensor_location(1),
    uuids.PLX_SPOT_CHECK_MEASUREMENT: ble.plx_spot_check(98, 72, timestamp=STAMP),
    uuids.PLX_CONTINUOUS_MEASUREMENT: ble.plx_continuous(97, 60, fast=(96, 61)),
    uuids.PLX_FEATURES: ble.plx_features(0xFC),
    uuids.BLOOD_PRESSURE_MEASUREMENT: ble.blood_pressure_measurement(
        120, 80, 93, timestamp=STAMP, pulse_rate=70
    ),
    uuids.INTERMEDIATE_CUFF_PRESSURE: ble.intermediate_cuff_pressure(140, status=0),
    uuids.BLOOD_PRESSURE_FEATURE: ble.blood_pressure_feature(0x1FF),
    uuids.TEMPERATURE_MEASUREMENT: ble.temperature_measurement(37.6, timestamp=STAMP),
    uuids.INTERMEDIATE_TEMPERATURE: ble.intermediate_temperature(37.1),
    uuids.TEMPERATURE_TYPE: ble.temperature_type(6),
    uuids.WEIGHT_MEASUREMENT: ble.weight_measurement(14000, timestamp=STAMP),
    uuids.WEIGHT_SCALE_FEATURE: ble.weight_scale_feature(time_stamp=True),
    uuids.GLUCOSE_MEASUREMENT: ble.glucose_measurement(1, STAMP, concentration=(95, -5)),
    uuids.GLUCOSE_MEASUREMENT_CONTEXT: ble.glucose_measurement_context(1, meal=1),
    uuids.CGM_FEATURE: ble.cgm_feature(0x011000),
    uuids.BATTERY_LEVEL: ble.battery_level(80),
    uuids.DATE_TIME: ble.date_time(STAMP),
    uuids.CURRENT_TIME: ble.current_time(STAMP),
    uuids.RECORD_ACCESS_CONTROL_POINT: ble.racp_response_code(1, 1),
}


@pytest.mark.parametrize("uuid16", sorted(FIXED_LAYOUT), ids=lambda u: f"0x{u:04X}")
@pytest.mark.parametrize("fill", [b"\x00", b"\xff"], ids=["zeros", "ones"])
def test_a_fixed_layout_value_longer_than_an_attribute_is_rejected(
    uuid16: int, fill: bytes
) -> None:
    valid = FIXED_LAYOUT[uuid16]
    PARSERS[uuid16](valid)  # the seed itself is fine
    oversized = valid + fill * (MAX_ATTRIBUTE_VALUE + 1 - len(valid))
    with pytest.raises(ParseError):
        PARSERS[uuid16](oversized)


def test_every_parser_has_a_fixed_layout_except_rr_lists_cgm_records_and_strings() -> None:
    # the heart rate RR-interval list, CGM records and Device Information strings grow
    # with the value: the session bounds them (see the test below)
    variable = {uuids.HEART_RATE_MEASUREMENT, uuids.CGM_MEASUREMENT}
    variable |= set(device_info.STRING_CHARACTERISTICS)
    assert set(PARSERS) - set(FIXED_LAYOUT) == variable


def _session(counters: DriverCounters) -> BleSession:
    client = cast(BleakClient, SimpleNamespace(services=[], address="F6:00:00:00:00:01"))
    return BleSession(
        device_id="hr",
        client=client,
        link=Link(),
        profile=PROFILES["heart_rate"],
        adapter=BleAdapter("bounded-input"),
        counters=counters,
        store=StateStore(None),
        state=TransferState(),
        options=SessionOptions(),
    )


async def test_a_valid_heart_rate_notification_reaches_the_records() -> None:
    counters = DriverCounters()
    session = _session(counters)
    char = cast(Any, None)
    session.link.notifier(uuids.HEART_RATE_MEASUREMENT)(char, bytearray(b"\x10\x48\x20\x03"))
    item = session.link.queue.get_nowait()
    records = [r async for r in session._value(item)]  # type: ignore[arg-type]
    assert records and counters.counts["parse_errors"] == 0


async def test_a_heart_rate_notification_longer_than_an_attribute_is_dropped_and_counted() -> None:
    counters = DriverCounters()
    session = _session(counters)
    # flags 0x10 (RR intervals present), HR 72, then 299 RR intervals: 600 bytes in all
    oversized = bytearray(b"\x10\x48" + b"\x20\x03" * 299)
    session.link.notifier(uuids.HEART_RATE_MEASUREMENT)(cast(Any, None), oversized)
    item = session.link.queue.get_nowait()
    records = [r async for r in session._value(item)]  # type: ignore[arg-type]
    assert records == []
    assert counters.counts["parse_errors"] == 1
