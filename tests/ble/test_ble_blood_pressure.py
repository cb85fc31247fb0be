"""Blood Pressure Measurement (0x2A35), Intermediate Cuff Pressure (0x2A36), Feature (0x2A49)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble.blood_pressure import (
    PressureUnit,
    PulseRateRange,
    parse_blood_pressure_feature,
    parse_blood_pressure_measurement,
    parse_intermediate_cuff_pressure,
)
from drivers.ble.ieee11073 import Special
from gateway.errors import FieldError, FramingError
from hil.ble import encoders

SFLOATS = st.tuples(st.integers(-2048, 2047), st.integers(-8, 7))


def test_measurement_all_fields() -> None:
    data = bytes(
        [
            0x1E,  # flags: mmHg, time stamp, pulse rate, user id, measurement status
            0x79, 0x00,  # systolic 121 mmHg
            0x51, 0x00,  # diastolic 81
            0x5B, 0x00,  # MAP 91
            0xE3, 0x07, 0x0C, 0x0F, 0x0A, 0x1E, 0x00,  # 2019-12-15 10:30:00
            0x48, 0x00,  # pulse 72 /min
            0x01,  # user 1
            0x0D, 0x00,  # status: body movement (0), irregular pulse (2), rate > upper (3-4 = 1)
        ]
    )  # fmt: skip
    m = parse_blood_pressure_measurement(data)
    assert m.unit is PressureUnit.MMHG
    assert (m.systolic.value, m.diastolic.value, m.mean_arterial_pressure.value) == (121, 81, 91)
    assert m.timestamp == datetime(2019, 12, 15, 10, 30)  # noqa: DTZ001
    assert m.pulse_rate_bpm is not None and m.pulse_rate_bpm.value == 72
    assert m.user_id == 1
    s = m.measurement_status
    assert s is not None
    assert s.body_movement_detected and s.irregular_pulse_detected
    assert not s.cuff_too_loose and not s.improper_measurement_position
    assert s.pulse_rate_range is PulseRateRange.EXCEEDS_UPPER_LIMIT


def test_measurement_minimal_kpa() -> None:
    data = bytes(
        [
            0x01,  # flags: kPa, nothing else
            0xA1, 0xF0,  # 0xF0A1: exponent -1, mantissa 161 -> 16.1 kPa
            0x6B, 0xF0,  # 10.7 kPa
            0xFF, 0x07,  # MAP NaN
        ]
    )  # fmt: skip
    m = parse_blood_pressure_measurement(data)
    assert m.unit is PressureUnit.KPA
    assert m.systolic.value == 16.1 and m.diastolic.value == 10.7
    assert m.mean_arterial_pressure.special is Special.NAN
    assert m.timestamp is None and m.pulse_rate_bpm is None and m.user_id is None


def test_failed_cuff_reading_is_not_2047() -> None:
    # a cuff that failed sends NaN everywhere: the gateway must not read 2047 mmHg
    m = parse_blood_pressure_measurement(bytes([0x00, 0xFF, 0x07, 0xFF, 0x07, 0xFF, 0x07]))
    assert m.systolic.value is None and m.systolic.special is Special.NAN


def test_intermediate_cuff_pressure_keeps_only_the_cuff() -> None:
    data = bytes(
        [
            0x00,  # flags: mmHg
            0x8C, 0x00,  # cuff pressure 140
            0xFF, 0x07,  # unused: NaN
            0x00, 0x00,  # unused: zeros (as some devices send); ignored
        ]
    )  # fmt: skip
    icp = parse_intermediate_cuff_pressure(data)
    assert icp.cuff_pressure.value == 140
    assert not hasattr(icp, "diastolic")


def test_reserved_pulse_rate_range() -> None:
    data = bytes([0x10, 0x79, 0, 0x51, 0, 0x5B, 0, 0x18, 0x00])  # range bits 3-4 = 3
    with pytest.raises(FieldError) as info:
        parse_blood_pressure_measurement(data)
    assert info.value.offset == 7
    assert info.value.source == "0x2A35 Blood Pressure Measurement"


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (bytes([0x00, 0x79, 0x00, 0x51, 0x00, 0x5B]), 5),  # MAP cut short
        (bytes([0x04, 0x79, 0, 0x51, 0, 0x5B, 0]), 7),  # pulse flagged, absent
        (bytes([0x00, 0x79, 0, 0x51, 0, 0x5B, 0, 0x48]), 7),  # trailing byte
    ],
)
def test_framing_errors(data: bytes, offset: int) -> None:
    for parser, source in (
        (parse_blood_pressure_measurement, "0x2A35 Blood Pressure Measurement"),
        (parse_intermediate_cuff_pressure, "0x2A36 Intermediate Cuff Pressure"),
    ):
        with pytest.raises(FramingError) as info:
            parser(data)
        assert (info.value.source, info.value.offset) == (source, offset)


def test_feature() -> None:
    f = parse_blood_pressure_feature(bytes([0x41, 0x01]))  # bits 0, 6, 8
    assert f.body_movement_detection_supported
    assert f.e2e_crc_supported and f.user_facing_time_supported
    assert not f.cuff_fit_detection_supported and not f.multiple_bonds_supported
    with pytest.raises(FramingError):
        parse_blood_pressure_feature(bytes([0x41]))


@settings(max_examples=200)
@given(
    pressures=st.tuples(SFLOATS, SFLOATS, SFLOATS),
    kpa=st.booleans(),
    stamp=st.none() | st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 1, 1)),  # noqa: DTZ001
    pulse=st.none() | SFLOATS,
    user=st.none() | st.integers(0, 255),
    flags=st.none()
    | st.tuples(st.booleans(), st.booleans(), st.booleans(), st.integers(0, 2), st.booleans()),
)
def test_round_trip(
    pressures: tuple[tuple[int, int], tuple[int, int], tuple[int, int]],
    kpa: bool,
    stamp: datetime | None,
    pulse: tuple[int, int] | None,
    user: int | None,
    flags: tuple[bool, bool, bool, int, bool] | None,
) -> None:
    stamp = None if stamp is None else stamp.replace(microsecond=0)
    status = None
    if flags is not None:
        status = encoders.bp_status(
            body_movement=flags[0],
            cuff_too_loose=flags[1],
            irregular_pulse=flags[2],
            pulse_rate_range=flags[3],
            improper_position=flags[4],
        )
    data = encoders.blood_pressure_measurement(
        *pressures, kpa=kpa, timestamp=stamp, pulse_rate=pulse, user_id=user, status=status
    )
    m = parse_blood_pressure_measurement(data)
    got = (m.systolic, m.diastolic, m.mean_arterial_pressure)
    for number, sent in zip(got, pressures, strict=True):
        assert encoders.sfloat((number.mantissa, number.exponent)) == encoders.sfloat(sent)
    assert m.unit is (PressureUnit.KPA if kpa else PressureUnit.MMHG)
    assert m.timestamp == stamp
    assert (m.pulse_rate_bpm is None) == (pulse is None)
    assert m.user_id == user
    if flags is None:
        assert m.measurement_status is None
    else:
        s = m.measurement_status
        assert s is not None
        assert (s.body_movement_detected, s.cuff_too_loose, s.irregular_pulse_detected) == flags[:3]
        assert s.pulse_rate_range is list(PulseRateRange)[flags[3]]
        assert s.improper_measurement_position == flags[4]
    icp = parse_intermediate_cuff_pressure(
        encoders.intermediate_cuff_pressure(pressures[0], kpa=kpa, timestamp=stamp, status=status)
    )
    assert encoders.sfloat(
        (icp.cuff_pressure.mantissa, icp.cuff_pressure.exponent)
    ) == encoders.sfloat(pressures[0])
