"""The simulators' own machinery: the wrong-baud UART model, the fault plan, the pty cable."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from support import wait_until

from hil.serial_sim.faults import Fault, FaultKind, FaultPlan, misread
from hil.serial_sim.link import SimPort
from hil.serial_sim.scenario import Vitals, physionet_numerics, timeline

NUMERICS_CSV = (
    Path(__file__).resolve().parents[3]
    / "shared/data/mimic2wdb-numerics/derived_s00001_numerics_per_minute.csv"
)


@settings(max_examples=100)
@given(st.binary(max_size=64))
def test_a_receiver_at_the_right_rate_reads_what_was_sent(data: bytes) -> None:
    assert misread(data, 1.0) == data


def test_a_receiver_at_half_the_rate_reads_a_known_wrong_byte() -> None:
    # 0x00 sent at twice the receiver's rate: start + 8 zero bits last 4.5 receiver bits.
    # Sampling at receiver bits 1.5 .. 8.5 (transmitter bits 3, 5, ..., 17) reads 0, 0, 0
    # (data bits), then 1 (the stop bit), then idle 1s: LSB first 0b11111000; stop bit ok.
    assert misread(b"\x00", 2.0) == b"\xf8"
    # 0xFF at half the receiver's rate: the start bit spans two receiver bits, so bit 0
    # reads 0, then 1s; the stop sample (at transmitter bit 4.75) is a data bit: 1.
    assert misread(b"\xff", 0.5) == b"\xfe"


@settings(max_examples=50)
@given(
    st.binary(min_size=20, max_size=64).filter(lambda d: len(set(d)) > 4),
    st.sampled_from([0.3, 0.45, 2.0, 12.0]),
)
def test_a_receiver_at_a_wrong_rate_reads_garbage(data: bytes, ratio: float) -> None:
    out = misread(data, ratio)
    assert out != data
    if ratio > 1:
        assert len(out) <= len(data)


def test_fault_plan_hands_out_due_faults_in_order_and_takes_deferred_back() -> None:
    a, b, c = (Fault(t, FaultKind.GARBAGE) for t in (3.0, 1.0, 2.0))
    plan = FaultPlan([a, b, c])
    assert plan.due(0.5) == []
    assert plan.due(2.0) == [b, c]
    plan.defer(c)
    assert plan.due(2.5) == [c]
    assert plan.remaining == 1


async def test_the_cable_keeps_its_path_across_a_pull_and_knows_its_listener(
    tmp_path: Path,
) -> None:
    port = SimPort(tmp_path / "by-id")
    assert not port.listening()
    assert await port.write(b"nobody hears this") == 0 and port.dropped == 17
    fd = os.open(port.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    assert port.listening()
    assert await port.write(b"hello") == 5
    # the kernel hands pty input to the line discipline asynchronously: poll for it
    await wait_until(lambda: port.unread() == 5, deadline_s=5, what="5 unread bytes")
    assert not await port.drain(timeout_s=0.05)
    assert os.read(fd, 100) == b"hello"
    assert await port.drain()
    os.write(fd, b"request")
    assert port.read_nowait() == b"request"
    port.unplug()
    assert not os.path.exists(port.path)
    assert os.read(fd, 10) == b""  # the reader sees the line go away
    os.close(fd)
    port.replug()
    assert os.path.realpath(port.path).startswith("/dev/")  # a new pty (the number may recur)
    assert port.generation == 2 and port.written == 0
    port.close()


def test_scenarios_step_and_replay_real_numerics() -> None:
    s = timeline([(0, Vitals(hr=60)), (10, Vitals(hr=90))])
    assert (s(0).hr, s(9.9).hr, s(10).hr, s(1e6).hr) == (60, 60, 90, 90)
    replay = physionet_numerics(NUMERICS_CSV, seconds_per_row=60)
    row14 = replay(14 * 60 + 30)  # "14,55.6,0.0,0.0,0.0,55.0,12.4,96.0,120.0,72.0,89.0"
    assert (row14.hr, row14.pulse, row14.rr, row14.spo2) == (55.6, 55.0, 12.4, 96.0)
    assert row14.nbp == (120.0, 72.0, 89.0)
    row0 = replay(0)  # "0,0.0,...,23.0,0.0,,,": zeros mean no signal
    assert (row0.hr, row0.spo2, row0.rr, row0.nbp) == (None, None, 23.0, None)
