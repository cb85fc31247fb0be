# ruff: noqa: PT009, PT027 - unittest asserts: these files also run under MicroPython
"""config.json loading (portable)."""

import unittest

from fw_config import FIRMWARE_VERSION, load_config, scenario_time


class ConfigTest(unittest.TestCase):
    def test_defaults(self):
        c = load_config({"mode": "ble"})
        self.assertEqual(c["profile"], "wearable")
        self.assertEqual(c["epoch"], (2026, 1, 1, 8, 0, 0))
        self.assertEqual(c["periods"]["bp"], 60.0)
        self.assertEqual(c["device"]["firmware"], FIRMWARE_VERSION)
        self.assertEqual(load_config({"mode": "uart"})["profile"], "nonin8")

    def test_overrides(self):
        c = load_config(
            {
                "mode": "uart",
                "profile": "masimo",
                "speed": 10,
                "periods": {"hr": 0.5},
                "uart": {"id": 2, "tx": 17, "rx": 16},
                "device": {"serial": "X1"},
            }
        )
        self.assertEqual(c["speed"], 10.0)
        self.assertEqual(c["periods"]["hr"], 0.5)
        self.assertEqual(c["uart"], {"id": 2, "baudrate": 9600, "tx": 17, "rx": 16})
        self.assertEqual(c["device"]["serial"], "X1")

    def test_errors_name_the_key(self):
        cases = [
            ({}, "config.mode"),
            ({"mode": "ble", "profile": "nonin8"}, "config.profile"),
            ({"mode": "ble", "colour": 1}, "config.colour"),
            ({"mode": "ble", "speed": 0}, "config.speed"),
            ({"mode": "ble", "epoch": [2026, 13, 1, 0, 0, 0]}, "config.epoch"),
            ({"mode": "ble", "periods": {"ecg": 1}}, "config.periods.ecg"),
            ({"mode": "uart", "uart": {"tx": -1}}, "config.uart.tx"),
            ({"mode": "ble", "name": "x" * 21}, "config.name"),
        ]
        for raw, path in cases:
            with self.assertRaises(ValueError) as ctx:
                load_config(raw)
            self.assertTrue(str(ctx.exception).startswith(path), str(ctx.exception))

    def test_scenario_time(self):
        self.assertEqual(scenario_time(2500, 1.0), 2.5)
        self.assertEqual(scenario_time(2500, 4.0), 10.0)


if __name__ == "__main__":
    unittest.main()
