"""Masimo Radical-7 serial output on a pseudo-terminal, with faults and cable pulls.

One ASCII line per scenario second, formatted by the spec-written
:func:`hil.sim.masimo_sim.format_line` (its device clock advances one second per line, so
each line's timestamp names it). Values come from the scenario; missing ones are dashes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hil.serial_sim.base import SimulatorBase
from hil.serial_sim.faults import Fault
from hil.serial_sim.link import SimPort
from hil.serial_sim.scenario import Scenario, constant
from hil.sim.masimo_sim import OximeterSample, format_line

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_SENSOR_OFF = 0x020
_MASIMO_SET = 0x800


@dataclass(frozen=True, slots=True)
class MasimoLine:
    time: datetime  # device clock (UTC in the simulator)
    spo2: int | None
    bpm: int | None


def _corrupt(line: bytes) -> bytes:
    """A line whose SpO2 field is not a number (the format has no checksum)."""
    return line.replace(b"SPO2=", b"SPO2=X", 1)


class MasimoStreamer(SimulatorBase):
    tick_s = 1.0
    settle_s = 0.05

    def __init__(
        self,
        port: SimPort,
        scenario: Scenario | None = None,
        *,
        serial: str = "0000012345",
        epoch: datetime = EPOCH,
        speed: float = 1.0,
        faults: Sequence[Fault] = (),
        seed: int = 0,
    ) -> None:
        super().__init__(port, speed=speed, faults=faults, seed=seed)
        self.scenario = scenario or constant()
        self.serial = serial
        self.epoch = epoch

    def _line(self, t: float) -> tuple[MasimoLine, bytes]:
        v = self.scenario(t)
        rate = v.pulse if v.pulse is not None else v.hr
        spo2 = None if v.spo2 is None else max(0, min(100, round(v.spo2)))
        bpm = None if rate is None else max(0, min(999, round(rate)))
        exc = _SENSOR_OFF if spo2 is None and bpm is None else _MASIMO_SET
        when = self.epoch + timedelta(seconds=int(t))
        sample = OximeterSample(spo2, bpm, None if spo2 is None else 2.5, exc=exc)
        return MasimoLine(when, spo2, bpm), format_line(when, self.serial, sample)

    async def tick(self, t: float) -> None:
        line, wire = self._line(t)
        await self.emit(("line", line.time), line, wire, _corrupt)

    def sample_frame(self) -> bytes:
        return self._line(self.t)[1]
