"""IntelliVue 32-bit FLOAT: goldens from the Philips guide, special values, round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.intellivue.floats import FloatReason, decode_float, decode_float_bytes
from hil.intellivue_sim import encoder


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("00 00 00 3c", 60.0),  # HR 60 as sent by the monitor
        ("fd 00 7d 00", 32.0),  # exponent -3, mantissa 32000 (guide example)
        ("ff 00 01 40", 32.0),  # exponent -1, mantissa 320
        ("01 00 01 40", 3200.0),  # exponent 1, mantissa 320
        ("02 00 00 20", 3200.0),  # exponent 2, mantissa 32
        ("00 ff ff ff", -1.0),  # mantissa is two's complement
        ("ff ff ff 9c", -10.0),  # exponent -1, mantissa -100
        ("fe ff f0 00", -40.96),  # exponent -2, mantissa -4096 (ECG scale lower bound)
        ("00 7f ff fd", 8388605.0),  # largest ordinary mantissa
        ("00 80 00 03", -8388605.0),  # smallest ordinary mantissa
        ("80 00 00 01", 1e-128),  # exponent -128
    ],
)
def test_golden_values(raw, value):
    decoded, reason = decode_float_bytes(bytes.fromhex(raw))
    assert reason is FloatReason.OK
    assert decoded == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (0x007FFFFF, FloatReason.NAN),
        (0x00800000, FloatReason.NRES),
        (0x007FFFFE, FloatReason.POS_INF),
        (0x00800002, FloatReason.NEG_INF),
        (0x00800001, FloatReason.RESERVED),  # reserved by IEEE 11073-20601
        (0x017FFFFF, FloatReason.RESERVED),  # special mantissa under a non-zero exponent
        (0xFF800000, FloatReason.RESERVED),
    ],
)
def test_special_values_have_no_number(raw, reason):
    assert decode_float(raw) == (None, reason)


def test_negative_exponents_divide_exactly():
    # 3 * 10**-1 would give 0.30000000000000004; dividing gives the nearest double.
    assert decode_float(0xFF000003) == (0.3, FloatReason.OK)


@given(st.integers(-8388605, 8388605), st.integers(-20, 20))
@settings(max_examples=300)
def test_parts_round_trip(mantissa, exponent):
    value, reason = decode_float(encoder.float_parts(mantissa, exponent))
    assert reason is FloatReason.OK
    assert value == pytest.approx(mantissa * 10.0**exponent, rel=1e-12, abs=1e-300)


@given(
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False).filter(
        lambda v: v == 0 or abs(v) > 1e-100  # the exponent stops at -128
    )
)
@settings(max_examples=300)
def test_simulator_floats_round_trip_to_seven_digits(value):
    decoded, reason = decode_float(encoder.float_bits(value))
    assert reason is FloatReason.OK
    assert decoded == pytest.approx(value, rel=1e-6)


@pytest.mark.parametrize(
    ("special", "reason"),
    [
        ("nan", FloatReason.NAN),
        ("nres", FloatReason.NRES),
        ("+inf", FloatReason.POS_INF),
        ("-inf", FloatReason.NEG_INF),
        (math.nan, FloatReason.NAN),
        (math.inf, FloatReason.POS_INF),
        (-math.inf, FloatReason.NEG_INF),
    ],
)
def test_simulator_specials_decode(special, reason):
    assert decode_float(encoder.float_bits(special)) == (None, reason)


@given(st.integers(0, 0xFFFFFFFF))
@settings(max_examples=500)
def test_any_bit_pattern_decodes(raw):
    value, reason = decode_float(raw)
    assert (value is None) == (reason is not FloatReason.OK)
