"""Masimo Radical-7 serial output simulator, written from the output format description.

Each line: ``MM/DD/YY HH:MM:SS SN=<10 digits> SPO2=<3 digits>% BPM=<3 digits>
PI=<2.2 digits>% SPCO=<2.1>% SPMET=<2.1>% DESAT=<2> PIDELTA=<+2> PVI=<3> ALARM=<4 hex>
EXC=<6 hex>`` then CR LF, one per second on a real device. Missing values are dashes of the
field's width. This module formats lines itself and never calls EdgeTwin's parser, so the
two check each other.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hil.pty_port import PtyPort


@dataclass(frozen=True, slots=True)
class OximeterSample:
    spo2: int | None
    bpm: int | None
    pi: float | None
    exc: int = 0
    alarm: int = 0


def format_line(when: datetime, serial: str, s: OximeterSample) -> bytes:
    spo2 = "---" if s.spo2 is None else f"{s.spo2:03d}"
    bpm = "---" if s.bpm is None else f"{s.bpm:03d}"
    pi = "--.--" if s.pi is None else f"{s.pi:05.2f}"
    line = (
        f"{when:%m/%d/%y %H:%M:%S} SN={serial} SPO2={spo2}% BPM={bpm} PI={pi}% "
        f"SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- PVI=--- "
        f"ALARM={s.alarm:04X} EXC={s.exc:06X}\r\n"
    )
    return line.encode("ascii")


def physiology(
    seed: int, baseline_spo2: float = 97.0, baseline_bpm: float = 74.0
) -> Iterator[OximeterSample]:
    """A plausible, reproducible patient: slow drifts, noise, rare desaturations and probe-offs."""
    rng = random.Random(seed)
    t = 0
    desat_left = 0
    probe_off_left = 0
    while True:
        t += 1
        if desat_left == 0 and rng.random() < 0.004:
            desat_left = rng.randint(20, 60)
        if probe_off_left == 0 and rng.random() < 0.002:
            probe_off_left = rng.randint(3, 10)
        if probe_off_left:
            probe_off_left -= 1
            yield OximeterSample(None, None, None, exc=0x020)  # sensor off
            continue
        dip = 8.0 * math.sin(math.pi * desat_left / 60) if desat_left else 0.0
        desat_left = max(0, desat_left - 1)
        spo2 = round(min(100.0, baseline_spo2 - dip + rng.gauss(0, 0.6)))
        bpm = round(baseline_bpm + 6 * math.sin(t / 90) + rng.gauss(0, 1.5) + dip)
        pi = max(0.2, 2.5 + 0.5 * math.sin(t / 40) + rng.gauss(0, 0.1))
        yield OximeterSample(spo2, bpm, round(pi, 2), exc=0x800)  # Masimo SET mode


class MasimoSimulator:
    """Writes lines to a pty at ``interval_s`` (1 s like the device, less in tests)."""

    def __init__(
        self,
        port: PtyPort,
        seed: int = 0,
        interval_s: float = 1.0,
        serial: str = "0000012345",
        count: int | None = None,
    ) -> None:
        self.port = port
        self.interval_s = interval_s
        self.serial = serial
        self.count = count
        self.samples = physiology(seed)
        self.sent: list[OximeterSample] = []
        self.clock = datetime(2026, 1, 1, tzinfo=UTC)

    async def run(self) -> None:
        n = 0
        while self.count is None or n < self.count:
            sample = next(self.samples)
            self.clock += timedelta(seconds=1)
            await self.port.write(format_line(self.clock, self.serial, sample))
            self.sent.append(sample)
            del self.sent[:-10_000]
            n += 1
            await asyncio.sleep(self.interval_s)
