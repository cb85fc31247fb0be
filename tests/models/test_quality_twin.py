"""The quality gate inside the twin: what it keeps from alarms, NEWS2 and trends."""

from __future__ import annotations

import math

from edge_models.news2 import Parameter
from gateway.config import parse_config
from gateway.model import (
    VALID,
    Alarm,
    DeviceEvent,
    EventKind,
    Measurement,
    Quality,
    ReceiveTime,
    Record,
    TwinSnapshot,
)
from gateway.twin import PatientTwins

CONFIG = parse_config(
    {
        "gateway": {"id": "gw"},
        "twin": {"snapshot_interval_s": 1000.0},
        "patients": [{"id": "p-1", "consciousness": "A", "on_oxygen": False}],
        "devices": [{"id": "mon", "kind": "masimo", "patient": "p-1", "port": "/dev/null"}],
    },
    "<test>",
)
SPO2, PULSE, HR = (150456, "%"), (149530, "/min"), (147842, "/min")


def at(t: float) -> ReceiveTime:
    return ReceiveTime(int(1.7e18 + t * 1e9), int(t * 1e9))


def m(metric: tuple[int, str], value: float, t: float, q: Quality = VALID) -> Measurement:
    return Measurement("mon", f"mon.{metric[0]}", metric[0], metric[1], value, q, at(t))


Batches = list[tuple[float, list[Record]]]


def alarms_of(twins: PatientTwins, batches: Batches) -> list[Alarm]:
    out: list[Alarm] = []
    for t, batch in batches:
        out.extend(r for r in twins.observe(batch, at(t)) if isinstance(r, Alarm))
    return out


def test_ecg_asystole_disputed_by_a_pleth_pulse_raises_no_alarm() -> None:
    seq: Batches = [(float(t), [m(HR, 120, t), m(PULSE, 121, t)]) for t in range(10)]
    seq += [(float(t), [m(HR, 0, t), m(PULSE, 121, t)]) for t in range(10, 40)]
    twins = PatientTwins(CONFIG)
    assert alarms_of(twins, seq) == []
    assert twins.quality_counts()["p-1"]["hr"]["disputed"] == 30


def test_ecg_asystole_without_a_pulse_still_alarms() -> None:
    nan = math.nan
    seq: Batches = [(float(t), [m(HR, 120, t), m(PULSE, 121, t)]) for t in range(10)]
    seq += [(float(t), [m(HR, 0, t), m(PULSE, nan, t, Quality.UNAVAILABLE)]) for t in range(10, 40)]
    got = alarms_of(PatientTwins(CONFIG), seq)
    # hr.low (40 /min, HIGH, 5 s delay): HR 0 from t = 10, alarm at t = 15
    assert [(a.condition, a.start_ns) for a in got] == [("hr below low limit 40", at(15).wall_ns)]


def test_implausible_values_feed_neither_news2_nor_smoothing() -> None:
    twins = PatientTwins(CONFIG)
    twins.observe([m(SPO2, 97, 0)], at(0))
    twins.observe([m(SPO2, 30, 30)], at(30))  # below 50 %: implausible
    assert twins.news2("p-1", 30.0).score(Parameter.SPO2) == 0  # still 97 %, not 30 % (3)
    assert twins.ewma.smoothed[0, 0] == 97
    snap = twins.snapshot("p-1", at(30))
    spo2 = snap.state["vitals"]["SpO2"]  # type: ignore[index]
    assert spo2["artifacts"] == 1 and spo2["gated"] is True and spo2["confidence"] == 0.0


def test_a_disconnect_keeps_the_last_values_from_starting_alarms() -> None:
    seq: Batches = [(0.0, [m(SPO2, 97, 0)]), (1.0, [m(SPO2, 84, 1)])]
    event = DeviceEvent("mon", "mon.events", EventKind.DISCONNECTED, at(2), "port gone")
    seq.append((2.0, [event]))
    seq += [(float(t), []) for t in range(3, 20)]
    got = alarms_of(PatientTwins(CONFIG), seq)
    assert [a.condition for a in got] == ["device disconnected"]  # no spo2 alarm from 84 %


def test_snapshot_reports_the_trend_per_hour() -> None:
    twins = PatientTwins(CONFIG)
    # SpO2 falls 0.1 % per minute (6 % per hour), one sample every 5 s for 20 minutes
    for k in range(240):
        t = 5.0 * k
        twins.observe([m(SPO2, 98 - 0.1 * t / 60, t)], at(t))
    snap: TwinSnapshot = twins.snapshot("p-1", at(1195))
    spo2 = snap.state["vitals"]["SpO2"]  # type: ignore[index]
    assert abs(spo2["slope_per_h"] - (-6.0)) < 0.01
    assert spo2["slope_se_per_h"] < 0.01
