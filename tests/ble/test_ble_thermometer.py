"""Temperature Measurement (0x2A1C), Intermediate Temperature (0x2A1E), Type (0x2A1D)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble.ieee11073 import Special
from drivers.ble.thermometer import (
    TemperatureType,
    TemperatureUnit,
    parse_intermediate_temperature,
    parse_temperature_measurement,
    parse_temperature_type,
)
from gateway.errors import FieldError, FramingError
from hil.ble import encoders


def test_celsius_with_time_and_type() -> None:
    data = bytes(
        [
            0x06,  # flags: Celsius, time stamp (bit1), type (bit2)
            0xB0, 0x0E, 0x00, 0xFE,  # FLOAT: mantissa 0x000EB0 = 3760, exponent 0xFE = -2 -> 37.60
            0xE3, 0x07, 0x0C, 0x0F, 0x0A, 0x1E, 0x00,  # 2019-12-15 10:30:00
            0x09,  # tympanum
        ]
    )  # fmt: skip
    m = parse_temperature_measurement(data)
    assert m.unit is TemperatureUnit.CELSIUS
    assert m.temperature.value == 37.6
    assert m.timestamp == datetime(2019, 12, 15, 10, 30)  # noqa: DTZ001
    assert m.temperature_type is TemperatureType.TYMPANUM
    assert not m.intermediate


def test_fahrenheit_intermediate_minimal() -> None:
    data = bytes([0x01, 0xE5, 0x03, 0x00, 0xFF])  # F, mantissa 997, exponent -1 -> 99.7 F
    m = parse_intermediate_temperature(data)
    assert m.unit is TemperatureUnit.FAHRENHEIT
    assert m.temperature.value == 99.7
    assert m.intermediate
    assert m.timestamp is None and m.temperature_type is None


@pytest.mark.parametrize(
    ("word", "special"),
    [
        (bytes([0xFF, 0xFF, 0x7F, 0x00]), Special.NAN),  # 0x007FFFFF
        (bytes([0x00, 0x00, 0x80, 0x00]), Special.NRES),  # 0x00800000
        (bytes([0xFE, 0xFF, 0x7F, 0x00]), Special.POSITIVE_INFINITY),  # 0x007FFFFE
        (bytes([0x02, 0x00, 0x80, 0x00]), Special.NEGATIVE_INFINITY),  # 0x00800002
        (bytes([0x01, 0x00, 0x80, 0x00]), Special.RESERVED),  # 0x00800001
    ],
)
def test_float_special_values_in_a_measurement(word: bytes, special: Special) -> None:
    m = parse_temperature_measurement(bytes([0x00]) + word)
    assert m.temperature.special is special
    assert m.temperature.value is None


@pytest.mark.parametrize("kind", [0, 10, 255])
def test_reserved_temperature_type(kind: int) -> None:
    with pytest.raises(FieldError) as info:
        parse_temperature_measurement(bytes([0x04, 0xB0, 0x0E, 0x00, 0xFE, kind]))
    assert info.value.offset == 5
    assert info.value.source == "0x2A1C Temperature Measurement"
    with pytest.raises(FieldError):
        parse_temperature_type(bytes([kind]))


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (bytes([0x00, 0xB0, 0x0E, 0x00]), 1),  # FLOAT cut short
        (bytes([0x02, 0xB0, 0x0E, 0x00, 0xFE, 0xE3, 0x07]), 5),  # time stamp cut short
        (bytes([0x00, 0xB0, 0x0E, 0x00, 0xFE, 0x02]), 5),  # type byte with no flag
    ],
)
def test_framing_errors(data: bytes, offset: int) -> None:
    with pytest.raises(FramingError) as info:
        parse_temperature_measurement(data)
    assert info.value.offset == offset


def test_temperature_type() -> None:
    assert parse_temperature_type(bytes([1])).temperature_type is TemperatureType.ARMPIT
    with pytest.raises(FramingError):
        parse_temperature_type(b"")


@settings(max_examples=200)
@given(
    mantissa=st.integers(-(2**23), 2**23 - 1),
    exponent=st.integers(-128, 127),
    fahrenheit=st.booleans(),
    stamp=st.none() | st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 1, 1)),  # noqa: DTZ001
    kind=st.none() | st.integers(1, 9),
)
def test_round_trip(
    mantissa: int, exponent: int, fahrenheit: bool, stamp: datetime | None, kind: int | None
) -> None:
    stamp = None if stamp is None else stamp.replace(microsecond=0)
    data = encoders.temperature_measurement(
        (mantissa, exponent), fahrenheit=fahrenheit, timestamp=stamp, temperature_type=kind
    )
    m = parse_temperature_measurement(data)
    t = m.temperature
    assert encoders.float32((t.mantissa, t.exponent)) == encoders.float32((mantissa, exponent))
    assert m.unit is (TemperatureUnit.FAHRENHEIT if fahrenheit else TemperatureUnit.CELSIUS)
    assert m.timestamp == stamp
    assert m.temperature_type == kind
