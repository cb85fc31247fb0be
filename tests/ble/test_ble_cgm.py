"""CGM Measurement (0x2AA7, several records, E2E-CRC) and CGM Feature (0x2AA8)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble.cgm import (
    crc16_mcrf4xx,
    infer_crc_present,
    parse_cgm_feature,
    parse_cgm_measurement,
)
from drivers.ble.glucose import GlucoseType, SampleLocation
from gateway.errors import ChecksumError, FieldError, FramingError
from hil.ble import encoders

SFLOATS = st.tuples(st.integers(-2048, 2047), st.integers(-8, 7))


def test_crc_check_value() -> None:
    # CRC-16/MCRF4XX catalogue check value over ASCII "123456789"
    assert crc16_mcrf4xx(b"123456789") == 0x6F91
    assert encoders.crc16_mcrf4xx(b"123456789") == 0x6F91


def test_two_records_without_crc() -> None:
    data = bytes(
        [
            # record 1
            0x06,  # size 6
            0x00,  # flags: nothing optional
            0x78, 0x00,  # glucose 120 mg/dL
            0x05, 0x00,  # time offset 5 min
            # record 2
            0x0D,  # size 13 = 6 + 3 octets + trend 2 + quality 2
            0xE3,  # flags: trend (0), quality (1), octets bit5, bit6, bit7
            0x7D, 0x00,  # glucose 125
            0x0A, 0x00,  # time offset 10 min
            0x02,  # octet for flag bit5 (status group): device battery low (bit1)
            0x08,  # octet for flag bit6 (cal/temp): calibration required (bit11)
            0x80,  # octet for flag bit7 (warning): higher than device can process (bit23)
            0x0A, 0xF0,  # trend 0xF00A: exponent -1, mantissa 10 -> 1.0 (mg/dL)/min
            0x5F, 0x00,  # quality 95 %
        ]
    )  # fmt: skip
    m = parse_cgm_measurement(data, crc_present=False)
    assert len(m.records) == 2
    first, second = m.records
    assert first.glucose_mg_dl.value == 120 and first.time_offset_min == 5
    assert first.sensor_status is None and first.trend_mg_dl_per_min is None
    assert second.glucose_mg_dl.value == 125 and second.time_offset_min == 10
    s = second.sensor_status
    assert s is not None
    assert s.raw == 0x800802
    assert s.device_battery_low and s.calibration_required
    assert s.result_higher_than_device_can_process
    assert not s.session_stopped and not s.result_lower_than_hypo
    assert second.trend_mg_dl_per_min is not None and second.trend_mg_dl_per_min.value == 1.0
    assert second.quality_percent is not None and second.quality_percent.value == 95


def test_record_with_valid_crc() -> None:
    body = bytes(
        [
            0x08,  # size 8 = 6 + CRC
            0x00,  # flags
            0x0C, 0x10,  # glucose 0x100C: exponent 1, mantissa 12 -> 120 mg/dL
            0x06, 0x00,  # time offset 6
        ]
    )  # fmt: skip
    data = body + bytes([0x59, 0x6F])  # CRC-16/MCRF4XX of the 6 bytes above = 0x6F59
    m = parse_cgm_measurement(data, crc_present=True)
    assert m.records[0].glucose_mg_dl.value == 120
    assert m.records[0].e2e_crc == 0x6F59


def test_bad_crc_is_rejected() -> None:
    # reference vector 08000c100600586f: CRC 0x6F58, one off from the real 0x6F59
    data = bytes.fromhex("08000c100600586f")
    with pytest.raises(ChecksumError) as info:
        parse_cgm_measurement(data, crc_present=True)
    assert info.value.offset == 6
    assert info.value.source == "0x2AA7 CGM Measurement"


@pytest.mark.parametrize(
    ("data", "crc", "offset"),
    [
        (b"", False, 0),  # empty notification
        (bytes([0x05, 0x00, 0x78, 0x00, 0x05]), False, 0),  # size 5 < 6
        (bytes([0x07, 0x00, 0x78, 0x00, 0x05, 0x00]), False, 0),  # size runs past the end
        (bytes([0x07, 0x00, 0x78, 0x00, 0x05, 0x00, 0x00]), False, 0),  # size 7 but flags say 6
        (bytes([0x08, 0x00, 0x0C, 0x10, 0x06, 0x00, 0x59, 0x6F]), False, 0),  # CRC not expected
        (bytes([0x06, 0x00, 0x78, 0x00, 0x05, 0x00]), True, 0),  # CRC expected, absent
        (bytes([0x06, 0x00, 0x78, 0x00, 0x05, 0x00, 0x06]), False, 6),  # second record cut
    ],
)
def test_framing_errors(data: bytes, crc: bool, offset: int) -> None:
    with pytest.raises(FramingError) as info:
        parse_cgm_measurement(data, crc_present=crc)
    assert info.value.offset == offset


def test_infer_crc_present() -> None:
    assert infer_crc_present(bytes.fromhex("08000c100600596f"))
    assert not infer_crc_present(bytes([0x06, 0x00, 0x78, 0x00, 0x05, 0x00]))
    assert not infer_crc_present(b"")


def test_feature_with_crc() -> None:
    body = bytes(
        [
            0x00, 0x10, 0x01,  # features 0x011000: E2E-CRC (bit12), quality supported (bit16)
            0x59,  # low nibble type 9 (ISF), high nibble location 5 (subcutaneous tissue)
        ]
    )  # fmt: skip
    data = body + crc16_mcrf4xx(body).to_bytes(2, "little")
    f = parse_cgm_feature(data)
    assert f.e2e_crc_supported and f.quality_supported and not f.calibration_supported
    assert f.glucose_type is GlucoseType.INTERSTITIAL_FLUID
    assert f.sample_location is SampleLocation.SUBCUTANEOUS_TISSUE
    bad = data[:4] + bytes([data[4] ^ 1, data[5]])
    with pytest.raises(ChecksumError):
        parse_cgm_feature(bad)


def test_feature_without_crc_support_ignores_crc() -> None:
    f = parse_cgm_feature(bytes([0x01, 0x00, 0x00, 0x59, 0xFF, 0xFF]))
    assert f.calibration_supported and not f.e2e_crc_supported
    with pytest.raises(FieldError):
        parse_cgm_feature(bytes([0x01, 0x00, 0x00, 0x5B, 0xFF, 0xFF]))  # type 11 reserved
    with pytest.raises(FieldError):
        parse_cgm_feature(bytes([0x01, 0x00, 0x00, 0x69, 0xFF, 0xFF]))  # location 6 reserved
    with pytest.raises(FramingError):
        parse_cgm_feature(bytes([0x01, 0x00, 0x00, 0x59, 0xFF]))


RECORDS = st.lists(
    st.tuples(
        SFLOATS,
        st.integers(0, 0xFFFF),
        st.none() | st.integers(0, 255),
        st.none() | st.integers(0, 255),
        st.none() | st.integers(0, 255),
        st.none() | SFLOATS,
        st.none() | SFLOATS,
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=200)
@given(records=RECORDS, crc=st.booleans())
def test_round_trip(
    records: list[
        tuple[
            tuple[int, int],
            int,
            int | None,
            int | None,
            int | None,
            tuple[int, int] | None,
            tuple[int, int] | None,
        ]
    ],
    crc: bool,
) -> None:
    data = encoders.cgm_measurement(
        [
            encoders.cgm_record(
                g,
                t,
                status_octet=s,
                cal_temp_octet=c,
                warning_octet=w,
                trend=tr,
                quality=q,
                crc=crc,
            )
            for g, t, s, c, w, tr, q in records
        ]
    )
    assert infer_crc_present(data) == crc
    m = parse_cgm_measurement(data, crc_present=crc)
    assert len(m.records) == len(records)
    for rec, (g, t, s, c, w, tr, q) in zip(m.records, records, strict=True):
        word = encoders.sfloat((rec.glucose_mg_dl.mantissa, rec.glucose_mg_dl.exponent))
        assert word == encoders.sfloat(g)
        assert rec.time_offset_min == t
        if s is None and c is None and w is None:
            assert rec.sensor_status is None
        else:
            assert rec.sensor_status is not None
            assert rec.sensor_status.raw == (s or 0) | (c or 0) << 8 | (w or 0) << 16
            assert rec.sensor_status.session_stopped == bool((s or 0) & 1)
            assert rec.sensor_status.warning_octet_present == (w is not None)
        assert (rec.trend_mg_dl_per_min is None) == (tr is None)
        assert (rec.quality_percent is None) == (q is None)
        assert (rec.e2e_crc is not None) == crc
