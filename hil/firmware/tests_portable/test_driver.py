# ruff: noqa: PT009 - unittest asserts: these files also run under MicroPython
"""Scenario drivers: what the wearable and the UART oximeter send, tick by tick."""

import unittest

from engine import Scenario
from fw_driver import BleDriver, UartDriver, add_seconds, damage


def scenario(events=(), vitals=None):
    v = vitals or {
        "heart_rate": 70.0,
        "spo2": 97.0,
        "systolic": 120.0,
        "diastolic": 80.0,
        "temperature": 37.0,
        "battery": 90.0,
    }
    return Scenario(
        {
            "scenario": {"name": "t", "duration_s": 300.0, "seed": 1},
            "vitals": v,
            "event": list(events),
        }
    )


def run(driver, t_end, step=1.0):
    out = []
    t = 0.0
    while t <= t_end:
        out.append((t, driver.tick(t)))
        t += step
    return out


class ClockTest(unittest.TestCase):
    def test_add_seconds(self):
        self.assertEqual(add_seconds((2026, 1, 1, 8, 0, 0), 59.9), (2026, 1, 1, 8, 0, 59))
        self.assertEqual(add_seconds((2026, 12, 31, 23, 59, 59), 1), (2027, 1, 1, 0, 0, 0))
        self.assertEqual(add_seconds((2024, 2, 28, 12, 0, 0), 86400), (2024, 2, 29, 12, 0, 0))
        self.assertEqual(add_seconds((2023, 2, 28, 12, 0, 0), 86400), (2023, 3, 1, 12, 0, 0))


class BleDriverTest(unittest.TestCase):
    def test_cadence(self):
        d = BleDriver(scenario(), bp_period_s=60.0, temp_period_s=10.0)
        ticks = run(d, 59.0)
        chans = [c for _, outs in ticks for c, _, _ in outs]
        self.assertEqual(chans.count("hr"), 60)
        self.assertEqual(chans.count("plx"), 60)
        self.assertEqual(chans.count("temp"), 6)
        self.assertEqual(chans.count("bp"), 1)
        self.assertEqual(chans.count("battery"), 1)  # sent again only when it changes
        self.assertEqual(ticks[0][1][0][2], 1)  # the first BP record has sequence number 1

    def test_link_drop_silences_but_records_are_stored(self):
        d = BleDriver(
            scenario([{"at_s": 50.0, "kind": "link_drop", "duration_s": 30.0}]), bp_period_s=20.0
        )
        ticks = run(d, 90.0)
        during = [outs for t, outs in ticks if 50.0 <= t < 80.0]
        self.assertTrue(all(outs == [] for outs in during))
        self.assertEqual(d.store.sequence_numbers(), [1, 2, 3, 4, 5])
        self.assertFalse(d.link_up(60.0))
        self.assertTrue(d.link_up(80.0))

    def test_stall_keeps_link(self):
        d = BleDriver(
            scenario([{"at_s": 5.0, "kind": "stall", "duration_s": 5.0, "target": "ble"}])
        )
        self.assertTrue(d.link_up(6.0))
        self.assertFalse(d.sending(6.0))
        self.assertTrue(d.sending(10.0))

    def test_sensor_off(self):
        d = BleDriver(scenario([{"at_s": 0.0, "kind": "sensor_off", "duration_s": 100.0}]))
        outs = d.tick(0.0)
        chans = [c for c, _, _ in outs]
        self.assertFalse("hr" in chans)
        self.assertFalse("bp" in chans)
        plx = next(p for c, p, _ in outs if c == "plx")
        self.assertEqual(plx[1:5], b"\xff\x07\xff\x07")  # NaN SpO2 and PR

    def test_corrupt_and_truncate_count(self):
        ev = [
            {"at_s": 2.0, "kind": "corrupt", "count": 1},
            {"at_s": 4.0, "kind": "truncate", "count": 2},
        ]
        d = BleDriver(scenario(ev, {"heart_rate": 70.0}))
        hr = [outs[0][1] for _, outs in run(d, 7.0)]
        good = b"\x06\x46"
        self.assertEqual(hr, [good, good, b"\xf9\x46", good, b"\x06", b"\x06", good, good])

    def test_racp(self):
        d = BleDriver(scenario(), bp_period_s=10.0)
        run(d, 30.0)
        records, final = d.racp(b"\x01\x03\x01\x03\x00")
        self.assertEqual([seq for seq, _ in records], [3, 4])
        self.assertEqual(final, b"\x06\x00\x01\x01")


class UartDriverTest(unittest.TestCase):
    def test_rates(self):
        self.assertEqual(len(UartDriver(scenario(), "nonin8").tick(9.5)), 10 * 4)
        self.assertEqual(len(UartDriver(scenario(), "nonin7").tick(2.9)), 9 * 125)
        lines = UartDriver(scenario(), "masimo").tick(2.0).split(b"\r\n")
        self.assertEqual(len(lines), 4)  # 3 lines and the empty tail

    def test_ticks_add_up(self):
        a = UartDriver(scenario(), "nonin7")
        whole = a.tick(3.0)
        b = UartDriver(scenario(), "nonin7")
        parts = b.tick(0.5) + b.tick(1.2) + b.tick(3.0)
        self.assertEqual(whole, parts)

    def test_link_drop_and_sensor_off(self):
        ev = [
            {"at_s": 2.0, "kind": "link_drop", "duration_s": 2.0, "target": "serial"},
            {"at_s": 5.0, "kind": "sensor_off", "duration_s": 1.0},
        ]
        d = UartDriver(scenario(ev), "nonin8")
        data = d.tick(6.0)
        self.assertEqual(len(data), 5 * 4)  # seconds 2 and 3 are silent
        self.assertEqual(data[12:16], b"\xc3\x7f\x7f\x08")  # t=5: SNSD, no values, sensor fault

    def test_noisy_line_is_deterministic(self):
        ev = [{"at_s": 0.0, "kind": "noisy_line", "duration_s": 100.0, "error_rate": 0.2}]
        clean = UartDriver(scenario(), "masimo").tick(20.0)
        noisy = UartDriver(scenario(ev), "masimo").tick(20.0)
        again = UartDriver(scenario(ev), "masimo").tick(20.0)
        self.assertEqual(noisy, again)
        self.assertEqual(len(noisy), len(clean))
        flipped = sum(1 for k in range(len(clean)) if clean[k] != noisy[k])
        self.assertTrue(0.1 * len(clean) < flipped < 0.3 * len(clean), flipped)

    def test_damage(self):
        self.assertEqual(damage(b"\x01\x02\x03\x04\x05", "corrupt", True), b"\x01\x02\xfc\x04\x05")
        self.assertEqual(damage(b"abcd\r\n", "truncate", True), b"ab\r\n")
        self.assertEqual(damage(b"\x01\x02\x03\x04", "truncate"), b"\x01\x02")


if __name__ == "__main__":
    unittest.main()
