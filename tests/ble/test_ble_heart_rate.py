"""Heart Rate Measurement (0x2A37) and Body Sensor Location (0x2A38)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble.heart_rate import (
    BodySensorLocation,
    parse_body_sensor_location,
    parse_heart_rate_measurement,
)
from gateway.errors import FieldError, FramingError
from hil.ble import encoders

SOURCE = "0x2A37 Heart Rate Measurement"


def test_uint8_hr_with_contact_and_rr() -> None:
    data = bytes(
        [
            0x16,  # flags: uint8 HR, contact supported+detected (bits1-2 = 3), RR present (bit4)
            0x48,  # HR 72 bpm
            0x34, 0x03,  # RR 0x0334 = 820/1024 s
            0x00, 0x04,  # RR 0x0400 = 1024/1024 s
        ]
    )  # fmt: skip
    hrm = parse_heart_rate_measurement(data)
    assert hrm.heart_rate_bpm == 72
    assert not hrm.value_is_uint16
    assert hrm.sensor_contact_supported and hrm.sensor_contact_detected
    assert hrm.energy_expended_kj is None
    assert hrm.rr_intervals_1024 == (820, 1024)
    assert hrm.rr_intervals_s == (820 / 1024, 1.0)


def test_uint16_hr_with_energy_and_no_contact() -> None:
    data = bytes(
        [
            0x0D,  # flags: uint16 HR (bit0), contact supported, not detected (bits1-2 = 2), EE
            0x2C, 0x01,  # HR 0x012C = 300 bpm
            0xFF, 0xFF,  # energy expended saturated at 65535 kJ
        ]
    )  # fmt: skip
    hrm = parse_heart_rate_measurement(data)
    assert hrm.heart_rate_bpm == 300
    assert hrm.value_is_uint16
    assert hrm.sensor_contact_supported and not hrm.sensor_contact_detected
    assert hrm.energy_expended_kj == 0xFFFF
    assert hrm.rr_intervals_1024 == ()


def test_contact_value_one_means_not_supported() -> None:
    hrm = parse_heart_rate_measurement(bytes([0x02, 60]))  # bits1-2 = 1
    assert not hrm.sensor_contact_supported
    assert not hrm.sensor_contact_detected


def test_reserved_flag_bits_are_ignored() -> None:
    assert parse_heart_rate_measurement(bytes([0xE0, 60])).heart_rate_bpm == 60


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"", 0),  # no flags
        (bytes([0x00]), 1),  # flags but no HR
        (bytes([0x01, 0x48]), 1),  # uint16 HR with one byte
        (bytes([0x08, 0x48, 0x10]), 2),  # energy expended cut short
        (bytes([0x10, 0x48]), 2),  # RR flagged but none follows
        (bytes([0x10, 0x48, 0x34, 0x03, 0x34]), 4),  # odd trailing RR byte
        (bytes([0x00, 0x48, 0x00]), 2),  # trailing byte with no flag for it
    ],
)
def test_framing_errors(data: bytes, offset: int) -> None:
    with pytest.raises(FramingError) as info:
        parse_heart_rate_measurement(data)
    assert info.value.source == SOURCE
    assert info.value.offset == offset
    assert info.value.data == data
    assert SOURCE in str(info.value)


def test_body_sensor_location() -> None:
    assert parse_body_sensor_location(bytes([0x01])).location is BodySensorLocation.CHEST
    assert parse_body_sensor_location(bytes([0x06])).location is BodySensorLocation.FOOT
    with pytest.raises(FieldError) as info:
        parse_body_sensor_location(bytes([0x07]))  # 7..255 reserved
    assert info.value.source == "0x2A38 Body Sensor Location"
    with pytest.raises(FramingError):
        parse_body_sensor_location(bytes([0x01, 0x00]))


@settings(max_examples=200)
@given(
    wide=st.booleans(),
    bpm=st.integers(0, 0xFFFF),
    contact=st.sampled_from([None, True, False]),
    energy=st.none() | st.integers(0, 0xFFFF),
    rr=st.lists(st.integers(0, 0xFFFF), max_size=9),
)
def test_round_trip(
    wide: bool, bpm: int, contact: bool | None, energy: int | None, rr: list[int]
) -> None:
    if not wide:
        bpm &= 0xFF
    data = encoders.heart_rate_measurement(
        bpm, uint16=wide, contact=contact, energy_kj=energy, rr_1024=rr
    )
    hrm = parse_heart_rate_measurement(data)
    assert hrm.heart_rate_bpm == bpm
    assert hrm.value_is_uint16 == wide
    assert hrm.sensor_contact_supported == (contact is not None)
    assert hrm.sensor_contact_detected == (contact is True)
    assert hrm.energy_expended_kj == energy
    assert hrm.rr_intervals_1024 == tuple(rr)
