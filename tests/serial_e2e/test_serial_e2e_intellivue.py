"""IntelliVue over a real pty: spec-written monitor simulator -> real driver -> records.

The simulator answers the association, sends the MDS Create event with its clock, and
answers polls; the test knows from the simulator alone which device time each result must
get, so the driver's anchoring is checked end to end.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serial_e2e_support import IV_ECG_STREAM, DriverRun, check_intellivue, settle

from drivers.base import DeviceSpec
from drivers.intellivue import requests
from drivers.intellivue.apdu import MdsCreateEvent, parse_apdu
from drivers.intellivue.session import Pacer, parse_options
from drivers.registry import known_kinds, validate_options
from gateway.errors import DeviceNotFoundError, DeviceTimeoutError
from gateway.model import Alarm, AlarmKind, AlarmPriority, DeviceEvent, EventKind
from gateway.replay import replay
from hil.intellivue_sim import encoder
from hil.serial_sim.base import Fate
from hil.serial_sim.faults import Fault, FaultKind
from hil.serial_sim.intellivue_monitor import (
    ECG_II,
    NUMERICS,
    WAVES,
    HostFrames,
    HostKind,
    IntelliVueMonitor,
    _Job,
    parse_host,
)
from hil.serial_sim.link import SimPort
from hil.serial_sim.scenario import Alert, Vitals, counter_wave, timeline

SPEED = 20.0


def monitor(port: SimPort, **kwargs: object) -> IntelliVueMonitor:
    return IntelliVueMonitor(
        port,
        ecg=counter_wave(),
        pleth=counter_wave(),
        speed=SPEED,
        **kwargs,  # type: ignore[arg-type]
    )


async def play(sim: IntelliVueMonitor, run: DriverRun, seconds: float) -> None:
    """Run the scenario, wait until everything delivered is stored, stop the driver."""
    await sim.run(seconds)
    await settle(lambda: check_intellivue(run.samples(), "dev", sim))
    host = asyncio.create_task(sim.serve_host())  # answer the release while it closes
    await run.stop()
    host.cancel()


async def test_numerics_waves_and_alarms_arrive_timed_by_the_monitor(tmp_path: Path) -> None:
    alerts = (
        Alert("SpO2 low", priority="high", source=0x4BB8, code=5),
        Alert("Leads off", technical=True, priority="low", source=0x0102, code=7),
    )
    scenario = timeline([(0, Vitals(nbp=(121, 79, 93))), (8, Vitals(spo2=None, alerts=alerts))])
    port = SimPort(tmp_path / "iv")
    sim = monitor(port, scenario=scenario, utc_offset_s=3600)
    options = {"port": port.path, "waves": True, "utc_offset_s": 3600}
    async with DriverRun("intellivue", options) as run:
        await play(sim, run, 16.0)
    port.close()

    numerics, waves = check_intellivue(run.samples(), "dev", sim)
    assert numerics >= 8 * 12 and waves >= 40  # less the handshake (paced host frames)
    samples = run.samples()
    spo2 = samples["dev.150456"]
    assert spo2[0]["value"] == 97.0 and spo2[0]["quality"] == []
    assert spo2[-1]["value"] is None and "invalid" in spo2[-1]["quality"]
    assert samples["dev.150021"][0]["value"] == 121.0
    # waves: ECG counter samples arrive contiguous, once each
    ecg = [x for chunk in samples[f"dev.{IV_ECG_STREAM}"] for x in chunk["samples"]]
    assert ecg == list(range(len(ecg)))
    alarms = [r for r in run.records if isinstance(r, Alarm)]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert (alarm.condition, alarm.priority, alarm.alarm_kind, alarm.patient_id) == (
        "SpO2 low",
        AlarmPriority.HIGH,
        AlarmKind.PHYSIOLOGICAL,
        "p-1",
    )
    assert sim.device_ns(8.0) <= alarm.start_ns <= sim.device_ns(9.1)
    technical = [
        r
        for r in run.records
        if isinstance(r, DeviceEvent) and r.event is EventKind.TECHNICAL_ALARM
    ]
    assert [t.detail for t in technical] == [
        "started: Leads off (source 258, code 7, low priority)"
    ]
    assert sim.releases == 1, "the driver releases the association when it closes"
    assert run.counters.counts["parse_errors"] == 0


async def test_keep_alive_and_poll_renewal_leave_no_gap(tmp_path: Path) -> None:
    port = SimPort(tmp_path / "iv")
    sim = monitor(port)
    options = {"port": port.path, "waves": True, "keep_alive_s": 0.2, "poll_period_s": 2.0}
    async with DriverRun("intellivue", options) as run:
        await play(sim, run, 50.0)  # 2.5 s of real time
    port.close()
    polls = [m for m in sim.host_messages if m.kind is HostKind.POLL and m.extended]
    assert sum(m.obj_code == NUMERICS for m in polls) >= 2, "extended polls were renewed"
    assert sum(m.obj_code == WAVES for m in polls) >= 2
    assert all(m.period_ticks == 2 * 8000 for m in polls)
    assert sim.keep_alives >= 6
    check_intellivue(run.samples(), "dev", sim)
    ecg = [x for chunk in run.samples()[f"dev.{IV_ECG_STREAM}"] for x in chunk["samples"]]
    assert ecg == list(range(len(ecg))), "a renewal must not lose or repeat wave samples"
    assert run.sessions == 1


async def test_a_silent_monitor_is_reassociated(tmp_path: Path) -> None:
    port = SimPort(tmp_path / "iv")
    sim = monitor(port, faults=[Fault(6.0, FaultKind.PAUSE, duration=20.0)])
    options = {"port": port.path, "silence_timeout_s": 0.5}
    async with DriverRun("intellivue", options) as run:
        await play(sim, run, 60.0)
    port.close()
    assert any(isinstance(e, DeviceTimeoutError) for e in run.errors)
    assert sim.associations == 2 and run.sessions == 2
    check_intellivue(run.samples(), "dev", sim)
    late = [s for s in run.samples()["dev.147842"] if s["t_dev_ns"] > sim.device_ns(30.0)]
    assert late, "data flows again after the re-association"


async def test_unplug_keeps_the_stable_path_and_drops_the_half_frame(tmp_path: Path) -> None:
    port = SimPort(tmp_path / "by-id-monitor")
    sim = monitor(port, faults=[Fault(5.0, FaultKind.HALF_FRAME_UNPLUG, duration=4.0)])
    async with DriverRun("intellivue", {"port": port.path, "waves": True}) as run:
        await play(sim, run, 20.0)
    port.close()
    assert sim.unplugs == 1 and sim.half_frames == 1
    assert any(isinstance(e, DeviceNotFoundError) for e in run.errors)
    assert run.counters.counts["partial_frames_dropped"] == 1
    assert sim.associations == 2
    check_intellivue(run.samples(), "dev", sim)


class NoisyFirstWaves(IntelliVueMonitor):
    """Line noise damages the first wave result of every association: the one that carries
    the static attributes (sample period, scale, unit)."""

    async def _waves(self, job: _Job, t: float) -> None:
        if job.sequence == 0:
            self._one_shot.append(Fault(t, FaultKind.BAD_CHECKSUM))
        await super()._waves(job, t)


async def test_waves_that_came_before_their_sample_period_are_delivered_late(
    tmp_path: Path,
) -> None:
    port = SimPort(tmp_path / "iv")
    sim = NoisyFirstWaves(port, ecg=counter_wave(), pleth=counter_wave(), speed=SPEED)
    async with DriverRun("intellivue", {"port": port.path, "waves": True}) as run:
        await play(sim, run, 8.0)
    port.close()
    check_intellivue(run.samples(), "dev", sim)
    waves = [s for s in sim.ledger.items if s.key[0] == "waves"]
    assert waves[0].fate is Fate.LOST  # the static attributes never arrived
    waiting = [s for s in waves[2:8] if s.fate is Fate.UNCERTAIN]  # [1]: after the fault
    assert len(waiting) == 6, [s.note for s in waves[:9]]
    ecg = [x for chunk in run.samples()[f"dev.{IV_ECG_STREAM}"] for x in chunk["samples"]]
    per_result = len(waves[0].payload[ECG_II])
    assert ecg[0] in (per_result, 2 * per_result)  # from result 1 or 2 on
    assert ecg == list(range(ecg[0], ecg[0] + len(ecg))), "none dropped, none repeated"
    assert run.counters.counts["waves_recovered"] >= 2 * 6  # ECG and pleth of each
    assert run.counters.counts.get("waves_dropped", 0) == 0


def _capture(with_mds: bool) -> bytes:
    """What a monitor sends, byte for byte, from the spec-written encoder."""
    from datetime import datetime

    frames = [encoder.frame(encoder.aare())]
    if with_mds:
        when = datetime(2026, 3, 1, 12, 0, 0)  # noqa: DTZ001 - monitor local time
        frames.append(encoder.frame(encoder.mds_create_event(when=when, rel_time=80_000)))
    hr = encoder.SimNumeric(1, (encoder.SimValue(0x4182, 2720, 61.0),))
    frames.append(
        encoder.frame(encoder.poll_result([hr], invoke_id=3, obj_code=6, rel_time=80_000 + 16_000))
    )
    return b"".join(frames)


def test_replay_anchors_a_capture_at_its_mds_create_event() -> None:
    out = list(replay("intellivue", _capture(with_mds=True)))
    (hr,) = out
    assert not isinstance(hr, Exception)
    assert hr.mdc_code == 147842 and hr.value == 61.0  # type: ignore[union-attr]
    # 12:00:00 + 16000 ticks (2 s), monitor clock taken as UTC (no offset given)
    assert hr.device_time_ns == 1772366402 * 1_000_000_000  # type: ignore[union-attr]
    (no_anchor,) = list(replay("intellivue", _capture(with_mds=False)))
    assert no_anchor.device_time_ns is None  # type: ignore[union-attr]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 0.2), min_size=1, max_size=40))
def test_pacer_never_lets_more_than_four_frames_into_128_ms(gaps: list[float]) -> None:
    pacer, now, sent = Pacer(), 0.0, []
    for gap in gaps:
        now += gap
        now += pacer.delay(now)
        pacer.sent(now)
        sent.append(now)
    for i, t in enumerate(sent):
        assert sum(t <= u < t + 0.128 - 1e-9 for u in sent[i:]) <= 4
    assert Pacer().delay(0.0) == 0.0


def test_options_are_checked_at_configuration_time() -> None:
    assert "intellivue" in known_kinds()
    good = DeviceSpec("m", "intellivue", "p", {"port": "/dev/ttyUSB0", "waves": True})
    validate_options(good)
    assert parse_options(good).waves
    for bad in (
        {},
        {"port": "/dev/x", "waves": "yes"},
        {"port": "/dev/x", "keep_alive_s": 0},
        {"port": "/dev/x", "utc_offset_s": 1.5},
        {"port": "/dev/x", "poll_period_s": 1},
    ):
        with pytest.raises(ValueError):
            validate_options(DeviceSpec("m", "intellivue", "p", bad))


@settings(max_examples=100, deadline=None)
@given(
    invoke_id=st.integers(1, 0xFFFF),
    poll_number=st.integers(1, 0xFFFF),
    period=st.none() | st.integers(0, 2**32 - 1),
    which=st.sampled_from(["numerics", "waves", "alerts", "keep_alive"]),
    cut=st.integers(0, 2000),
)
def test_the_monitor_simulator_reads_what_the_driver_sends(
    invoke_id: int, poll_number: int, period: int | None, which: str, cut: int
) -> None:
    """Host frames built by the driver's request builders, deframed by the simulator."""
    event = parse_apdu(encoder.mds_create_event(invoke_id=invoke_id, when=None, rel_time=5))
    assert isinstance(event, MdsCreateEvent)
    poll = {
        "numerics": lambda: requests.poll_numerics(invoke_id, poll_number, period),
        "waves": lambda: requests.poll_waves(invoke_id, poll_number, period),
        "alerts": lambda: requests.poll_alerts(invoke_id, poll_number, period),
        "keep_alive": lambda: requests.keep_alive(invoke_id, poll_number),
    }[which]()
    wire = requests.aarq() + requests.mds_create_result(event) + poll + requests.release_request()
    host = HostFrames()
    cut %= len(wire) + 1
    messages = [parse_host(u) for u in host.feed(wire[:cut]) + host.feed(wire[cut:])]
    assert host.bad_frames == 0
    kinds = [m.kind for m in messages]
    assert kinds == [HostKind.ASSOCIATE, HostKind.MDS_RESULT, HostKind.POLL, HostKind.RELEASE]
    assert messages[1].invoke_id == invoke_id
    p = messages[2]
    assert (p.invoke_id, p.poll_number) == (invoke_id, poll_number)
    assert p.extended == (which != "keep_alive")
    assert p.obj_code == {"numerics": 6, "waves": 9, "alerts": 54, "keep_alive": 33}[which]
    assert p.period_ticks == (None if which == "keep_alive" else period)


def test_a_host_frame_with_a_bad_fcs_is_ignored_by_the_simulator() -> None:
    host = HostFrames()
    user_data = requests.release_request()[1:-1]  # still escaped, FCS last
    assert host.feed(b"\xc0" + user_data[:-1] + bytes([user_data[-1] ^ 1]) + b"\xc1") == []
    assert host.bad_frames == 1
