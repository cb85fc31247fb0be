"""Nonin OEM oximeter simulator: data format 7 on a pseudo-terminal, from the specification.

Streams 25-frame packets (75 frames/s, 3 packets/s at ``speed`` 1) built with the
spec-written :mod:`hil.serial_sim.nonin_encoder`. SpO2 and pulse rate come from the scenario
(a missing value is sent as 127 / 511 with the sensor-disconnected bit); the pleth from a
sample source. The oximeter only talks: nothing the host sends is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hil.serial_sim import nonin_encoder as enc
from hil.serial_sim.base import SimulatorBase
from hil.serial_sim.faults import Fault
from hil.serial_sim.link import SimPort
from hil.serial_sim.scenario import Scenario, WaveSource, constant, pleth_wave

PACKETS_PER_S = 3  # 75 frames/s / 25 frames per packet
MISSING_HR = 511
MISSING_SPO2 = 127


@dataclass(frozen=True, slots=True)
class NoninPacket:
    index: int
    spo2: int  # 127 = missing
    hr: int  # 511 = missing
    pleth: tuple[int, ...]


def _bad_checksum(packet: bytes, frame: int = 12) -> bytes:
    """The packet with the checksum of one frame off by one."""
    at = frame * 5
    return packet[:at] + enc.bad_checksum(packet[at : at + 5]) + packet[at + 5 :]


class NoninSimulator(SimulatorBase):
    tick_s = 1.0 / PACKETS_PER_S
    settle_s = 0.05

    def __init__(
        self,
        port: SimPort,
        scenario: Scenario | None = None,
        *,
        pleth: WaveSource | None = None,
        speed: float = 1.0,
        faults: Sequence[Fault] = (),
        seed: int = 0,
    ) -> None:
        super().__init__(port, speed=speed, faults=faults, seed=seed)
        self.scenario = scenario or constant()
        self.pleth = pleth or pleth_wave(75.0)
        self.packets = 0
        self.samples = 0

    def packet_at(self, t: float) -> tuple[NoninPacket, bytes]:
        """The next packet (numbered :attr:`packets`) for scenario time ``t``."""
        v = self.scenario(t)
        rate = v.pulse if v.pulse is not None else v.hr
        spo2 = MISSING_SPO2 if v.spo2 is None else max(0, min(100, round(v.spo2)))
        hr = MISSING_HR if rate is None else max(0, min(510, round(rate)))
        status = enc.GPRF
        if v.spo2 is None and rate is None:
            status = enc.SNSD  # sensor disconnected
        pleth = tuple(self.pleth(self.samples + k) & 0xFFFF for k in range(enc.FRAMES))
        values = enc.PacketValues(
            hr=hr,
            spo2=spo2,
            timer=self.packets & 0x3FFF,
            spo2_d=spo2,
            spo2_fast=spo2,
            spo2_bb=spo2,
            e_hr=hr,
            e_spo2=spo2,
            e_spo2_d=spo2,
            hr_d=hr,
            e_hr_d=hr,
            pleth=list(pleth),
            statuses=[status] * enc.FRAMES,
        )
        return NoninPacket(self.packets, spo2, hr, pleth), enc.encode_packet7(values)

    async def tick(self, t: float) -> None:
        packet, wire = self.packet_at(t)
        self.packets += 1
        self.samples += enc.FRAMES
        await self.emit(("packet", packet.index), packet, wire, _bad_checksum)

    def sample_frame(self) -> bytes:
        return self.packet_at(self.t)[1]
