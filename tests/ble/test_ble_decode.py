"""decode_characteristic: UUID forms, JSON shape, errors."""

from __future__ import annotations

import json

import pytest

from drivers.ble import uuids
from drivers.ble.decode import PARSERS, decode_characteristic
from gateway.errors import ChecksumError, FramingError

HRM = bytes([0x16, 0x48, 0x34, 0x03])  # contact detected, RR present; HR 72, RR 820


@pytest.mark.parametrize(
    "name", ["2a37", "2A37", "0x2A37", "0x2a37", " 2a37 ", "00002a37-0000-1000-8000-00805f9b34fb"]
)
def test_uuid_forms(name: str) -> None:
    out = decode_characteristic(name, HRM)
    assert out["characteristic"] == "0x2A37"
    assert out["name"] == "Heart Rate Measurement"
    assert out["heart_rate_bpm"] == 72
    assert out["rr_intervals_s"] == [820 / 1024]
    assert out["sensor_contact_detected"] is True


@pytest.mark.parametrize(
    "name", ["2a99", "0x1234", "00002a37-0000-1000-8000-00805f9b34fc", "heart", "", "2a377"]
)
def test_unknown_characteristic_is_value_error(name: str) -> None:
    with pytest.raises(ValueError, match=r"characteristic|UUID") as info:
        decode_characteristic(name, HRM)
    assert name.strip() in str(info.value) or "0x" in str(info.value)


def test_blood_pressure_json_shape() -> None:
    data = bytes(
        [
            0x03,  # flags: kPa, time stamp
            0xA1, 0xF0,  # systolic 16.1 kPa
            0x6B, 0xF0,  # diastolic 10.7 kPa
            0xFF, 0x07,  # MAP NaN
            0xE3, 0x07, 0x0C, 0x0F, 0x0A, 0x1E, 0x00,  # 2019-12-15 10:30:00
        ]
    )  # fmt: skip
    out = decode_characteristic("2a35", data)
    assert out["unit"] == "kPa"
    assert out["systolic"] == {"value": 16.1, "special": None}
    assert out["mean_arterial_pressure"] == {"value": None, "special": "nan"}
    assert out["timestamp"] == "2019-12-15T10:30:00"
    assert out["pulse_rate_bpm"] is None
    json.dumps(out)


def test_enum_characteristics() -> None:
    assert decode_characteristic("2a38", bytes([2]))["location"] == "wrist"
    assert decode_characteristic("2a1d", bytes([9]))["temperature_type"] == "tympanum"


def test_cgm_crc_is_inferred() -> None:
    out = decode_characteristic("2aa7", bytes.fromhex("08000c100600596f"))
    assert out["crc_present"] is True
    records = out["records"]
    assert isinstance(records, list)
    assert records[0]["glucose_mg_dl"] == {"value": 120.0, "special": None}
    with pytest.raises(ChecksumError):
        decode_characteristic("2aa7", bytes.fromhex("08000c100600586f"))


def test_device_information_and_racp() -> None:
    out = decode_characteristic("2a29", b"Acme")
    assert (out["characteristic"], out["field"], out["value"]) == (
        "0x2A29",
        "manufacturer_name",
        "Acme",
    )
    out = decode_characteristic("2a52", bytes([0x06, 0x00, 0x01, 0x01]))
    assert out["response_code"] == "success" and out["request_op_code"] == 1


def test_parse_errors_propagate() -> None:
    with pytest.raises(FramingError):
        decode_characteristic("2a37", b"")


def test_every_supported_characteristic_is_named() -> None:
    assert set(PARSERS) <= set(uuids.NAMES)
    assert len(PARSERS) == 27
    for uuid16 in PARSERS:
        assert uuids.parse_uuid16(uuids.uuid128(uuid16)) == uuid16
