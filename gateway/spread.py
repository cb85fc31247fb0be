"""A periodic job over n items, spread over its period instead of done in one go.

The twins emit a snapshot of every patient and every device once a period (5 s by
default). All of them in one batch held the event loop for 60 ms (patients) and 26 ms
(devices) at 140 beds on a slow machine, and alarms waited behind that turn. Spread out,
item i of n is due i/n of a period into each round: the same cadence per item, a few items
per batch. The first round (after start, after a restore, or after a pause of a whole
period) comes at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class Spread:
    period_s: float
    #: when the current round starts (its item 0 is due then)
    start: float = -math.inf
    #: the item that comes next in the current round
    next: int = 0
    #: the round under way comes at once (the first one, or one after a pause)
    burst: bool = True

    def due(self, now_s: float, n: int) -> list[int]:
        """The items due at ``now_s``, in order (each index at most once a round)."""
        out: list[int] = []
        period = self.period_s
        while True:
            start = self.start
            if self.burst or (self.next == 0 and now_s >= start + period):
                start = -math.inf
            while self.next < n and now_s >= start + period * self.next / n:
                out.append(self.next)
                self.next += 1
            if self.next < n:
                return out
            self.next, self.burst = 0, False
            after = self.start + period  # keep the cadence unless a whole round behind
            self.start = after if after + period > now_s else now_s + period
            if self.start > now_s:
                return out

    def resume(self, start: float, next_item: int, burst: bool, n: int) -> None:
        """Take saved values (a position out of range starts the round over, at once)."""
        self.start = start
        if burst or not 0 <= next_item < n:
            self.next, self.burst = 0, True
        else:
            self.next, self.burst = next_item, False
