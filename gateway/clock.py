"""Detect steps of the wall clock against the monotonic clock.

Every receive time carries both clocks; their difference only drifts slowly (NTP slews)
unless someone or something steps the wall clock. A jump larger than ``threshold_ns``
between consecutive records is a step: the records that straddle it are flagged
``CLOCK_STEPPED`` and a gateway event says by how much. Ordering never depends on the wall
clock (sequence numbers do that), so a step never reorders or drops data.
"""

from __future__ import annotations

from dataclasses import replace

from gateway.model import Measurement, Quality, ReceiveTime, Record, WaveformChunk


class ClockWatch:
    def __init__(self, threshold_ns: int = 1_000_000_000) -> None:
        self.threshold_ns = threshold_ns
        self.offset_ns: int | None = None
        self.steps = 0
        self.last_step_ns = 0

    def observe(self, received: ReceiveTime) -> int:
        """Return the step (ns, signed) that this receive time reveals, or 0."""
        offset = received.wall_ns - received.mono_ns
        if self.offset_ns is None:
            self.offset_ns = offset
            return 0
        step = offset - self.offset_ns
        self.offset_ns = offset  # follow slow slewing; a step moves the reference too
        if abs(step) > self.threshold_ns:
            self.steps += 1
            self.last_step_ns = step
            return step
        return 0

    def flag(self, records: list[Record]) -> tuple[list[Record], int]:
        """Flag the records that come after a step; return them and the largest step."""
        out: list[Record] = []
        biggest = 0
        stepped = False
        for r in records:
            step = self.observe(r.received)
            if step:
                stepped = True
                biggest = step if abs(step) > abs(biggest) else biggest
            if stepped and isinstance(r, Measurement | WaveformChunk):
                r = replace(r, quality=r.quality | Quality.CLOCK_STEPPED)
            out.append(r)
        return out, biggest
