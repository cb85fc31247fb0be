"""What every serial device simulator shares: a scenario clock, faults and a ledger.

The simulator runs in scenario time, ``speed`` times faster than real time (tests use 10-20x).
Every message it produces goes into a :class:`Ledger` with its fate:

* ``DELIVERED``: sent whole and correct while a receiver was connected, and read by it (the
  simulator waits until the receiver has drained the line before it pulls the cable), so
  the receiver must store it exactly once;
* ``UNCERTAIN``: next to a fault, or sent while the receiver was still opening the port: it
  may arrive (once) or not;
* ``LOST``: not sent (pause, unplugged, nobody listening) or sent damaged: it must not
  arrive as data.

Subclasses implement :meth:`SimulatorBase.tick` (produce what is due at scenario time ``t``
through :meth:`SimulatorBase.emit`) and :meth:`SimulatorBase.sample_frame`.
"""

from __future__ import annotations

import asyncio
import enum
import math
import random
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from hil.serial_sim.faults import (
    ONE_SHOT,
    UNPLUGS,
    Fault,
    FaultKind,
    FaultPlan,
    garbage,
    misread,
)
from hil.serial_sim.link import SimPort


class Fate(enum.Enum):
    DELIVERED = "delivered"
    UNCERTAIN = "uncertain"
    LOST = "lost"


@dataclass(slots=True)
class Sent:
    t: float  # scenario seconds
    key: Hashable  # identity a test can find in what the receiver stored
    payload: object  # what the message carried (values, samples)
    fate: Fate
    generation: int  # which pty (a new one after each replug)
    end: int  # bytes written in this generation once the message was out
    note: str = ""


class Ledger:
    def __init__(self) -> None:
        self.items: list[Sent] = []

    def add(self, sent: Sent) -> None:
        self.items.append(sent)

    def with_fate(self, fate: Fate) -> list[Sent]:
        return [s for s in self.items if s.fate is fate]

    def doubt_after(self, generation: int, offset: int) -> None:
        """Messages of ``generation`` ending after byte ``offset`` may not have been read."""
        for s in self.items:
            if s.generation == generation and s.end > offset and s.fate is Fate.DELIVERED:
                s.fate = Fate.UNCERTAIN
                s.note = "not drained before the cable was pulled"


class SimulatorBase:
    #: Scenario seconds between ticks.
    tick_s: float = 1.0
    #: Real seconds a new receiver needs before what it is sent counts as delivered (a
    #: receiver flushes its input when it opens the port).
    settle_s: float = 0.0
    #: Real seconds a receiver must be connected (and the session up) before an unplug.
    min_connected_s: float = 0.15

    def __init__(
        self,
        port: SimPort,
        *,
        speed: float = 1.0,
        faults: Sequence[Fault] = (),
        seed: int = 0,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.port = port
        self.speed = speed
        self.plan = FaultPlan(tuple(faults))
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.t = 0.0
        #: Cable pulls done while a receiver was connected, and how many left half a frame.
        self.unplugs = 0
        self.half_frames = 0
        self.garbage_bytes = 0
        #: Corrupting faults that reached a listening receiver (each should cost a parse error).
        self.corruptions_sent: Counter[FaultKind] = Counter()
        self.stopped = False
        self._one_shot: list[Fault] = []
        self._pause_until = -math.inf
        self._wrong_baud_until = -math.inf
        self._baud_ratio = 1.0
        self._baud_counted = False
        self._unplugged_until: float | None = None
        self._doubt_next = False
        self._t0 = 0.0

    # -- to implement

    async def tick(self, t: float) -> None:
        raise NotImplementedError

    def sample_frame(self) -> bytes:
        """A valid message of this protocol (half of it is sent before a HALF_FRAME_UNPLUG)."""
        raise NotImplementedError

    def session_ready(self) -> bool:
        """True when the receiver has set up whatever the protocol needs (polls, requests)."""
        return True

    def on_unplug(self) -> None:
        """The cable was pulled: forget the session (request-driven devices)."""

    # -- running

    async def run(self, duration_s: float) -> None:
        """Run the scenario for ``duration_s`` scenario seconds, then drain the line."""
        loop = asyncio.get_running_loop()
        self._t0 = loop.time() - self.t / self.speed
        start, end, ticks = self.t, self.t + duration_s, 0
        while self.t < end - 1e-9 and not self.stopped:
            if self._unplugged_until is not None and self.t >= self._unplugged_until:
                self._unplugged_until = None
                self.port.replug()
            await self._apply_faults()
            await self.tick(self.t)
            ticks += 1
            self.t = start + ticks * self.tick_s  # no drift from repeated additions
            delay = self._t0 + self.t / self.speed - loop.time()
            await asyncio.sleep(max(delay, 0.0))
        if self._unplugged_until is not None:
            self._unplugged_until = None
            self.port.replug()
        await self.finish()

    def stop(self) -> None:
        self.stopped = True

    async def finish(self) -> None:
        await self._drain_or_doubt()

    def connected(self) -> bool:
        return self.port.listening_for() >= self.min_connected_s and self.session_ready()

    async def _drain_or_doubt(self) -> None:
        if not self.port.listening():
            return
        if not await self.port.drain():
            pending = self.port.unread() or 0
            # FIONREAD sees the tty queue only; a pty holds up to ~4 KB more in transit.
            self.ledger.doubt_after(self.port.generation, self.port.written - pending - 4096)

    async def _apply_faults(self) -> None:
        due = self.plan.due(self.t)
        for i, fault in enumerate(due):
            if fault.kind in UNPLUGS:
                if not self.connected() or self._unplugged_until is not None:
                    for later in reversed(due[i:]):
                        self.plan.defer(later)
                    return
                await self._unplug(fault)
            elif fault.kind is FaultKind.PAUSE:
                self._pause_until = self.t + fault.duration
            elif fault.kind is FaultKind.WRONG_BAUD:
                self._wrong_baud_until = self.t + fault.duration
                self._baud_counted = False
                self._baud_ratio = fault.baud_ratio
            elif fault.kind in ONE_SHOT:
                self._one_shot.append(fault)
            self.plan.done(self.t, fault)

    async def _unplug(self, fault: Fault) -> None:
        await self._drain_or_doubt()
        if fault.kind is FaultKind.HALF_FRAME_UNPLUG:
            wire = self.sample_frame()
            await self.port.write(wire[: max(1, len(wire) // 2)])
            self.half_frames += 1
            await self.port.drain()
        self.port.unplug()
        self.unplugs += 1
        self._unplugged_until = self.t + fault.duration
        self.on_unplug()

    # -- sending

    async def emit(
        self,
        key: Hashable,
        payload: object,
        wire: bytes,
        corrupt: Callable[[bytes], bytes] | None = None,
    ) -> Sent:
        """Send one message (applying due faults) and record its fate."""
        fate, note = Fate.DELIVERED, ""
        if self.t < self._pause_until or not self.port.listening():
            self._one_shot.clear()  # a fault on a silent or empty line hurts nobody
            note = "paused" if self.t < self._pause_until else "no receiver"
            return self._record(key, payload, Fate.LOST, note)
        if self.port.listening_for() < self.settle_s:
            fate, note = Fate.UNCERTAIN, "receiver just connected"
        if self._doubt_next:
            fate, note = Fate.UNCERTAIN, "first message after a fault"
            self._doubt_next = False
        if self.t < self._wrong_baud_until:
            wire = misread(wire, self._baud_ratio)
            fate, note = Fate.LOST, "sent at the wrong baud rate"
            if not self._baud_counted:  # the first message of this window on the line
                self._baud_counted = True
                self.corruptions_sent[FaultKind.WRONG_BAUD] += 1
            self._doubt_next = True
        for fault in self._one_shot:
            if fault.kind is FaultKind.GARBAGE:
                junk = garbage(fault.size, self.rng)
                self.garbage_bytes += len(junk)
                await self.port.write(junk)
                if fate is Fate.DELIVERED:
                    fate, note = Fate.UNCERTAIN, "after garbage"
            elif fault.kind is FaultKind.TRUNCATE:
                wire = wire[: max(1, len(wire) // 2)]
                fate, note = Fate.LOST, "truncated"
                self._doubt_next = True
            elif fault.kind is FaultKind.BAD_CHECKSUM:
                wire = corrupt(wire) if corrupt is not None else wire[:-1] + b"\x00"
                fate, note = Fate.LOST, "bad checksum"
                self._doubt_next = True
        for fault in self._one_shot:
            self.corruptions_sent[fault.kind] += 1
        self._one_shot.clear()
        if await self.port.write(wire) < len(wire):
            fate, note = Fate.LOST, "receiver left mid-message"
        return self._record(key, payload, fate, note)

    async def send_raw(self, wire: bytes) -> None:
        """Protocol traffic that is not data (association, release): no faults, no ledger."""
        await self.port.write(wire)

    def _record(self, key: Hashable, payload: object, fate: Fate, note: str) -> Sent:
        sent = Sent(self.t, key, payload, fate, self.port.generation, self.port.written, note)
        self.ledger.add(sent)
        return sent
