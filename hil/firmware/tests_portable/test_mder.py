# ruff: noqa: PT009, PT027 - unittest asserts: these files also run under MicroPython
"""SFLOAT/FLOAT golden vectors written by hand from IEEE 11073-20601 (portable unittest)."""

import unittest

from fw_mder import (
    FLOAT_NAN,
    FLOAT_NEG_INF,
    FLOAT_POS_INF,
    SFLOAT_NAN,
    SFLOAT_NEG_INF,
    SFLOAT_POS_INF,
    float32,
    float_bytes,
    sfloat,
    sfloat_bytes,
)


class SfloatTest(unittest.TestCase):
    def test_integer_at_exponent_zero(self):
        # 98 -> exponent 0 (nibble 0), mantissa 98 = 0x062
        self.assertEqual(sfloat(98), 0x0062)

    def test_one_decimal(self):
        # 36.8 at 10**-1: mantissa 368 = 0x170, exponent -1 = nibble 0xF
        self.assertEqual(sfloat(36.8, -1), 0xF170)
        self.assertEqual(sfloat_bytes(36.8, -1), b"\x70\xf1")

    def test_negative_mantissa(self):
        # -36.4: mantissa -364 = 0x1000 - 364 = 0xE94, exponent -1 -> bytes 94 FE
        self.assertEqual(sfloat_bytes(-36.4, -1), b"\x94\xfe")

    def test_none_and_nan_are_nan(self):
        self.assertEqual(sfloat(None), SFLOAT_NAN)
        self.assertEqual(sfloat(float("nan")), SFLOAT_NAN)
        self.assertEqual(sfloat_bytes(None), b"\xff\x07")

    def test_too_precise_raises_exponent(self):
        # 300.5 at 10**-1 needs mantissa 3005 > 2047: exponent 0 gives 301 (half up)
        self.assertEqual(sfloat(300.5, -1), 301)
        # 5000 does not fit at exponent 0: exponent 1, mantissa 500 = 0x1F4
        self.assertEqual(sfloat(5000), 0x11F4)

    def test_never_a_special_code_for_numbers(self):
        # 2046 at exponent 0 would be +INF (0x07FE): the encoder moves to exponent 1
        self.assertEqual(sfloat(2046), 0x10CD)  # 205 * 10
        self.assertEqual(sfloat(-2047), 0x1F33)  # -205 * 10: mantissa 0x1000 - 205 = 0xF33

    def test_infinities(self):
        self.assertEqual(sfloat(1e12), SFLOAT_POS_INF)
        self.assertEqual(sfloat(-1e12), SFLOAT_NEG_INF)
        self.assertEqual(sfloat(float("inf")), SFLOAT_POS_INF)

    def test_bad_exponent(self):
        with self.assertRaises(ValueError):
            sfloat(1.0, 8)


class FloatTest(unittest.TestCase):
    def test_temperature(self):
        # 37.60 at 10**-2: mantissa 3760 = 0x000EB0, exponent -2 = 0xFE -> bytes B0 0E 00 FE
        self.assertEqual(float_bytes(37.6, -2), b"\xb0\x0e\x00\xfe")

    def test_negative(self):
        # -1.5 at 10**-1: mantissa -15 = 0xFFFFF1 (24 bit), exponent 0xFF
        self.assertEqual(float32(-1.5, -1), 0xFFFFFFF1)

    def test_specials(self):
        self.assertEqual(float32(None), FLOAT_NAN)
        self.assertEqual(float_bytes(None), b"\xff\xff\x7f\x00")
        self.assertEqual(float32(float("inf")), FLOAT_POS_INF)
        self.assertEqual(float32(float("-inf")), FLOAT_NEG_INF)


if __name__ == "__main__":
    unittest.main()
