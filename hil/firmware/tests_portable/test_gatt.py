# ruff: noqa: PT009, PT027 - unittest asserts: these files also run under MicroPython
"""SIG characteristic encoders: golden bytes written by hand from the service specs."""

import unittest

from fw_gatt import (
    CONTACT_DETECTED,
    PLX_DSS_SENSOR_DISCONNECTED,
    PLX_FEAT_DEVICE_SENSOR_STATUS,
    PLX_FEAT_MEASUREMENT_STATUS,
    PLX_MS_UNAVAILABLE,
    battery_level,
    blood_pressure_feature,
    blood_pressure_measurement,
    date_time,
    heart_rate_measurement,
    plx_continuous,
    plx_features,
    temperature_measurement,
    utf8_string,
)

STAMP = (2026, 1, 2, 3, 4, 5)
# year 2026 = 0x07EA little-endian, month 1, day 2, 03:04:05
STAMP_BYTES = b"\xea\x07\x01\x02\x03\x04\x05"


class HeartRateTest(unittest.TestCase):
    def test_uint8_with_contact(self):
        # flags: bit0 0 (uint8), bits1-2 = 3 (contact detected) -> 0x06; HR 72 = 0x48
        self.assertEqual(heart_rate_measurement(72, CONTACT_DETECTED), b"\x06\x48")

    def test_uint16_energy_and_rr(self):
        # flags 0x01 (uint16) | 0x08 (EE) | 0x10 (RR) = 0x19; HR 300 = 2C 01; EE 1000 = E8 03;
        # RR 820 = 34 03
        self.assertEqual(
            heart_rate_measurement(300, 0, 1000, [820]), b"\x19\x2c\x01\xe8\x03\x34\x03"
        )

    def test_energy_saturates(self):
        self.assertEqual(heart_rate_measurement(60, 0, 70000), b"\x08\x3c\xff\xff")

    def test_out_of_range(self):
        with self.assertRaises(ValueError):
            heart_rate_measurement(-1)


class PlxTest(unittest.TestCase):
    def test_plain(self):
        # flags 0; SpO2 97 = 61 00; PR 72 = 48 00
        self.assertEqual(plx_continuous(97, 72), b"\x00\x61\x00\x48\x00")

    def test_sensor_off(self):
        # flags 0x04 | 0x08; NaN NaN; status 0x2000 = 00 20; DSS 0x008000 = 00 80 00
        self.assertEqual(
            plx_continuous(None, None, PLX_MS_UNAVAILABLE, PLX_DSS_SENSOR_DISCONNECTED),
            b"\x0c\xff\x07\xff\x07\x00\x20\x00\x80\x00",
        )

    def test_pai(self):
        # flags 0x10; PAI 2.5 % at 10**-2: mantissa 250 = 0x0FA, exponent -2 -> 0xE0FA
        self.assertEqual(plx_continuous(98, 60, None, None, 2.5), b"\x10\x62\x00\x3c\x00\xfa\xe0")

    def test_features(self):
        feats = PLX_FEAT_MEASUREMENT_STATUS | PLX_FEAT_DEVICE_SENSOR_STATUS
        # 03 00, then support masks u16 A0 20 and u24 00 80 00
        self.assertEqual(plx_features(feats, 0x20A0, 0x008000), b"\x03\x00\xa0\x20\x00\x80\x00")
        self.assertEqual(plx_features(0), b"\x00\x00")


class ThermometerTest(unittest.TestCase):
    def test_celsius_with_stamp_and_type(self):
        # flags 0x02 | 0x04 = 0x06; 37.60 = B0 0E 00 FE; stamp; type 2 (body)
        self.assertEqual(
            temperature_measurement(37.6, False, STAMP, 2),
            b"\x06\xb0\x0e\x00\xfe" + STAMP_BYTES + b"\x02",
        )

    def test_fahrenheit_plain(self):
        # flags 0x01; 98.6 at 10**-1: mantissa 986 = 0x0003DA, exponent 0xFF
        self.assertEqual(
            temperature_measurement(98.6, True, None, None, -1), b"\x01\xda\x03\x00\xff"
        )


class BloodPressureTest(unittest.TestCase):
    def test_full(self):
        # flags 0x02 (stamp) | 0x04 (pulse) | 0x08 (user) | 0x10 (status) = 0x1E
        # 120 = 78 00, 80 = 50 00, 93 = 5D 00, stamp, pulse 70 = 46 00, user 1, status 0x0004
        self.assertEqual(
            blood_pressure_measurement(120, 80, 93, STAMP, 70, 1, 0x0004),
            b"\x1e\x78\x00\x50\x00\x5d\x00" + STAMP_BYTES + b"\x46\x00\x01\x04\x00",
        )

    def test_minimal_kpa(self):
        # flags 0x01 (kPa); 16.0 kPa at 10**-1 = 160 = 0xF0A0, 10.7 = 107 = 0xF06B, 12.4 = 0xF07C
        self.assertEqual(
            blood_pressure_measurement(16.0, 10.7, 12.4, kpa=True),
            b"\x01\xa0\xf0\x6b\xf0\x7c\xf0",
        )

    def test_feature(self):
        self.assertEqual(blood_pressure_feature(0x0105), b"\x05\x01")


class SimpleTest(unittest.TestCase):
    def test_battery(self):
        self.assertEqual(battery_level(87.4), b"\x57")
        self.assertEqual(battery_level(150), b"\x64")
        self.assertEqual(battery_level(-3), b"\x00")

    def test_strings_and_date(self):
        self.assertEqual(utf8_string("Acme"), b"Acme")
        self.assertEqual(date_time(STAMP), STAMP_BYTES)


if __name__ == "__main__":
    unittest.main()
