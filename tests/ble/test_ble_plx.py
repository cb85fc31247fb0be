"""PLX Spot-Check (0x2A5E), Continuous (0x2A5F) and Features (0x2A60)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble.ieee11073 import MderFloat, Special
from drivers.ble.plx import parse_plx_continuous, parse_plx_features, parse_plx_spot_check
from gateway.errors import FieldError, FramingError
from hil.ble import encoders

SFLOATS = st.tuples(st.integers(-2048, 2047), st.integers(-8, 7))


def test_spot_check_golden() -> None:
    data = bytes(
        [
            0x1F,  # flags: timestamp, meas. status, dev+sensor status, PAI, clock not set
            0x62, 0x00,  # SpO2 98 (exponent 0)
            0x48, 0x00,  # PR 72
            0xE8, 0x07, 0x03, 0x01, 0x08, 0x00, 0x00,  # 2024-03-01 08:00:00
            0x00, 0x42,  # measurement status 0x4200: bit9 from storage, bit14 questionable
            0x08, 0x80, 0x00,  # device+sensor status 0x008008: bit3 inadequate, bit15 disconnected
            0xEB, 0xF0,  # PAI 0xF0EB: exponent -1, mantissa 235 -> 23.5 %
        ]
    )  # fmt: skip
    m = parse_plx_spot_check(data)
    assert m.spo2_percent.value == 98.0
    assert m.pulse_rate_bpm.value == 72.0
    assert m.timestamp == datetime(2024, 3, 1, 8)  # noqa: DTZ001
    assert m.device_clock_not_set
    assert m.measurement_status is not None
    assert m.measurement_status.data_from_measurement_storage
    assert m.measurement_status.questionable_measurement_detected
    assert not m.measurement_status.invalid_measurement_detected
    assert m.device_sensor_status is not None
    assert m.device_sensor_status.inadequate_signal_detected
    assert m.device_sensor_status.sensor_disconnected
    assert not m.device_sensor_status.sensor_displaced
    assert m.pulse_amplitude_index_percent is not None
    assert m.pulse_amplitude_index_percent.value == 23.5


def test_spot_check_minimal_with_nan_pr() -> None:
    m = parse_plx_spot_check(bytes([0x00, 0x62, 0x00, 0xFF, 0x07]))  # PR = 0x07FF NaN
    assert m.pulse_rate_bpm.special is Special.NAN
    assert m.timestamp is None and m.measurement_status is None


def test_continuous_golden() -> None:
    data = bytes(
        [
            0x13,  # flags: fast (bit0), slow (bit1), PAI (bit4)
            0x61, 0x00, 0x3C, 0x00,  # normal SpO2 97, PR 60
            0x60, 0x00, 0x3E, 0x00,  # fast SpO2 96, PR 62
            0xFE, 0x07, 0x02, 0x08,  # slow SpO2 +INF, PR -INF
            0x0C, 0xE0,  # PAI 0xE00C: exponent -2, mantissa 12 -> 0.12 %
        ]
    )  # fmt: skip
    m = parse_plx_continuous(data)
    assert (m.spo2_percent.value, m.pulse_rate_bpm.value) == (97.0, 60.0)
    assert m.spo2_fast_percent is not None and m.spo2_fast_percent.value == 96.0
    assert m.pulse_rate_fast_bpm is not None and m.pulse_rate_fast_bpm.value == 62.0
    assert m.spo2_slow_percent is not None
    assert m.spo2_slow_percent.special is Special.POSITIVE_INFINITY
    assert m.pulse_rate_slow_bpm is not None
    assert m.pulse_rate_slow_bpm.special is Special.NEGATIVE_INFINITY
    assert m.pulse_amplitude_index_percent is not None
    assert m.pulse_amplitude_index_percent.value == 0.12
    assert m.measurement_status is None and m.device_sensor_status is None


def test_features_golden() -> None:
    data = bytes(
        [
            0x4F, 0x00,  # features: status support (0,1), storage (2), timestamp (3), PAI (6)
            0xE0, 0xFF,  # measurement status support: bits 5..15
            0xFF, 0xFF, 0x00,  # device and sensor status support: bits 0..15
        ]
    )  # fmt: skip
    f = parse_plx_features(data)
    assert f.spot_check_storage_supported and f.spot_check_timestamp_supported
    assert f.pulse_amplitude_index_supported and not f.spo2pr_fast_supported
    assert f.measurement_status_support is not None
    assert f.measurement_status_support.invalid_measurement_detected
    assert f.device_sensor_status_support is not None
    assert f.device_sensor_status_support.sensor_disconnected


@pytest.mark.parametrize(
    ("parser", "data", "offset"),
    [
        (parse_plx_spot_check, bytes([0x00, 0x62, 0x00, 0x48]), 3),  # PR cut short
        (parse_plx_spot_check, bytes([0x01, 0x62, 0x00, 0x48, 0x00, 0xE8]), 5),  # no timestamp
        (parse_plx_spot_check, bytes([0x00, 0x62, 0x00, 0x48, 0x00, 0x00]), 5),  # trailing
        (parse_plx_continuous, bytes([0x01, 0x62, 0x00, 0x48, 0x00]), 5),  # fast missing
        (parse_plx_continuous, bytes([0x08, 0x62, 0x00, 0x48, 0x00, 1, 2]), 5),  # status short
        (parse_plx_features, bytes([0x01, 0x00]), 2),  # support mask announced, absent
    ],
)
def test_framing_errors(parser: Callable[[bytes], object], data: bytes, offset: int) -> None:
    with pytest.raises(FramingError) as info:
        parser(data)
    assert info.value.offset == offset
    assert info.value.source.startswith("0x2A")


def test_bad_timestamp_is_field_error() -> None:
    data = bytes([0x01, 0x62, 0x00, 0x48, 0x00, 0xE8, 0x07, 0x0D, 0x01, 0, 0, 0])  # month 13
    with pytest.raises(FieldError) as info:
        parse_plx_spot_check(data)
    assert info.value.source == "0x2A5E PLX Spot-Check Measurement"
    assert info.value.offset == 7


@settings(max_examples=200)
@given(
    spo2=SFLOATS,
    pr=SFLOATS,
    stamp=st.none() | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)),  # noqa: DTZ001
    ms=st.none() | st.integers(0, 0xFFFF),
    dss=st.none() | st.integers(0, 0xFFFFFF),
    pai=st.none() | SFLOATS,
    clock_not_set=st.booleans(),
)
def test_spot_check_round_trip(
    spo2: tuple[int, int],
    pr: tuple[int, int],
    stamp: datetime | None,
    ms: int | None,
    dss: int | None,
    pai: tuple[int, int] | None,
    clock_not_set: bool,
) -> None:
    stamp = None if stamp is None else stamp.replace(microsecond=0)
    data = encoders.plx_spot_check(
        spo2,
        pr,
        timestamp=stamp,
        measurement_status=ms,
        device_sensor_status=dss,
        pai=pai,
        clock_not_set=clock_not_set,
    )
    m = parse_plx_spot_check(data)
    assert encoders.sfloat((m.spo2_percent.mantissa, m.spo2_percent.exponent)) == encoders.sfloat(
        spo2
    )
    assert encoders.sfloat(
        (m.pulse_rate_bpm.mantissa, m.pulse_rate_bpm.exponent)
    ) == encoders.sfloat(pr)
    assert m.timestamp == stamp
    assert m.device_clock_not_set == clock_not_set
    assert (m.measurement_status.raw if m.measurement_status else None) == ms
    assert (m.device_sensor_status.raw if m.device_sensor_status else None) == dss
    if ms is not None:
        assert m.measurement_status is not None
        assert m.measurement_status.invalid_measurement_detected == bool(ms & 0x8000)
        assert m.measurement_status.measurement_ongoing == bool(ms & 0x0020)
    if dss is not None:
        assert m.device_sensor_status is not None
        assert m.device_sensor_status.extended_display_update_ongoing == bool(dss & 1)
        assert m.device_sensor_status.sensor_disconnected == bool(dss & 0x8000)
    assert (m.pulse_amplitude_index_percent is None) == (pai is None)


@settings(max_examples=200)
@given(
    spo2=SFLOATS,
    pr=SFLOATS,
    fast=st.none() | st.tuples(SFLOATS, SFLOATS),
    slow=st.none() | st.tuples(SFLOATS, SFLOATS),
    ms=st.none() | st.integers(0, 0xFFFF),
    dss=st.none() | st.integers(0, 0xFFFFFF),
    pai=st.none() | SFLOATS,
)
def test_continuous_round_trip(
    spo2: tuple[int, int],
    pr: tuple[int, int],
    fast: tuple[tuple[int, int], tuple[int, int]] | None,
    slow: tuple[tuple[int, int], tuple[int, int]] | None,
    ms: int | None,
    dss: int | None,
    pai: tuple[int, int] | None,
) -> None:
    data = encoders.plx_continuous(
        spo2, pr, fast=fast, slow=slow, measurement_status=ms, device_sensor_status=dss, pai=pai
    )
    m = parse_plx_continuous(data)

    def word(n: MderFloat | None) -> bytes | None:
        return None if n is None else encoders.sfloat((n.mantissa, n.exponent))

    assert word(m.spo2_percent) == encoders.sfloat(spo2)
    assert word(m.pulse_rate_bpm) == encoders.sfloat(pr)
    assert word(m.spo2_fast_percent) == (None if fast is None else encoders.sfloat(fast[0]))
    assert word(m.pulse_rate_fast_bpm) == (None if fast is None else encoders.sfloat(fast[1]))
    assert word(m.spo2_slow_percent) == (None if slow is None else encoders.sfloat(slow[0]))
    assert word(m.pulse_rate_slow_bpm) == (None if slow is None else encoders.sfloat(slow[1]))
    assert (m.measurement_status.raw if m.measurement_status else None) == ms
    assert (m.device_sensor_status.raw if m.device_sensor_status else None) == dss
    assert word(m.pulse_amplitude_index_percent) == (None if pai is None else encoders.sfloat(pai))
