# ruff: noqa: PT009, PT027 - unittest asserts: these files also run under MicroPython
"""Scenario engine semantics (portable: runs under CPython and MicroPython)."""

import unittest

from engine import Scenario, floor_int, mix32, name_hash, unit_normal


def spec(**extra):
    s = {
        "scenario": {"name": "desat", "duration_s": 600.0, "seed": 7},
        "vitals": {"heart_rate": 78.0, "spo2": 97.0, "battery": 100.0, "systolic": 120},
    }
    for key in extra:
        s[key] = extra[key]
    return s


def close(a, b, tol=1e-3):
    return a is not None and b is not None and abs(a - b) <= tol


class HashTest(unittest.TestCase):
    def test_fnv1a_published_vectors(self):
        self.assertEqual(name_hash(""), 0x811C9DC5)
        self.assertEqual(name_hash("a"), 0xE40C292C)
        self.assertEqual(name_hash("foobar"), 0xBF9CF968)

    def test_mix_is_pinned(self):
        # pinned so that every interpreter is checked to compute the same 32-bit mix
        self.assertEqual(mix32(0), 0)
        self.assertEqual(mix32(1), 1753845952)
        self.assertEqual(mix32(0xFFFFFFFF), 1734902346)

    def test_unit_normal_pinned_and_deterministic(self):
        self.assertEqual(unit_normal(7, "heart_rate", 0), -0.212860107421875)
        self.assertEqual(unit_normal(7, "heart_rate", -1), 0.298797607421875)
        self.assertEqual(unit_normal(3, "spo2", 12), unit_normal(3, "spo2", 12))
        self.assertNotEqual(unit_normal(3, "spo2", 12), unit_normal(4, "spo2", 12))

    def test_unit_normal_moments(self):
        xs = [unit_normal(11, "spo2", k) for k in range(2000)]
        mean = sum(xs) / len(xs)
        var = sum((x - mean) ** 2 for x in xs) / len(xs)
        self.assertTrue(abs(mean) < 0.1, mean)
        self.assertTrue(0.85 < var < 1.15, var)
        self.assertTrue(max(abs(x) for x in xs) <= 6.0)

    def test_floor_int(self):
        self.assertEqual([floor_int(x) for x in (2.7, 2.0, -0.5, -2.0)], [2, 2, -1, -2])


class ValueTest(unittest.TestCase):
    def test_baseline_and_absent(self):
        s = Scenario(spec())
        self.assertEqual(s.value("spo2", 10.0), 97.0)
        self.assertIsNone(s.value("temperature", 10.0))
        self.assertEqual(sorted(s.vitals(0.0)), ["battery", "heart_rate", "spo2", "systolic"])
        self.assertEqual(s.produced, ["heart_rate", "spo2", "systolic", "battery"])

    def test_ramp_and_hold(self):
        s = Scenario(spec(ramp=[{"vital": "spo2", "start_s": 60.0, "end_s": 180.0, "to": 84.0}]))
        self.assertEqual(s.value("spo2", 59.9), 97.0)
        self.assertTrue(close(s.value("spo2", 120.0), 90.5))
        self.assertEqual(s.value("spo2", 180.0), 84.0)
        self.assertEqual(s.value("spo2", 500.0), 84.0)

    def test_second_ramp_starts_from_held_value(self):
        ramps = [
            {"vital": "spo2", "start_s": 300.0, "end_s": 400.0, "to": 95.0},
            {"vital": "spo2", "start_s": 60.0, "end_s": 180.0, "to": 85.0},
        ]
        s = Scenario(spec(ramp=ramps))
        self.assertEqual(s.value("spo2", 250.0), 85.0)
        self.assertTrue(close(s.value("spo2", 350.0), 90.0))
        self.assertEqual(s.value("spo2", 401.0), 95.0)

    def test_step_ramp(self):
        s = Scenario(spec(ramp=[{"vital": "heart_rate", "start_s": 10, "end_s": 10, "to": 130}]))
        self.assertEqual(s.value("heart_rate", 9.99), 78.0)
        self.assertEqual(s.value("heart_rate", 10.0), 130.0)

    def test_clamped(self):
        s = Scenario(spec(noise={"spo2": 50.0}))
        vals = [s.value("spo2", float(k)) for k in range(50)]
        self.assertTrue(all(0.0 <= v <= 100.0 for v in vals))
        self.assertTrue(any(v != vals[0] for v in vals))

    def test_noise_per_second(self):
        s = Scenario(spec(noise={"heart_rate": 2.0}))
        a, b = s.value("heart_rate", 5.1), s.value("heart_rate", 5.9)
        self.assertEqual(a, b)
        expected = 78.0 + 2.0 * unit_normal(7, "heart_rate", 5)
        self.assertTrue(close(a, expected, 1e-6))
        self.assertEqual(Scenario(spec(noise={"heart_rate": 2.0})).value("heart_rate", 5.5), a)

    def test_drift_grows_then_stays(self):
        ev = [
            {
                "at_s": 100.0,
                "kind": "drift",
                "vital": "spo2",
                "rate_per_h": -36.0,
                "duration_s": 100.0,
            }
        ]
        s = Scenario(spec(event=ev))
        self.assertEqual(s.value("spo2", 100.0), 97.0)
        self.assertTrue(close(s.value("spo2", 150.0), 96.5))  # -0.01 /s for 50 s
        self.assertTrue(close(s.value("spo2", 200.0), 96.0))
        self.assertTrue(close(s.value("spo2", 500.0), 96.0))
        self.assertTrue(s.active("drift", 150.0))
        self.assertFalse(s.active("drift", 200.0))

    def test_sensor_off(self):
        s = Scenario(spec(event=[{"at_s": 200.0, "kind": "sensor_off", "duration_s": 10.0}]))
        self.assertEqual(
            s.vitals(205.0), {"heart_rate": None, "spo2": None, "battery": None, "systolic": None}
        )
        self.assertEqual(s.battery(205.0), 100.0)
        self.assertEqual(s.value("spo2", 210.0), 97.0)
        self.assertEqual(s.value("spo2", 199.99), 97.0)

    def test_battery_sag(self):
        s = Scenario(
            spec(event=[{"at_s": 100.0, "kind": "battery_sag", "to": 20.0, "over_s": 80.0}])
        )
        self.assertEqual(s.battery(100.0), 100.0)
        self.assertTrue(close(s.battery(140.0), 60.0))
        self.assertEqual(s.battery(300.0), 20.0)
        self.assertFalse(s.active("battery_sag", 140.0))


class EventTest(unittest.TestCase):
    def test_active_targets(self):
        ev = [
            {"at_s": 10.0, "kind": "link_drop", "duration_s": 5.0, "target": "ble"},
            {"at_s": 30.0, "kind": "stall", "duration_s": 5.0},
        ]
        s = Scenario(spec(event=ev))
        self.assertTrue(s.active("link_drop", 10.0, "ble"))
        self.assertTrue(s.active("link_drop", 14.9))
        self.assertFalse(s.active("link_drop", 15.0, "ble"))
        self.assertFalse(s.active("link_drop", 12.0, "serial"))
        self.assertTrue(s.active("stall", 31.0, "serial"))
        self.assertTrue(s.active("stall", 31.0, "ble"))
        self.assertFalse(s.active("stall", 9.0))
        with self.assertRaises(ValueError):
            s.active("explode", 1.0)

    def test_events_between_sorted_and_copied(self):
        ev = [
            {"at_s": 50.0, "kind": "corrupt", "count": 2},
            {"at_s": 10.0, "kind": "truncate", "count": 1, "target": "serial"},
            {"at_s": 50.0, "kind": "noisy_line", "duration_s": 3.0, "error_rate": 0.1},
        ]
        s = Scenario(spec(event=ev))
        got = s.events_between(0.0, 100.0)
        self.assertEqual([e["kind"] for e in got], ["truncate", "corrupt", "noisy_line"])
        self.assertEqual(got[0]["target"], "serial")
        self.assertEqual(got[1]["target"], "all")
        self.assertEqual([e["kind"] for e in s.events_between(10.0, 50.0)], ["truncate"])
        self.assertEqual(s.events_between(50.0, 50.0), [])
        got[0]["count"] = 99
        self.assertEqual(s.events_between(0.0, 20.0)[0]["count"], 1)
        self.assertEqual(s.active_event("noisy_line", 51.0)["error_rate"], 0.1)
        self.assertIsNone(s.active_event("noisy_line", 53.0))


class ValidationTest(unittest.TestCase):
    def check(self, bad, path):
        with self.assertRaises(ValueError) as ctx:
            Scenario(bad)
        self.assertTrue(str(ctx.exception).startswith(path), str(ctx.exception))

    def test_paths(self):
        self.check(spec(extra={}), "extra")
        self.check({"scenario": {"name": "Bad Name", "duration_s": 1.0}}, "scenario.name")
        self.check({"scenario": {"name": "x"}}, "scenario.duration_s")
        self.check({"scenario": {"name": "x", "duration_s": 1.0, "seed": -1}}, "scenario.seed")
        self.check(spec(vitals={"pulse": 1.0}), "vitals.pulse")
        self.check(spec(vitals={"spo2": "97"}), "vitals.spo2")
        self.check(spec(noise={"temperature": 1.0}), "noise.temperature")
        self.check(spec(noise={"spo2": -1.0}), "noise.spo2")
        self.check(
            spec(ramp=[{"vital": "spo2", "start_s": 5, "end_s": 1, "to": 80}]), "ramp[0].end_s"
        )
        self.check(spec(ramp=[{"vital": "spo2", "start_s": 5, "end_s": 9}]), "ramp[0].to")
        self.check(
            spec(ramp=[{"vital": "spo2", "start_s": 1, "end_s": 9, "to": 1, "x": 2}]), "ramp[0].x"
        )
        overlap = [
            {"vital": "spo2", "start_s": 0, "end_s": 10, "to": 90},
            {"vital": "spo2", "start_s": 5, "end_s": 20, "to": 80},
        ]
        self.check(spec(ramp=overlap), "ramp[1]")
        self.check(spec(event=[{"at_s": 1, "kind": "meteor"}]), "event[0].kind")
        self.check(spec(event=[{"at_s": 1, "kind": "link_drop"}]), "event[0].duration_s")
        self.check(
            spec(event=[{"at_s": 1, "kind": "stall", "duration_s": 0}]), "event[0].duration_s"
        )
        self.check(spec(event=[{"at_s": 1, "kind": "corrupt", "count": 0}]), "event[0].count")
        self.check(
            spec(event=[{"at_s": 1, "kind": "corrupt", "count": 1, "duration_s": 2}]),
            "event[0].duration_s",
        )
        self.check(
            spec(event=[{"at_s": 1, "kind": "stall", "duration_s": 2, "target": "usb"}]),
            "event[0].target",
        )
        self.check(
            spec(event=[{"at_s": 1, "kind": "noisy_line", "duration_s": 2, "error_rate": 2}]),
            "event[0].error_rate",
        )
        self.check(
            spec(
                event=[
                    {
                        "at_s": 1,
                        "kind": "drift",
                        "duration_s": 2,
                        "vital": "glucose",
                        "rate_per_h": 1,
                    }
                ]
            ),
            "event[0].vital",
        )
        self.check(spec(expect=[{"kind": "alarm"}]), "expect[0].vital")
        self.check(spec(expect=[{"kind": "maybe"}]), "expect[0].kind")
        self.check(spec(event={"at_s": 1}), "event")

    def test_battery_sag_needs_battery(self):
        s = {"scenario": {"name": "x", "duration_s": 10.0}, "vitals": {"spo2": 97.0}}
        s["event"] = [{"at_s": 1, "kind": "battery_sag", "to": 10, "over_s": 5}]
        self.check(s, "event[0]")

    def test_expect_normalised(self):
        s = Scenario(
            spec(expect=[{"kind": "alarm", "vital": "spo2", "priority": "high", "after_s": 60.0}])
        )
        self.assertEqual(
            s.expects,
            [
                {
                    "kind": "alarm",
                    "vital": "spo2",
                    "priority": "high",
                    "after_s": 60.0,
                    "within_s": 600.0,
                }
            ],
        )


if __name__ == "__main__":
    unittest.main()
