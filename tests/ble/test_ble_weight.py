"""Weight Measurement (0x2A9D) and Weight Scale Feature (0x2A9E)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble.weight import parse_weight_measurement, parse_weight_scale_feature
from gateway.errors import FieldError, FramingError
from hil.ble import encoders


def test_si_with_everything() -> None:
    data = bytes(
        [
            0x0E,  # flags: SI, time stamp, user id, BMI+height
            0xB8, 0x36,  # weight 0x36B8 = 14008 x 0.005 kg = 70.04 kg
            0xE8, 0x07, 0x01, 0x02, 0x07, 0x00, 0x00,  # 2024-01-02 07:00:00
            0x03,  # user 3
            0xE5, 0x00,  # BMI 229 x 0.1 = 22.9 kg/m2
            0xDE, 0x06,  # height 1758 x 0.001 = 1.758 m
        ]
    )  # fmt: skip
    m = parse_weight_measurement(data)
    assert not m.imperial
    assert m.weight == 70.04 and m.weight_unit == "kg"
    assert m.timestamp == datetime(2024, 1, 2, 7)  # noqa: DTZ001
    assert m.user_id == 3
    assert m.bmi_kg_m2 == 22.9
    assert m.height == 1.758 and m.height_unit == "m"


def test_imperial_minimal() -> None:
    m = parse_weight_measurement(bytes([0x01, 0x46, 0x3C]))  # 0x3C46 = 15430 x 0.01 lb
    assert m.imperial and m.weight == 154.3 and m.weight_unit == "[lb_av]"
    assert m.bmi_kg_m2 is None and m.height is None


def test_imperial_height_in_inches() -> None:
    m = parse_weight_measurement(bytes([0x09, 0x46, 0x3C, 0xE5, 0x00, 0xBF, 0x02]))
    assert m.height == 70.3 and m.height_unit == "[in_i]"  # 703 x 0.1 in


def test_unsuccessful_weight_is_not_327_kg() -> None:
    m = parse_weight_measurement(bytes([0x00, 0xFF, 0xFF]))
    assert m.measurement_unsuccessful
    assert m.weight is None
    assert m.weight_raw == 0xFFFF


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (bytes([0x00, 0xB8]), 1),  # weight cut short
        (bytes([0x08, 0xB8, 0x36, 0xE5, 0x00]), 5),  # BMI without height
        (bytes([0x04, 0xB8, 0x36]), 3),  # user id flagged, absent
        (bytes([0x00, 0xB8, 0x36, 0x01]), 3),  # trailing
    ],
)
def test_framing_errors(data: bytes, offset: int) -> None:
    with pytest.raises(FramingError) as info:
        parse_weight_measurement(data)
    assert info.value.offset == offset
    assert info.value.source == "0x2A9D Weight Measurement"


def test_feature_golden() -> None:
    # 0x0000_01BF: time stamp, multiple users, BMI (bits 0-2), weight resolution 7 (bits 3-6
    # = 0b0111 -> 0.005 kg / 0.01 lb), height resolution 3 (bits 7-9 = 0b011 -> 0.001 m / 0.1 in)
    f = parse_weight_scale_feature(bytes([0xBF, 0x01, 0x00, 0x00]))
    assert f.time_stamp_supported and f.multiple_users_supported and f.bmi_supported
    assert f.weight_resolution_kg == 0.005 and f.weight_resolution_lb == 0.01
    assert f.height_resolution_m == 0.001 and f.height_resolution_in == 0.1
    none = parse_weight_scale_feature(bytes(4))
    assert none.weight_resolution_kg is None and none.height_resolution_m is None


@pytest.mark.parametrize(
    "raw",
    [
        8 << 3,  # weight resolution 8: reserved
        15 << 3,
        4 << 7,  # height resolution 4: reserved
    ],
)
def test_feature_reserved_resolutions(raw: int) -> None:
    with pytest.raises(FieldError):
        parse_weight_scale_feature(raw.to_bytes(4, "little"))


@settings(max_examples=200)
@given(
    weight=st.integers(0, 0xFFFF),
    imperial=st.booleans(),
    stamp=st.none() | st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 1, 1)),  # noqa: DTZ001
    user=st.none() | st.integers(0, 255),
    bmi_height=st.none() | st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
)
def test_round_trip(
    weight: int,
    imperial: bool,
    stamp: datetime | None,
    user: int | None,
    bmi_height: tuple[int, int] | None,
) -> None:
    stamp = None if stamp is None else stamp.replace(microsecond=0)
    data = encoders.weight_measurement(
        weight, imperial=imperial, timestamp=stamp, user_id=user, bmi_height_raw=bmi_height
    )
    m = parse_weight_measurement(data)
    assert m.weight_raw == weight
    if weight == 0xFFFF:
        assert m.weight is None
    else:
        step = 0.01 if imperial else 0.005
        assert m.weight == pytest.approx(weight * step)
    assert m.timestamp == stamp
    assert m.user_id == user
    if bmi_height is None:
        assert m.bmi_kg_m2 is None and m.height is None
    else:
        assert m.bmi_kg_m2 == pytest.approx(bmi_height[0] / 10)
        assert m.height == pytest.approx(bmi_height[1] * (0.1 if imperial else 0.001))


@settings(max_examples=100)
@given(
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    wres=st.integers(0, 7),
    hres=st.integers(0, 3),
)
def test_feature_round_trip(flags: tuple[bool, bool, bool], wres: int, hres: int) -> None:
    data = encoders.weight_scale_feature(
        time_stamp=flags[0],
        multiple_users=flags[1],
        bmi=flags[2],
        weight_resolution=wres,
        height_resolution=hres,
    )
    f = parse_weight_scale_feature(data)
    assert (f.time_stamp_supported, f.multiple_users_supported, f.bmi_supported) == flags
    assert (f.weight_resolution_kg is None) == (wres == 0)
    assert (f.height_resolution_m is None) == (hres == 0)
