"""Battery Level (0x2A19) and Device Information strings (0x2A24..0x2A29)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble import uuids
from drivers.ble.battery import parse_battery_level
from drivers.ble.device_info import STRING_CHARACTERISTICS, parse_device_information_string
from gateway.errors import FieldError, FramingError
from hil.ble import encoders


@pytest.mark.parametrize("level", [0, 57, 100])
def test_battery_level(level: int) -> None:
    assert parse_battery_level(bytes([level])).level_percent == level


def test_battery_level_over_100_is_field_error() -> None:
    with pytest.raises(FieldError) as info:
        parse_battery_level(bytes([101]))
    assert info.value.source == "0x2A19 Battery Level"


@pytest.mark.parametrize("data", [b"", bytes([50, 0])])
def test_battery_level_length(data: bytes) -> None:
    with pytest.raises(FramingError):
        parse_battery_level(data)


def test_dis_strings() -> None:
    s = parse_device_information_string(uuids.MANUFACTURER_NAME, b"Acme\x00\x00")
    assert (s.field, s.value) == ("manufacturer_name", "Acme")
    s = parse_device_information_string(uuids.FIRMWARE_REVISION, "1.2.3-é".encode())
    assert (s.field, s.value) == ("firmware_revision", "1.2.3-é")
    assert parse_device_information_string(uuids.SERIAL_NUMBER, b"").value == ""


def test_dis_not_utf8() -> None:
    with pytest.raises(FieldError) as info:
        parse_device_information_string(uuids.MODEL_NUMBER, b"AB\xff")
    assert info.value.offset == 2
    assert info.value.source == "0x2A24 Model Number String"


def test_dis_unknown_characteristic() -> None:
    with pytest.raises(ValueError, match="not a Device Information string"):
        parse_device_information_string(0x2A37, b"x")


@settings(max_examples=100)
@given(st.sampled_from(sorted(STRING_CHARACTERISTICS)), st.text(max_size=40))
def test_dis_round_trip(uuid16: int, text: str) -> None:
    text = text.rstrip("\x00")
    parsed = parse_device_information_string(uuid16, encoders.device_information_string(text))
    assert parsed.value == text
    assert parsed.characteristic == uuid16
