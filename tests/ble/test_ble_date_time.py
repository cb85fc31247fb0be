"""Date Time (0x2A08) and Current Time (0x2A2B)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble.date_time import (
    DayOfWeek,
    device_time_ns,
    parse_current_time,
    parse_date_time,
)
from gateway.errors import FieldError, FramingError
from hil.ble import encoders


def test_date_time_golden() -> None:
    data = bytes(
        [
            0xE3, 0x07,  # year 0x07E3 = 2019
            0x0C,  # month 12
            0x0F,  # day 15
            0x0A,  # 10 h
            0x1E,  # 30 min
            0x2D,  # 45 s
        ]
    )  # fmt: skip
    assert parse_date_time(data).timestamp == datetime(2019, 12, 15, 10, 30, 45)  # noqa: DTZ001


@pytest.mark.parametrize(
    "data",
    [
        bytes(7),  # everything unknown
        bytes([0x00, 0x00, 12, 15, 10, 30, 0]),  # year 0 = unknown
        bytes([0xE3, 0x07, 0, 15, 10, 30, 0]),  # month 0 = unknown
        bytes([0xE3, 0x07, 12, 0, 10, 30, 0]),  # day 0 = unknown
    ],
)
def test_unknown_date_gives_none(data: bytes) -> None:
    assert parse_date_time(data).timestamp is None


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (bytes([0x2D, 0x06, 1, 1, 0, 0, 0]), 0),  # year 1581: before 1582
        (bytes([0x10, 0x27, 1, 1, 0, 0, 0]), 0),  # year 10000
        (bytes([0xE3, 0x07, 13, 1, 0, 0, 0]), 2),  # month 13
        (bytes([0xE3, 0x07, 1, 32, 0, 0, 0]), 3),  # day 32
        (bytes([0xE3, 0x07, 2, 30, 0, 0, 0]), 3),  # 30 February
        (bytes([0xE3, 0x07, 1, 1, 24, 0, 0]), 4),  # hour 24
        (bytes([0xE3, 0x07, 1, 1, 0, 60, 0]), 5),  # minute 60
        (bytes([0xE3, 0x07, 1, 1, 0, 0, 60]), 6),  # second 60
    ],
)
def test_reserved_date_fields_raise_field_error(data: bytes, offset: int) -> None:
    with pytest.raises(FieldError) as info:
        parse_date_time(data)
    assert info.value.offset == offset
    assert info.value.source == "0x2A08 Date Time"


@pytest.mark.parametrize("size", [0, 6, 8])
def test_date_time_length(size: int) -> None:
    with pytest.raises(FramingError):
        parse_date_time(bytes([0xE3, 0x07, 1, 1, 0, 0, 0, 0])[:size])


def test_current_time_golden() -> None:
    data = bytes(
        [
            0xE8, 0x07,  # 2024
            0x02,  # February
            0x1D,  # 29th (leap year)
            0x17, 0x3B, 0x3B,  # 23:59:59
            0x04,  # day of week: Thursday
            0x80,  # fractions256 = 128 -> 0.5 s
            0x05,  # adjust reason: manual update (bit0) + time zone change (bit2)
        ]
    )  # fmt: skip
    ct = parse_current_time(data)
    assert ct.timestamp == datetime(2024, 2, 29, 23, 59, 59, 500000)  # noqa: DTZ001
    assert ct.day_of_week is DayOfWeek.THURSDAY
    assert ct.fractions256 == 128
    assert ct.manual_time_update
    assert not ct.external_reference_time_update
    assert ct.change_of_time_zone
    assert not ct.change_of_dst


def test_current_time_reserved_day_of_week() -> None:
    with pytest.raises(FieldError) as info:
        parse_current_time(bytes([0xE8, 0x07, 2, 29, 0, 0, 0, 8, 0, 0]))
    assert info.value.offset == 7


def test_device_time_ns_counts_naive_time_as_utc() -> None:
    assert device_time_ns(datetime(1970, 1, 2, 0, 0, 1)) == 86_401_000_000_000  # noqa: DTZ001


@settings(max_examples=200)
@given(
    st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31)),  # noqa: DTZ001
    st.integers(0, 255),
    st.integers(0, 15),
)
def test_current_time_round_trip(stamp: datetime, fractions: int, reason: int) -> None:
    stamp = stamp.replace(microsecond=0)
    data = encoders.current_time(stamp, fractions256=fractions, adjust_reason=reason)
    ct = parse_current_time(data)
    assert ct.timestamp is not None
    assert ct.timestamp.replace(microsecond=0) == stamp
    assert ct.timestamp.microsecond == fractions * 1_000_000 // 256
    assert ct.day_of_week == stamp.isoweekday()
    assert ct.manual_time_update == bool(reason & 1)
    assert ct.change_of_dst == bool(reason & 8)
