"""Fault injection for the serial simulators, scheduled in scenario time.

Kinds:

* ``GARBAGE``: random bytes on the line before the next message.
* ``TRUNCATE``: the next message is cut in half (the rest never sent).
* ``BAD_CHECKSUM``: the next message goes out with a wrong checksum / FCS.
* ``PAUSE``: the device says nothing for ``duration`` (scenario seconds).
* ``WRONG_BAUD``: for ``duration`` the device transmits at ``baud_ratio`` times the rate the
  receiver expects; :func:`misread` gives the bytes such a receiver sees.
* ``UNPLUG``: the cable is pulled for ``duration`` (the pty is closed and made anew).
* ``HALF_FRAME_UNPLUG``: half a message is sent, then the cable is pulled.

A fault that needs a connected receiver (the unplugs) waits until one is connected.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass


class FaultKind(enum.Enum):
    GARBAGE = "garbage"
    TRUNCATE = "truncate"
    BAD_CHECKSUM = "bad_checksum"
    PAUSE = "pause"
    WRONG_BAUD = "wrong_baud"
    UNPLUG = "unplug"
    HALF_FRAME_UNPLUG = "half_frame_unplug"


#: Faults that apply to the next message only.
ONE_SHOT = frozenset({FaultKind.GARBAGE, FaultKind.TRUNCATE, FaultKind.BAD_CHECKSUM})
#: Faults that last ``duration`` scenario seconds.
WINDOWS = frozenset({FaultKind.PAUSE, FaultKind.WRONG_BAUD})
UNPLUGS = frozenset({FaultKind.UNPLUG, FaultKind.HALF_FRAME_UNPLUG})


@dataclass(frozen=True, slots=True)
class Fault:
    at: float  # scenario seconds
    kind: FaultKind
    duration: float = 1.0  # scenario seconds (windows and unplugs)
    size: int = 40  # garbage bytes
    baud_ratio: float = 0.5  # device rate / receiver rate (WRONG_BAUD)


class FaultPlan:
    """Faults in time order; :meth:`due` hands out those whose time has come."""

    def __init__(self, faults: list[Fault] | tuple[Fault, ...] = ()) -> None:
        self._queue = sorted(faults, key=lambda f: f.at)
        self.applied: list[tuple[float, Fault]] = []

    def due(self, t: float) -> list[Fault]:
        out = []
        while self._queue and self._queue[0].at <= t:
            out.append(self._queue.pop(0))
        return out

    def defer(self, fault: Fault) -> None:
        """Put a fault back (it could not be applied yet)."""
        self._queue.insert(0, fault)

    def done(self, t: float, fault: Fault) -> None:
        self.applied.append((t, fault))

    @property
    def remaining(self) -> int:
        return len(self._queue)


def garbage(n: int, rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(n))


def _line_level(data: bytes, bit: int) -> int:
    """Line level during transmitter bit time ``bit`` of back-to-back 8N1 characters."""
    char, pos = divmod(bit, 10)
    if bit < 0 or char >= len(data):
        return 1  # idle (mark)
    if pos == 0:
        return 0  # start bit (space)
    if pos == 9:
        return 1  # stop bit
    return (data[char] >> (pos - 1)) & 1  # data bits, least significant first


def misread(data: bytes, baud_ratio: float) -> bytes:
    """What a UART receiver reads from ``data`` sent 8N1 at ``baud_ratio`` x its own rate.

    The receiver waits for a falling edge (start bit), checks the start bit at half a bit
    time, samples 8 data bits at the middle of each of its bit times, then the stop bit;
    a stop bit read as 0 is a framing error, which a Linux tty delivers as a 0x00 byte.
    Times are in transmitter bit times; one receiver bit lasts ``baud_ratio`` of them.
    """
    if baud_ratio <= 0:
        raise ValueError("baud_ratio must be positive")
    total = len(data) * 10
    rx = baud_ratio
    out = bytearray()
    t = 0.0
    while True:
        edge = math.ceil(t)
        while edge < total and not (
            _line_level(data, edge - 1) == 1 and _line_level(data, edge) == 0
        ):
            edge += 1
        if edge >= total:
            return bytes(out)
        if _line_level(data, int(edge + 0.5 * rx)) != 0:
            t = edge + 0.5 * rx  # a glitch, not a start bit
            continue
        value = 0
        for i in range(8):
            value |= _line_level(data, int(edge + (1.5 + i) * rx)) << i
        stop = edge + 9.5 * rx
        out.append(value if _line_level(data, int(stop)) == 1 else 0)
        t = stop
