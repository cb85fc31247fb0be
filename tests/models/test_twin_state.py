"""Twin determinism: a replay split by state() / restore() equals one straight replay."""

from __future__ import annotations

import math

import numpy as np
import pytest

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


def _raw() -> dict[str, object]:
    return {
        "gateway": {"id": "gw"},
        "twin": {"snapshot_interval_s": 30.0},
        "patients": [{"id": "p-1", "consciousness": "A", "on_oxygen": False}, {"id": "p-2"}],
        "devices": [
            {"id": "mon1", "kind": "masimo", "patient": "p-1", "port": "/dev/null"},
            {"id": "mon2", "kind": "masimo", "patient": "p-2", "port": "/dev/null"},
        ],
    }


CONFIG = parse_config(_raw(), "<test>")
WALL0 = 1_700_000_000_000_000_000
CODES = {"spo2": (150456, "%"), "pulse": (149530, "/min"), "hr": (147842, "/min")}


def at(t: float, boot_offset_ns: int = 0) -> ReceiveTime:
    ns = round(t * 1e9)
    return ReceiveTime(WALL0 + ns, ns - boot_offset_ns)


def m(
    dev: str, vital: str, value: float, t: float, q: Quality = VALID, boot: int = 0
) -> Measurement:
    code, unit = CODES[vital]
    return Measurement(dev, f"{dev}.{code}", code, unit, value, q, at(t, boot))


def scenario(seconds: int = 400, boot: int = 0) -> list[tuple[float, list[Record]]]:
    """1 Hz vitals with noise, a desaturation, HR/pulse disagreement, spikes and a dropout."""
    rng = np.random.default_rng(7)
    out: list[tuple[float, list[Record]]] = []
    for t in range(seconds):
        spo2 = 97 + rng.normal(0, 0.6) - (12 if 100 <= t < 160 else 0)
        hr = 75 + rng.normal(0, 2)
        pulse = hr + rng.normal(0, 1) + (40 if 200 <= t < 215 else 0)  # pleth disagrees
        if t % 37 == 0:
            spo2 -= 20  # one-sample spike
        batch: list[Record] = [m("mon1", "hr", round(hr, 1), t, boot=boot)]
        if 250 <= t < 270:
            nan = math.nan
            batch.append(m("mon1", "spo2", nan, t, Quality.UNAVAILABLE, boot))
        else:
            batch.append(m("mon1", "spo2", round(spo2, 1), t, boot=boot))
            batch.append(m("mon1", "pulse", round(pulse, 1), t, boot=boot))
        batch.append(m("mon2", "spo2", round(96 + rng.normal(0, 0.5), 1), t, boot=boot))
        if t == 300:
            batch.append(DeviceEvent("mon2", "mon2.events", EventKind.DISCONNECTED, at(t, boot)))
        out.append((float(t), batch))
    return out


def key(r: Record) -> object:
    if isinstance(r, TwinSnapshot):
        return ("twin", r.patient_id, r.state, r.received)
    return r


def run(
    twins: PatientTwins, batches: list[tuple[float, list[Record]]], boot: int = 0
) -> list[object]:
    return [key(r) for t, b in batches for r in twins.observe(b, at(t, boot))]


def test_split_replay_with_save_and_restore_is_bit_identical() -> None:
    batches = scenario()
    straight = PatientTwins(CONFIG)
    expected = run(straight, batches)
    assert any(isinstance(r, Alarm) for r in expected)  # the scenario exercises alarms
    assert straight.quality.rejected.sum() > 0  # ... and the quality gate
    for cut in (137, 207):  # inside the desaturation alarm, inside the disagreement
        first = PatientTwins(CONFIG)
        got = run(first, batches[:cut])
        blob = first.state()
        second = PatientTwins(CONFIG)
        assert second.restore(blob) == []
        assert second.state() == blob
        got += run(second, batches[cut:])
        assert got == expected
        assert second.state() == straight.state()


def test_restore_after_a_reboot_resumes_on_the_saved_time_base() -> None:
    batches = scenario(200)
    first = PatientTwins(CONFIG)
    run(first, batches[:120])
    blob = first.state()
    # reboot: the monotonic clock restarts (mono = t - 100 s), the wall clock runs on
    second = PatientTwins(CONFIG)
    second.restore(blob)
    rebooted = scenario(200, boot=100 * 10**9)[120:]
    out = run(second, rebooted, boot=100 * 10**9)
    ended = [r for r in out if isinstance(r, Alarm) and r.end_ns is not None]
    assert ended  # the desaturation alarm carried over the restart ends normally
    assert all(a.start_ns < a.end_ns for a in ended if a.end_ns is not None)
    # the twin's clock continued from the saved time: ages stay small and non-negative
    snap = second.snapshot("p-1", at(199, 100 * 10**9))
    vitals = snap.state["vitals"]
    assert isinstance(vitals, dict)
    assert 0 <= vitals["SpO2"]["age_s"] < 2


def test_restore_refuses_other_patients_and_garbage() -> None:
    blob = PatientTwins(CONFIG).state()
    other = parse_config(
        {
            "gateway": {"id": "gw"},
            "patients": [{"id": "x"}],
            "devices": [{"id": "d", "kind": "masimo", "patient": "x", "port": "/dev/null"}],
        },
        "<test>",
    )
    with pytest.raises(ValueError):
        PatientTwins(other).restore(blob)
    for bad in (b"", b"[]", b"{}", blob.replace(b'"format":1', b'"format":9'), blob[:-5]):
        with pytest.raises(ValueError):
            PatientTwins(CONFIG).restore(bad)


def test_changed_limits_start_the_alarm_engine_afresh_and_end_carried_alarms() -> None:
    batches = scenario(150)
    first = PatientTwins(CONFIG)
    run(first, batches[:140])
    assert first.active
    blob = first.state()
    changed = PatientTwins(parse_config({**_raw(), "alarms": {"enabled": True}}, "<t>"))
    changed.set_limits([], at(0))
    ended = changed.restore(blob)
    assert {a.alarm_id for a in ended} == set(first.active)
    assert all(a.end_ns is not None for a in ended) and not changed.active
