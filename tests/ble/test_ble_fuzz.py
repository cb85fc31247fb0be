"""Fuzz: random and mutated bytes for every characteristic raise nothing but ParseError."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble import cgm, decode, uuids
from drivers.ble.decode import PARSERS, decode_characteristic
from drivers.ble.measurements import to_measurements
from gateway.errors import ParseError
from gateway.model import ReceiveTime
from hil.ble import encoders

RECEIVED = ReceiveTime(wall_ns=1_700_000_000_000_000_000, mono_ns=1)
STAMP = datetime(2024, 5, 20, 7, 30)  # noqa: DTZ001

Parser = Callable[[bytes], object]
ALL_PARSERS: list[tuple[str, Parser]] = [
    *((f"0x{u:04X}", p) for u, p in sorted(PARSERS.items())),
    ("cgm crc", lambda d: cgm.parse_cgm_measurement(d, crc_present=True)),
    ("cgm no crc", lambda d: cgm.parse_cgm_measurement(d, crc_present=False)),
]

#: One valid value per characteristic, to mutate.
SEEDS: dict[int, bytes] = {
    uuids.HEART_RATE_MEASUREMENT: encoders.heart_rate_measurement(
        72, contact=True, energy_kj=10, rr_1024=[800, 810]
    ),
    uuids.BODY_SENSOR_LOCATION: encoders.body_sensor_location(1),
    uuids.PLX_SPOT_CHECK_MEASUREMENT: encoders.plx_spot_check(
        98, 72, timestamp=STAMP, measurement_status=0x20, device_sensor_status=1, pai=2.5
    ),
    uuids.PLX_CONTINUOUS_MEASUREMENT: encoders.plx_continuous(
        97, 60, fast=(96, 61), slow=(97, 59), measurement_status=0, device_sensor_status=0, pai=1
    ),
    uuids.PLX_FEATURES: encoders.plx_features(
        0xFC, measurement_status_support=0xFFE0, device_sensor_status_support=0xFFFF
    ),
    uuids.BLOOD_PRESSURE_MEASUREMENT: encoders.blood_pressure_measurement(
        120, 80, 93, timestamp=STAMP, pulse_rate=70, user_id=1, status=encoders.bp_status()
    ),
    uuids.INTERMEDIATE_CUFF_PRESSURE: encoders.intermediate_cuff_pressure(140, status=0),
    uuids.BLOOD_PRESSURE_FEATURE: encoders.blood_pressure_feature(0x1FF),
    uuids.TEMPERATURE_MEASUREMENT: encoders.temperature_measurement(
        37.6, timestamp=STAMP, temperature_type=2
    ),
    uuids.INTERMEDIATE_TEMPERATURE: encoders.intermediate_temperature(37.1),
    uuids.TEMPERATURE_TYPE: encoders.temperature_type(6),
    uuids.WEIGHT_MEASUREMENT: encoders.weight_measurement(
        14000, timestamp=STAMP, user_id=2, bmi_height_raw=(229, 1758)
    ),
    uuids.WEIGHT_SCALE_FEATURE: encoders.weight_scale_feature(
        time_stamp=True, weight_resolution=7, height_resolution=3
    ),
    uuids.GLUCOSE_MEASUREMENT: encoders.glucose_measurement(
        1, STAMP, time_offset_min=5, concentration=(95, -5), sensor_status=0x0001
    ),
    uuids.GLUCOSE_MEASUREMENT_CONTEXT: encoders.glucose_measurement_context(
        1,
        carbohydrate=(1, (50, -3)),
        meal=1,
        tester_health=(1, 5),
        exercise=(600, 40),
        medication=(1, (5, -6)),
        hba1c=(57, -1),
    ),
    uuids.CGM_MEASUREMENT: encoders.cgm_measurement(
        [
            encoders.cgm_record(120, 5, status_octet=1, trend=1.0, quality=95),
            encoders.cgm_record(121, 10),
        ]
    ),
    uuids.CGM_FEATURE: encoders.cgm_feature(0x011000),
    uuids.BATTERY_LEVEL: encoders.battery_level(80),
    uuids.DATE_TIME: encoders.date_time(STAMP),
    uuids.CURRENT_TIME: encoders.current_time(STAMP),
    uuids.RECORD_ACCESS_CONTROL_POINT: encoders.racp_response_code(1, 1),
    uuids.MANUFACTURER_NAME: encoders.device_information_string("Acme"),
}


def _check(name: str, parser: Parser, data: bytes) -> None:
    error: ParseError | None = None
    try:
        parsed = parser(data)
    except ParseError as exc:
        error = exc
    if error is not None:
        assert error.data == data, name
        assert 0 <= error.offset <= len(data), name
        return
    # whatever parses must also convert without error
    json.dumps(decode.to_json(parsed))
    to_measurements(parsed, "dev", RECEIVED)


def test_every_seed_parses() -> None:
    for uuid16, data in SEEDS.items():
        decode_characteristic(f"{uuid16:04x}", data)


@settings(max_examples=400)
@given(st.sampled_from(ALL_PARSERS), st.binary(max_size=48))
def test_random_bytes_raise_only_parse_errors(entry: tuple[str, Parser], data: bytes) -> None:
    _check(entry[0], entry[1], data)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[int, bytes]:
    uuid16 = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[uuid16])
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "grow", "set"]))
        if action == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)) :]
        elif action == "grow":
            data += draw(st.binary(min_size=1, max_size=4))
        elif data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return uuid16, bytes(data)


@settings(max_examples=600)
@given(mutated())
def test_mutated_values_raise_only_parse_errors(case: tuple[int, bytes]) -> None:
    uuid16, data = case
    _check(f"0x{uuid16:04X}", PARSERS[uuid16], data)
    if uuid16 == uuids.CGM_MEASUREMENT:
        _check("cgm crc", lambda d: cgm.parse_cgm_measurement(d, crc_present=True), data)
