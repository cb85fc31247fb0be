"""Scenario drivers end to end: engine -> firmware bytes -> the gateway's decoders.

Clean streams decode to the engine's values at each unit's scenario time; ``corrupt`` /
``truncate`` / ``noisy_line`` only ever produce ParseErrors (never exceptions), and
``link_drop`` / ``sensor_off`` show up as silence / "no value".
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import fw_driver
import pytest
from engine import Scenario

from drivers.ble import battery, blood_pressure, heart_rate, plx, thermometer
from drivers.masimo.codec import MasimoDecoder, MasimoReading
from drivers.nonin.codec import Format7Decoder, Format8Decoder, Packet7, Record8, Status8
from gateway.errors import ParseError

LIBRARY = Path(__file__).resolve().parents[2] / "hil" / "scenarios" / "library"
EPOCH = (2026, 1, 1, 8, 0, 0)
PARSERS = {
    "hr": heart_rate.parse_heart_rate_measurement,
    "plx": plx.parse_plx_continuous,
    "temp": thermometer.parse_temperature_measurement,
    "bp": blood_pressure.parse_blood_pressure_measurement,
    "battery": battery.parse_battery_level,
}


def make(events: list[dict[str, Any]] | None = None, **vitals: float) -> Scenario:
    v = vitals or {
        "heart_rate": 75.0,
        "pulse_rate": 74.0,
        "spo2": 97.0,
        "systolic": 125.0,
        "diastolic": 82.0,
        "temperature": 37.2,
        "battery": 80.0,
    }
    return Scenario(
        {
            "scenario": {"name": "e2e", "duration_s": 120.0, "seed": 9},
            "vitals": v,
            "noise": {"spo2": 1.0, "pulse_rate": 2.0} if "spo2" in v and "pulse_rate" in v else {},
            "ramp": [{"vital": "spo2", "start_s": 10.0, "end_s": 30.0, "to": 85.0}]
            if "spo2" in v
            else [],
            "event": events or [],
        }
    )


def nearest(x: float | None) -> int:
    assert x is not None
    return int(x + 0.5)


def test_nonin8_values_follow_the_engine() -> None:
    s = make()
    out = Format8Decoder().feed(fw_driver.UartDriver(s, "nonin8", EPOCH).tick(39.0))
    assert len(out) == 40
    for k, rec in enumerate(out):
        assert isinstance(rec, Record8)
        assert rec.spo2 == nearest(s.value("spo2", float(k)))
        assert rec.hr == nearest(s.value("pulse_rate", float(k)))


def test_nonin7_values_follow_the_engine() -> None:
    s = make()
    dec = Format7Decoder()
    drv = fw_driver.UartDriver(s, "nonin7", EPOCH)
    out = dec.feed(drv.tick(4.9)) + dec.feed(drv.tick(20.0))
    packets = [p for p in out if isinstance(p, Packet7)]
    assert len(packets) == len(out) == 61  # 3 per second, t = 0 .. 20 inclusive
    for k, p in enumerate(packets):
        t = k / 3.0
        assert p.spo2 == nearest(s.value("spo2", t))
        assert p.hr == nearest(s.value("pulse_rate", t))
        assert p.timer == int(t)
        assert max(p.pleth) > min(p.pleth)


def test_masimo_values_and_clock_follow_the_engine() -> None:
    s = make()
    out = MasimoDecoder().feed(fw_driver.UartDriver(s, "masimo", EPOCH).tick(15.0))
    assert len(out) == 16
    for k, r in enumerate(out):
        assert isinstance(r, MasimoReading)
        assert r.device_time == datetime(*EPOCH) + timedelta(seconds=k)  # noqa: DTZ001
        assert r.values["SPO2"] == nearest(s.value("spo2", float(k)))


def test_serial_faults_give_parse_errors_silence_and_no_value() -> None:
    events = [
        {"at_s": 5.0, "kind": "corrupt", "count": 3, "target": "serial"},
        {"at_s": 10.0, "kind": "truncate", "count": 2},
        {"at_s": 20.0, "kind": "link_drop", "duration_s": 5.0, "target": "serial"},
        {"at_s": 30.0, "kind": "sensor_off", "duration_s": 2.0},
        {"at_s": 35.0, "kind": "corrupt", "count": 4, "target": "ble"},  # not for the UART
    ]
    out = Format8Decoder().feed(fw_driver.UartDriver(make(events), "nonin8", EPOCH).tick(39.0))
    records = [r for r in out if isinstance(r, Record8)]
    errors = [r for r in out if isinstance(r, ParseError)]
    assert errors
    # 40 seconds, 5 silent, 5 damaged: the rest decode (a resync may cost a neighbour)
    assert 40 - 5 - 5 - 3 <= len(records) <= 40 - 5 - 5
    off = [r for r in records if r.hr == 511]
    assert len(off) == 2
    assert all(r.status & Status8.SNSD and r.spo2 == 127 for r in off)


DECODERS: dict[str, Any] = {
    "nonin7": Format7Decoder,
    "nonin8": Format8Decoder,
    "masimo": MasimoDecoder,
}


def decode_in_chunks(protocol: str, data: bytes) -> list[Any]:
    dec = DECODERS[protocol]()
    return [x for k in range(0, len(data), 97) for x in dec.feed(data[k : k + 97])]


@pytest.mark.parametrize("protocol", ["nonin7", "nonin8", "masimo"])
def test_noisy_line_garbles_but_never_raises(protocol: str) -> None:
    noisy = [{"at_s": 0.0, "kind": "noisy_line", "duration_s": 60.0, "error_rate": 0.05}]
    clean = decode_in_chunks(protocol, fw_driver.UartDriver(make(), protocol, EPOCH).tick(60.0))
    out = decode_in_chunks(protocol, fw_driver.UartDriver(make(noisy), protocol, EPOCH).tick(60.0))
    assert out != clean
    assert any(not isinstance(x, ParseError) for x in out)
    if protocol != "nonin8":  # format 8 has no checksum: most flips pass as other values
        assert any(isinstance(x, ParseError) for x in out)


def test_ble_outputs_parse_and_faults_break_exactly_count_values() -> None:
    events = [
        {"at_s": 3.0, "kind": "corrupt", "count": 4},
        {"at_s": 7.0, "kind": "truncate", "count": 3, "target": "ble"},
        {"at_s": 8.0, "kind": "corrupt", "count": 2, "target": "serial"},  # not for BLE
    ]
    drv = fw_driver.BleDriver(
        make(events), EPOCH, temp_period_s=2.0, bp_period_s=5.0, battery_period_s=1.0
    )
    bad = 0
    seen: dict[str, int] = {}
    for k in range(30):
        for channel, payload, _ in drv.tick(float(k)):
            seen[channel] = seen.get(channel, 0) + 1
            try:
                PARSERS[channel](payload)
            except ParseError:
                bad += 1
    assert bad == 4 + 3
    assert set(seen) == set(PARSERS)


def test_ble_values_follow_the_engine() -> None:
    s = make()
    drv = fw_driver.BleDriver(s, EPOCH, bp_period_s=10.0)
    for k in range(21):
        t = float(k)
        for channel, payload, seq in drv.tick(t):
            if channel == "plx":
                m = plx.parse_plx_continuous(payload)
                assert m.spo2_percent.value == nearest(s.value("spo2", t))
                assert m.pulse_rate_bpm.value == nearest(s.value("pulse_rate", t))
            elif channel == "hr":
                assert heart_rate.parse_heart_rate_measurement(payload).heart_rate_bpm == nearest(
                    s.value("heart_rate", t)
                )
            elif channel == "temp":
                m = thermometer.parse_temperature_measurement(payload)
                assert m.temperature.value == pytest.approx(s.value("temperature", t), abs=0.005)
                assert m.timestamp == datetime(*EPOCH) + timedelta(seconds=k)  # noqa: DTZ001
            elif channel == "bp":
                m = blood_pressure.parse_blood_pressure_measurement(payload)
                assert m.systolic.value == nearest(s.value("systolic", t))
                assert seq == k // 10 + 1


@pytest.mark.parametrize("path", sorted(LIBRARY.glob("*.toml")), ids=lambda p: p.stem)
def test_library_scenarios_drive_both_modes(path: Path) -> None:
    """Every library scenario runs through both drivers; only ParseErrors come back."""
    with path.open("rb") as f:
        s = Scenario(tomllib.load(f))
    end = min(s.duration_s, 300.0)
    ble = fw_driver.BleDriver(s, EPOCH)
    decoded = 0
    for k in range(int(end)):
        for channel, payload, _ in ble.tick(float(k)):
            try:
                PARSERS[channel](payload)
                decoded += 1
            except ParseError:
                pass
    assert decoded > 0
    for protocol, dec in (("nonin8", Format8Decoder()), ("masimo", MasimoDecoder())):
        out = dec.feed(fw_driver.UartDriver(s, protocol, EPOCH).tick(end))
        assert any(not isinstance(x, ParseError) for x in out)
