"""Nonin format 7 over a real pty, and round trips through the simulator's packets."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from serial_e2e_support import PLETH_MDC, SPO2, DriverRun, check_nonin, settle

from drivers.nonin.codec import Format7Decoder, Packet7
from drivers.nonin.measurements import to_records
from gateway.model import Measurement, ReceiveTime, WaveformChunk
from hil.serial_sim.base import Fate
from hil.serial_sim.link import SimPort
from hil.serial_sim.nonin_sim import NoninPacket, NoninSimulator
from hil.serial_sim.scenario import Vitals, constant, counter_wave, physionet_numerics

NUMERICS_CSV = (
    Path(__file__).resolve().parents[3]
    / "shared/data/mimic2wdb-numerics/derived_s00001_numerics_per_minute.csv"
)


async def test_packets_stream_at_75_frames_per_second_and_faster(tmp_path: Path) -> None:
    port = SimPort(tmp_path / "oxi")
    sim = NoninSimulator(port, constant(Vitals(spo2=95, pulse=64)), pleth=counter_wave(16), speed=5)
    async with DriverRun("nonin", {"port": port.path}) as run:
        await sim.run(6.0)  # 18 packets, 450 frames, at 375 frames/s
        await settle(lambda: check_nonin(run.samples(), "dev", sim))
    port.close()
    assert check_nonin(run.samples(), "dev", sim) >= 15
    pleth = [x for c in run.samples()[f"dev.{PLETH_MDC}"] for x in c["samples"]]
    first = pleth[0]
    assert pleth == list(range(first, first + len(pleth))), "pleth arrives contiguous, once"
    assert {s["value"] for s in run.samples()[f"dev.{SPO2}"]} == {95.0}


async def test_real_physionet_numerics_replayed_through_the_oximeter(tmp_path: Path) -> None:
    """One packet per minute of MIMIC-II record s00001: SpO2 and pulse as the monitor had
    them (rounded to whole units), and missing (0 or empty in the record) as missing."""
    scenario = physionet_numerics(NUMERICS_CSV, seconds_per_row=1 / 3)
    port = SimPort(tmp_path / "oxi")
    sim = NoninSimulator(port, scenario, pleth=counter_wave(16), speed=20)
    async with DriverRun("nonin", {"port": port.path}) as run:
        await sim.run(40.0)  # 120 packets = the first two hours of the record
        await settle(lambda: check_nonin(run.samples(), "dev", sim))
    port.close()
    check_nonin(run.samples(), "dev", sim)
    rows = NUMERICS_CSV.read_text().splitlines()[1:]
    delivered = [s for s in sim.ledger.items if s.fate is not Fate.LOST]
    stored = run.samples()[f"dev.{SPO2}"]
    assert len(stored) >= 100
    by_packet = {s.payload.index: s for s in delivered if isinstance(s.payload, NoninPacket)}
    chunks = run.samples()[f"dev.{PLETH_MDC}"]
    for chunk, spo2 in zip(chunks, stored, strict=True):
        index = chunk["samples"][0] // 25  # the pleth counter names the packet
        row = rows[index].split(",")
        assert by_packet[index].payload.index == index
        cell = row[7]  # SpO2_%
        want = None if cell in ("", "0.0") else float(round(float(cell)))
        assert spo2["value"] == want, (index, row)
    assert any(s["value"] is None for s in stored) and any(s["value"] for s in stored)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.tuples(st.none() | st.integers(0, 100), st.none() | st.integers(0, 510)),
        min_size=1,
        max_size=6,
    ),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
)
def test_packets_round_trip_through_the_simulator(
    values: list[tuple[int | None, int | None]], cuts: list[int]
) -> None:
    port = SimPort()
    sim = NoninSimulator(port, pleth=counter_wave(16))
    wire = b""
    for k, (spo2, hr) in enumerate(values):
        sim.scenario = constant(Vitals(spo2=spo2, pulse=hr, hr=hr))
        wire += sim.packet_at(float(k))[1]
        sim.packets += 1
        sim.samples += 25
    port.close()
    decoder = Format7Decoder()
    bounds = sorted({0, len(wire), *(c % (len(wire) + 1) for c in cuts)})
    packets = []
    for a, b in itertools.pairwise(bounds):
        packets += decoder.feed(wire[a:b])
    assert all(isinstance(p, Packet7) for p in packets)
    assert len(packets) == len(values)
    for packet, (spo2, hr) in zip(packets, values, strict=True):
        assert isinstance(packet, Packet7)
        records = to_records(packet, "oxi", ReceiveTime(0, 0))
        got_spo2, got_pr, pleth = records
        assert isinstance(got_spo2, Measurement) and isinstance(got_pr, Measurement)
        assert isinstance(pleth, WaveformChunk)
        assert (None if math.isnan(got_spo2.value) else got_spo2.value) == spo2
        rate = hr if hr is not None else None
        assert (None if math.isnan(got_pr.value) else got_pr.value) == rate
        if spo2 is None and hr is None:
            assert "unavailable" in got_spo2.quality.names()
