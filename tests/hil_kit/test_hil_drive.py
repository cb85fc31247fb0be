"""The adapters that make the emulators follow an engine scenario (no radio, no pty reads)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from hil.ble.peripheral import EmulatedPeripheral
from hil.ble.scenario import SimClock
from hil.scenarios.drive_ble import MG_DL_PER_MMOL_L, BleFollower, ble_values, values_of
from hil.scenarios.drive_serial import (
    GARBLED,
    NoisyPort,
    doubt_garbled,
    faults_for,
    vitals_at,
)
from hil.scenarios.engine import Scenario
from hil.serial_sim.base import Fate, Ledger, Sent
from hil.serial_sim.faults import FaultKind


def scenario(**extra: Any) -> Scenario:
    spec: dict[str, Any] = {
        "scenario": {"name": "t", "duration_s": 100.0, "seed": 1},
        "vitals": {
            "heart_rate": 70.0,
            "spo2": 97.0,
            "pulse_rate": 71.0,
            "glucose": 5.0,
            "systolic": 120.0,
            "diastolic": 80.0,
            "mean": 93.0,
            "battery": 50.0,
        },
    }
    spec.update(extra)
    return Scenario(spec)


def test_ble_values_map_engine_vitals_to_the_emulators_keys() -> None:
    e = scenario(event=[{"at_s": 10.0, "kind": "sensor_off", "duration_s": 5.0}])
    v = ble_values(e, 1.0)
    assert v == {
        "hr": 70.0,
        "spo2": 97.0,
        "pr": 71.0,
        "sys": 120.0,
        "dia": 80.0,
        "glucose": pytest.approx(5.0 * MG_DL_PER_MMOL_L),
    }
    assert "temp" not in v, "a vital the scenario does not produce is left to the device"
    assert all(x is None for x in ble_values(e, 12.0).values()), "sensor off: no readings"
    assert values_of(e).at(1.0) == v


def test_serial_vitals_leave_absent_vitals_empty_and_need_all_three_pressures() -> None:
    e = scenario()
    v = vitals_at(e, 0.0)
    assert (v.hr, v.spo2, v.pulse, v.rr, v.temp) == (70.0, 97.0, 71.0, None, None)
    assert v.nbp == (120.0, 80.0, 93.0)
    e2 = Scenario({"scenario": {"name": "u", "duration_s": 10.0}, "vitals": {"systolic": 110.0}})
    assert vitals_at(e2, 0.0).nbp is None


def test_events_become_the_simulators_faults_for_their_target_only() -> None:
    e = scenario(
        event=[
            {"at_s": 5.0, "kind": "link_drop", "duration_s": 3.0, "target": "serial"},
            {"at_s": 6.0, "kind": "link_drop", "duration_s": 9.0, "target": "ble"},
            {"at_s": 20.0, "kind": "stall", "duration_s": 4.0},
            {"at_s": 30.0, "kind": "corrupt", "count": 3},
            {"at_s": 40.0, "kind": "truncate", "count": 2, "target": "serial"},
            {"at_s": 50.0, "kind": "noisy_line", "duration_s": 4.0, "error_rate": 0.1},
        ]
    )
    faults = faults_for(e, period_s=5.0)
    got = [(f.at, f.kind, f.duration) for f in faults]
    assert got == [
        (5.0, FaultKind.UNPLUG, 3.0),
        (20.0, FaultKind.PAUSE, 4.0),
        (30.0, FaultKind.BAD_CHECKSUM, 1.0),
        (35.0, FaultKind.BAD_CHECKSUM, 1.0),
        (40.0, FaultKind.BAD_CHECKSUM, 1.0),
        (40.0, FaultKind.TRUNCATE, 1.0),
        (45.0, FaultKind.TRUNCATE, 1.0),
    ]
    assert [f.kind for f in faults_for(e, 1.0, target="ble")] == [
        FaultKind.UNPLUG,
        FaultKind.PAUSE,
        FaultKind.BAD_CHECKSUM,
        FaultKind.BAD_CHECKSUM,
        FaultKind.BAD_CHECKSUM,
    ]


async def test_noisy_port_garbles_only_while_the_line_is_noisy(tmp_path: Path) -> None:
    e = scenario(event=[{"at_s": 10.0, "kind": "noisy_line", "duration_s": 5.0, "error_rate": 0.2}])
    now = [0.0]
    port = NoisyPort(tmp_path / "line", e, now=lambda: now[0])
    reader = open(port.path, "rb", buffering=0)  # noqa: SIM115 - a listener

    def read_exactly(n: int) -> bytes:
        got = b""
        while len(got) < n:
            got += reader.read(n - len(got))
        return got

    try:
        data = bytes(range(256)) * 8
        await port.write(data)
        assert read_exactly(len(data)) == data and not port.garbled
        now[0] = 12.0
        await port.write(data)
        got = read_exactly(len(data))
        flipped = [i for i in range(len(data)) if got[i] != data[i]]
        assert flipped == [off - len(data) for _, off in port.garbled]
        assert 0.1 < len(flipped) / len(data) < 0.3  # error rate 0.2 over 2048 bytes
        assert all(bin(got[i] ^ data[i]).count("1") == 1 for i in flipped), "one bit per error"
    finally:
        reader.close()
        port.close()


def test_garbled_messages_and_the_next_one_become_uncertain() -> None:
    ledger = Ledger()
    for i, end in enumerate((100, 200, 300, 400)):
        ledger.add(Sent(float(i), ("m", i), None, Fate.DELIVERED, 1, end))
    ledger.items[3].fate = Fate.LOST

    class Port:
        def __init__(self) -> None:
            self.garbled = [(1, 150), (2, 10)]  # message 1 of generation 1; another generation

    marked = doubt_garbled(ledger, cast(NoisyPort, Port()))
    fates = [(s.fate, s.note) for s in ledger.items]
    assert fates[0] == (Fate.DELIVERED, "")
    assert fates[1] == (Fate.UNCERTAIN, GARBLED)
    assert fates[2][0] is Fate.UNCERTAIN and "after" in fates[2][1]
    assert fates[3][0] is Fate.LOST and marked == 2


class FakeDevice:
    """The controls BleFollower uses, recorded."""

    def __init__(self) -> None:
        self.in_range = True
        self.stalled = False
        self.battery_percent = 0
        self.calls: list[str] = []

    async def walk_out_of_range(self) -> None:
        self.in_range = False
        self.calls.append("out")

    async def walk_back_in_range(self) -> None:
        self.in_range = True
        self.calls.append("back")

    def stall(self) -> None:
        self.stalled = True
        self.calls.append("stall")

    def resume(self) -> None:
        self.stalled = False
        self.calls.append("resume")

    def corrupt_next(self, n: int) -> None:
        self.calls.append(f"corrupt {n}")

    def truncate_next(self, n: int) -> None:
        self.calls.append(f"truncate {n}")


async def test_the_follower_applies_events_at_their_times() -> None:
    e = scenario(
        event=[
            {"at_s": 2.0, "kind": "link_drop", "duration_s": 1.0, "target": "ble"},
            {"at_s": 2.5, "kind": "battery_sag", "to": 10.0, "over_s": 1.0},
            {"at_s": 3.0, "kind": "corrupt", "count": 2},
            {"at_s": 3.0, "kind": "truncate", "count": 1, "target": "serial"},
            {"at_s": 4.0, "kind": "stall", "duration_s": 1.0},
        ]
    )
    device = FakeDevice()
    follower = BleFollower(e, cast(EmulatedPeripheral, device), SimClock(1.0), step_s=0.5)
    battery = []
    t = 0.0
    while t < 6.0:
        await follower.apply(t, t + 0.5)
        battery.append(device.battery_percent)
        t += 0.5
    # a point event at t is applied by the step that covers [t, t + step)
    assert device.calls == ["out", "back", "corrupt 2", "stall", "resume"]
    assert [a for _, a in follower.actions] == [
        "link_drop",
        "link_back",
        "corrupt x2",
        "stall",
        "resume",
    ]
    assert [t for t, _ in follower.actions] == [2.0, 3.0, 3.0, 4.0, 5.0]
    assert battery[0] == 50 and battery[-1] == 10


async def test_the_follower_releases_the_device_at_the_end() -> None:
    e = Scenario(
        {
            "scenario": {"name": "r", "duration_s": 1.0},
            "vitals": {"heart_rate": 60.0},
            "event": [{"at_s": 0.5, "kind": "link_drop", "duration_s": 0.5}],
        }
    )
    device = FakeDevice()
    clock = SimClock(100.0)
    clock.start()
    follower = BleFollower(e, cast(EmulatedPeripheral, device), clock, step_s=0.25)
    await asyncio.wait_for(follower.run(), 5.0)
    assert device.calls == ["out", "back"] and device.in_range
