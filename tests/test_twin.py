"""The patient twin stage: alarms with delay and hysteresis, technical alarms, NEWS2."""

from __future__ import annotations

from gateway.config import parse_config
from gateway.model import (
    VALID,
    Alarm,
    AlarmKind,
    AlarmPriority,
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
        "twin": {"snapshot_interval_s": 5.0},
        "patients": [{"id": "p-1", "consciousness": "A", "on_oxygen": False}, {"id": "p-2"}],
        "devices": [
            {"id": "oxi1", "kind": "masimo", "patient": "p-1", "port": "/dev/null"},
            {"id": "oxi2", "kind": "masimo", "patient": "p-2", "port": "/dev/null"},
        ],
    },
    "<test>",
)


def at(t: float) -> ReceiveTime:
    return ReceiveTime(int(1.7e18 + t * 1e9), int(t * 1e9))


def spo2(device: str, value: float, t: float, quality: Quality = VALID) -> Measurement:
    return Measurement(device, f"{device}.150456", 150456, "%", value, quality, at(t))


def run(twins: PatientTwins, batches: list[tuple[float, list[Record]]]) -> list[Record]:
    out: list[Record] = []
    for t, batch in batches:
        out.extend(twins.observe(batch, at(t)))
    return out


def test_desaturation_raises_after_the_delay_and_ends_with_hysteresis() -> None:
    twins = PatientTwins(CONFIG)
    seq = [(t, [spo2("oxi1", 97, t), spo2("oxi2", 97, t)]) for t in range(10)]
    seq += [(t, [spo2("oxi1", 84, t), spo2("oxi2", 97, t)]) for t in range(10, 30)]
    seq += [(t, [spo2("oxi1", 90.5, t)]) for t in range(30, 45)]  # inside, but not by 1 %
    seq += [(t, [spo2("oxi1", 96, t)]) for t in range(45, 70)]
    out = [r for r in run(twins, seq) if isinstance(r, Alarm)]
    starts = [(a.condition, a.priority, a.start_ns) for a in out if a.end_ns is None]
    ends = [a for a in out if a.end_ns is not None]
    # the HIGH (85 %) alarm needs 5 s of violation, the MEDIUM (90 %) one 15 s
    assert starts == [
        ("spo2 below low limit 85", AlarmPriority.HIGH, at(15).wall_ns),
        ("spo2 below low limit 90", AlarmPriority.MEDIUM, at(25).wall_ns),
    ]
    assert all(a.patient_id == "p-1" for a in out)
    high = next(a for a in out if a.priority is AlarmPriority.HIGH)
    assert dict(high.values)["worst"] == 84
    assert {a.alarm_id for a in ends} == {a.alarm_id for a in out if a.end_ns is None}
    end_of = {a.condition: a.end_ns for a in ends}
    # 90.5 % clears the 85 % alarm (30 s + 10 s clear delay) but sits inside the 1 %
    # hysteresis of the 90 % limit: that one ends only 10 s after 96 % returns at t = 45
    assert end_of["spo2 below low limit 85"] == at(40).wall_ns
    assert end_of["spo2 below low limit 90"] == at(55).wall_ns
    assert twins.active == {}
    # ids are built from the wall-clock start, the same on the start and the end record
    assert all(a.alarm_id.endswith(f"/{a.start_ns}") for a in out)


def test_a_short_dip_raises_nothing() -> None:
    twins = PatientTwins(CONFIG)
    seq = [(t, [spo2("oxi1", 84 if 10 <= t < 13 else 97, t)]) for t in range(40)]
    assert not [r for r in run(twins, seq) if isinstance(r, Alarm)]


def test_sensor_off_and_disconnect_are_technical_alarms_not_physiological() -> None:
    twins = PatientTwins(CONFIG)
    nan = float("nan")
    seq: list[tuple[float, list[Record]]] = [(0, [spo2("oxi1", 97, 0)])]
    seq.append((1, [spo2("oxi1", nan, 1, Quality.INVALID | Quality.UNAVAILABLE)]))
    seq.append(
        (2, [DeviceEvent("oxi2", "oxi2.events", EventKind.DISCONNECTED, at(2), "port gone")])
    )
    out = [r for r in run(twins, seq) if isinstance(r, Alarm)]
    got = {(a.patient_id, a.condition, a.alarm_kind) for a in out}
    assert got == {
        ("p-1", "sensor off", AlarmKind.TECHNICAL),
        ("p-2", "device disconnected", AlarmKind.TECHNICAL),
    }


def test_snapshot_carries_news2_partial_with_missing_parameters() -> None:
    twins = PatientTwins(CONFIG)
    pr = Measurement("oxi1", "oxi1.149530", 149530, "/min", 112, Quality(0), at(1))
    out = run(twins, [(1, [spo2("oxi1", 94, 1), pr])])
    snap = next(r for r in out if isinstance(r, TwinSnapshot) and r.patient_id == "p-1")
    score = snap.state["news2"]
    assert isinstance(score, dict)
    assert score["partial"] is True
    assert set(score["missing"]) == {"respiration_rate", "systolic_bp", "temperature"}
    assert score["scores"]["spo2"] == 1  # 94-95 % on scale 1
    assert score["scores"]["pulse"] == 2  # 111-130 /min
    assert score["total"] == 3
    other = next(r for r in out if isinstance(r, TwinSnapshot) and r.patient_id == "p-2")
    assert "consciousness" in other.state["news2"]["missing"]  # type: ignore[index]


def test_snapshots_are_spread_over_the_interval_after_the_first_round() -> None:
    ward = parse_config(
        {
            "gateway": {"id": "gw"},
            "twin": {"snapshot_interval_s": 5.0},
            "patients": [{"id": f"p-{i}"} for i in range(10)],
            "devices": [{"id": "oxi", "kind": "masimo", "patient": "p-0", "port": "/dev/null"}],
        },
        "<test>",
    )
    twins = PatientTwins(ward)
    per_batch: list[list[str]] = []
    for t in range(1, 22):  # a batch a second
        out = twins.observe([], at(t))
        per_batch.append([r.patient_id for r in out if isinstance(r, TwinSnapshot)])
    assert per_batch[0] == [f"p-{i}" for i in range(10)]  # the first round at once
    # then, from the next round (5 s later), two a second: each patient every 5 s, in order
    assert per_batch[1:4] == [[], [], []] and per_batch[4] == ["p-0"]
    assert [len(b) for b in per_batch[5:20]] == [2] * 15
    later = [p for b in per_batch[4:20] for p in b]
    assert later == [f"p-{i}" for i in range(10)] * 3 + ["p-0"]
