"""GE/Datex-Ohmeda S/5 over a real pty: the simulator answers the driver's requests."""

from __future__ import annotations

import math
import struct
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from serial_e2e_support import DATEX_ECG1_STREAM, DriverRun, check_datex, settle

from drivers.datex.requests import (
    displayed_values_request,
    stop_displayed_values,
    to_wire,
    wave_request,
    wave_stop,
)
from hil.serial_sim import datex_encoder
from hil.serial_sim.datex_sim import EPOCH_S, DatexSimulator, RequestDeframer
from hil.serial_sim.link import SimPort
from hil.serial_sim.scenario import Vitals, constant, counter_wave

VITALS = Vitals(hr=61, spo2=96.5, pulse=62, rr=13, temp=37.25, nbp=(118, 76, 90))


async def test_displayed_values_and_waves_flow_until_the_driver_stops_them(
    tmp_path: Path,
) -> None:
    port = SimPort(tmp_path / "s5")
    sim = DatexSimulator(
        port, constant(VITALS), waves={1: counter_wave(15), 8: counter_wave(15)}, speed=20
    )
    options = {"port": port.path, "interval_s": 5, "waves": ["ECG1", "PLETH"]}
    async with DriverRun("datex-s5", options) as run:
        await sim.run(40.0)
        await settle(lambda: check_datex(run.samples(), "dev", sim))
        assert sim.interval == 5 and sim.waves is not None
        await run.stop()
    stops = sim.read_requests()
    port.close()
    assert len(stops) == 2 and sim.interval == 0 and sim.waves is None, "stop requests on close"

    n_phdb, n_waves = check_datex(run.samples(), "dev", sim)
    assert n_phdb >= 7 and n_waves >= 150
    s = run.samples()
    values = {
        "147842": 61,  # ECG HR, 1/min
        "150456": 96.5,  # SpO2, 1/100 % on the wire
        "149530": 62,  # SpO2 pulse rate
        "151562": 13,  # impedance respiration rate
        "150344.t1": 37.25,  # T1, 1/100 degC
        "150021": 118,  # NIBP sys, 1/100 mmHg
        "150022": 76,
        "150023": 90,
    }
    for stream, want in values.items():
        got = s[f"dev.{stream}"]
        assert all(math.isclose(g["value"], want) for g in got), (stream, got[:2])
        assert all(g["t_dev_ns"] % 1_000_000_000 == 0 for g in got)
    first = s["dev.150456"][0]["t_dev_ns"] // 1_000_000_000
    assert EPOCH_S <= first < EPOCH_S + 5
    ecg = [x for c in s[f"dev.{DATEX_ECG1_STREAM}"] for x in c["samples"]]
    assert ecg == list(range(ecg[0], ecg[0] + len(ecg))), "ECG1 at 300/s, contiguous, once"
    assert run.counters.counts["parse_errors"] == 0


@settings(max_examples=80, deadline=None)
@given(
    interval=st.integers(5, 3600),
    waves=st.lists(st.sampled_from([1, 2, 4, 8, 9]), min_size=1, max_size=2, unique=True),
    stop=st.booleans(),
)
def test_the_simulator_reads_what_the_driver_requests(
    interval: int, waves: list[int], stop: bool
) -> None:
    """Requests built by the driver's encoder, deframed by the simulator's own code."""
    frames = [to_wire(displayed_values_request(interval)), to_wire(wave_request(waves))]
    if stop:
        frames += [to_wire(stop_displayed_values()), to_wire(wave_stop())]
    deframer = RequestDeframer()
    requests = deframer.feed(b"".join(frames))
    assert deframer.bad_frames == 0
    assert [r.maintype for r in requests] == [0, 1] + ([0, 1] if stop else [])
    rtype, ival, _classes = struct.unpack_from("<BhI", requests[0].body)
    assert (rtype, ival) == (1, interval)
    ids = requests[1].body[4:12]
    assert list(ids[: ids.index(0xFF)]) == waves
    if stop:
        assert struct.unpack_from("<Bh", requests[2].body) == (1, 0)
        assert struct.unpack_from("<h", requests[3].body) == (1,)


def test_a_request_with_a_bad_checksum_is_ignored() -> None:
    record = datex_encoder.phdb_request(1, 10, 0)
    deframer = RequestDeframer()
    assert deframer.feed(datex_encoder.bad_checksum_frame(record)) == []
    assert deframer.bad_frames == 1
    (good,) = deframer.feed(datex_encoder.frame(record))
    assert struct.unpack_from("<Bh", good.body) == (1, 10)
