"""IEEE 11073-20601 SFLOAT/FLOAT: golden words, special values, round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble.ieee11073 import MderFloat, Special, decode_float, decode_sfloat
from gateway.model import Quality
from hil.ble import encoders


@pytest.mark.parametrize(
    ("raw", "mantissa", "exponent", "value"),
    [
        (0xF16C, 364, -1, 36.4),  # bytes 6C F1: exponent 0xF = -1, mantissa 0x16C = 364
        (0xFE94, -364, -1, -36.4),  # mantissa 0xE94 = -364 (12-bit two's complement)
        (0x0078, 120, 0, 120.0),  # exponent 0, mantissa 120
        (0x2001, 1, 2, 100.0),  # exponent +2 (not biased), mantissa 1
        (0x8001, 1, -8, 1e-8),  # exponent nibble 0x8 means -8, not a bias of 8
        (0x77FD, 2045, 7, 2.045e10),  # largest ordinary mantissa, largest exponent
        (0x0000, 0, 0, 0.0),
        (0x17FF, 2047, 1, 20470.0),  # 2047 is only NaN with exponent 0: the word decides
    ],
)
def test_sfloat_golden(raw: int, mantissa: int, exponent: int, value: float) -> None:
    number = decode_sfloat(raw)
    assert (number.mantissa, number.exponent, number.special) == (mantissa, exponent, None)
    assert number.value == value
    assert number.quality == Quality(0)


@pytest.mark.parametrize(
    ("raw", "special", "quality"),
    [
        (0x07FF, Special.NAN, Quality.INVALID),
        (0x0800, Special.NRES, Quality.UNAVAILABLE),
        (0x07FE, Special.POSITIVE_INFINITY, Quality.OVER_RANGE),
        (0x0802, Special.NEGATIVE_INFINITY, Quality.UNDER_RANGE),
        (0x0801, Special.RESERVED, Quality.INVALID),
    ],
)
def test_sfloat_special_values_are_never_numbers(
    raw: int, special: Special, quality: Quality
) -> None:
    number = decode_sfloat(raw)
    assert number.special is special
    assert number.value is None
    assert number.to_decimal() is None
    assert number.scaled(5) is None
    assert number.as_float() != number.as_float()  # NaN
    assert number.quality == quality


@pytest.mark.parametrize(
    ("raw", "special"),
    [
        (0x007FFFFF, Special.NAN),
        (0x00800000, Special.NRES),
        (0x007FFFFE, Special.POSITIVE_INFINITY),
        (0x00800002, Special.NEGATIVE_INFINITY),
        (0x00800001, Special.RESERVED),
    ],
)
def test_float_special_values(raw: int, special: Special) -> None:
    number = decode_float(raw)
    assert number.special is special
    assert number.value is None
    assert number.quality == special.quality


def test_float_golden() -> None:
    # bytes B0 0E 00 FE -> word 0xFE000EB0: exponent 0xFE = -2, mantissa 0x000EB0 = 3760
    number = decode_float(int.from_bytes(bytes.fromhex("B00E00FE"), "little"))
    assert (number.mantissa, number.exponent) == (3760, -2)
    assert number.value == 37.6
    assert number.to_decimal() == Decimal("37.60")
    # mantissa 0xFFFFFF = -1, exponent 0x01 -> -10
    assert decode_float(0x01FFFFFF).value == -10.0


def test_scaled_is_exact_decimal_arithmetic() -> None:
    # 95 mg/dL sent as 9.5e-4 kg/L: mantissa 95, exponent -5 (word 0xB05F)
    glucose = decode_sfloat(0xB05F)
    assert glucose.scaled(5) == 95.0
    assert MderFloat(364, -1).scaled(2) == 3640.0
    assert MderFloat(1, -3).scaled(1) == 0.01


@settings(max_examples=300)
@given(mantissa=st.integers(-2048, 2047), exponent=st.integers(-8, 7))
def test_sfloat_round_trip(mantissa: int, exponent: int) -> None:
    raw = int.from_bytes(encoders.sfloat((mantissa, exponent)), "little")
    number = decode_sfloat(raw)
    specials = {v: k for k, v in encoders.SFLOAT_SPECIAL.items()}
    if raw in specials:
        assert number.special is not None
        assert number.special.value == specials[raw]
    else:
        assert (number.mantissa, number.exponent, number.special) == (mantissa, exponent, None)
        assert number.to_decimal() == Decimal(mantissa).scaleb(exponent)


@settings(max_examples=300)
@given(mantissa=st.integers(-(2**23), 2**23 - 1), exponent=st.integers(-128, 127))
def test_float_round_trip(mantissa: int, exponent: int) -> None:
    raw = int.from_bytes(encoders.float32((mantissa, exponent)), "little")
    number = decode_float(raw)
    specials = {v: k for k, v in encoders.FLOAT_SPECIAL.items()}
    if raw in specials:
        assert number.special is not None
        assert number.special.value == specials[raw]
    else:
        assert (number.mantissa, number.exponent, number.special) == (mantissa, exponent, None)


@settings(max_examples=200)
@given(st.floats(min_value=-2000, max_value=2000, allow_nan=False).map(lambda v: round(v, 1)))
def test_encoder_float_choice_decodes_close(value: float) -> None:
    number = decode_sfloat(int.from_bytes(encoders.sfloat(value), "little"))
    assert number.value is not None
    # within half a step of the chosen exponent, and no finer exponent would have fitted
    assert abs(number.value - value) <= 0.5 * 10.0**number.exponent + 1e-9
    finer = number.exponent - 1
    assert finer < -8 or abs(round(value / 10.0**finer)) > 2045
