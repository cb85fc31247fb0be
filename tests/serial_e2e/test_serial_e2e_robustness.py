"""Bad lines, every protocol: after garbage, a bad checksum, a truncated message or bytes
sent at the wrong baud rate the driver resynchronises on the next message; errors are
counted per device; half a message at a cable pull is dropped and counted, never stored.

Each protocol's simulator runs on a real pty at 20x speed against the real driver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from serial_e2e_support import (
    DriverRun,
    Samples,
    check_datex,
    check_intellivue,
    check_masimo,
    check_nonin,
    settle,
)

from gateway.errors import DeviceNotFoundError
from hil.serial_sim.base import Fate, SimulatorBase
from hil.serial_sim.datex_sim import DatexSimulator
from hil.serial_sim.faults import Fault, FaultKind
from hil.serial_sim.intellivue_monitor import IntelliVueMonitor
from hil.serial_sim.link import SimPort
from hil.serial_sim.masimo_stream import MasimoStreamer
from hil.serial_sim.nonin_sim import NoninSimulator
from hil.serial_sim.scenario import counter_wave, drifting

SPEED = 20.0


@dataclass(frozen=True)
class Case:
    kind: str
    options: dict[str, object]
    make: Callable[[SimPort, Sequence[Fault]], SimulatorBase]
    check: Callable[[Samples, str, SimulatorBase], object]
    seconds: float


CASES = {
    "nonin": Case(
        "nonin",
        {},
        lambda p, f: NoninSimulator(p, drifting(1), pleth=counter_wave(16), speed=SPEED, faults=f),
        check_nonin,  # type: ignore[arg-type]
        14.0,
    ),
    "masimo": Case(
        "masimo",
        {},
        lambda p, f: MasimoStreamer(p, drifting(2), speed=SPEED, faults=f),
        check_masimo,  # type: ignore[arg-type]
        30.0,
    ),
    "datex-s5": Case(
        "datex-s5",
        {"interval_s": 5, "waves": ["ECG1", "PLETH"], "silence_timeout_s": 2.0},
        lambda p, f: DatexSimulator(
            p, drifting(3), waves={1: counter_wave(15), 8: counter_wave(15)}, speed=SPEED, faults=f
        ),
        check_datex,  # type: ignore[arg-type]
        30.0,
    ),
    "intellivue": Case(
        "intellivue",
        {"waves": True},
        lambda p, f: IntelliVueMonitor(
            p, drifting(4), ecg=counter_wave(), pleth=counter_wave(), speed=SPEED, faults=f
        ),
        check_intellivue,  # type: ignore[arg-type]
        14.0,
    ),
}


async def _play(case: Case, tmp_path: Path, faults: list[Fault]) -> tuple[SimulatorBase, DriverRun]:
    port = SimPort(tmp_path / f"{case.kind}-port")
    sim = case.make(port, faults)
    async with DriverRun(case.kind, {"port": port.path, **case.options}) as run:
        await sim.run(case.seconds)
        await settle(lambda: case.check(run.samples(), "dev", sim))
        if isinstance(sim, IntelliVueMonitor):
            host = asyncio.create_task(sim.serve_host())
            await run.stop()
            host.cancel()
    port.close()
    return sim, run


@pytest.mark.parametrize("protocol", list(CASES))
async def test_the_stream_resynchronises_after_bad_input(protocol: str, tmp_path: Path) -> None:
    case = CASES[protocol]
    span = case.seconds
    faults = [
        Fault(span * 0.2, FaultKind.GARBAGE, size=60),
        Fault(span * 0.35, FaultKind.BAD_CHECKSUM),
        Fault(span * 0.5, FaultKind.TRUNCATE),
        Fault(span * 0.65, FaultKind.WRONG_BAUD, duration=span * 0.05, baud_ratio=0.4),
    ]
    sim, run = await _play(case, tmp_path, faults)
    assert len(sim.plan.applied) == 4
    lost = sim.ledger.with_fate(Fate.LOST)
    assert {s.note for s in lost} >= {"bad checksum", "truncated", "sent at the wrong baud rate"}
    delivered = sim.ledger.with_fate(Fate.DELIVERED)
    assert delivered and delivered[-1].t > span * 0.8, "messages after the faults count too"
    assert sum(sim.corruptions_sent.values()) == 4, sim.corruptions_sent
    assert run.counters.counts["parse_errors"] >= 4, run.counters.counts
    assert run.sessions == 1, "bad input never costs the connection"
    case.check(run.samples(), "dev", sim)


@pytest.mark.parametrize("protocol", list(CASES))
async def test_a_half_frame_at_a_cable_pull_is_dropped_and_counted(
    protocol: str, tmp_path: Path
) -> None:
    case = CASES[protocol]
    fault = Fault(case.seconds * 0.3, FaultKind.HALF_FRAME_UNPLUG, duration=case.seconds * 0.1)
    sim, run = await _play(case, tmp_path, [fault])
    assert sim.unplugs == 1 and sim.half_frames == 1
    assert run.counters.counts["partial_frames_dropped"] == 1
    assert any(isinstance(e, DeviceNotFoundError) for e in run.errors)
    assert run.sessions == 2, "the driver comes back on the same path after the replug"
    case.check(run.samples(), "dev", sim)
