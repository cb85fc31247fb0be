"""One SQLite writer at a time in this process, alarms first.

The buffer writes from two threads: the main lane (records, acknowledgements, state) and
the urgent lane (alarms). Left to SQLite, a writer that finds the database locked sleeps in
its busy handler for 1, 2, 5, 10, 15... ms before trying again, so an alarm arriving during
a 20 ms commit would wait about 33 ms more than it needs to. The gate hands the write lock
over the moment it is free, and a waiting alarm goes before any waiting main-lane writer.
SQLite's own locking (and busy timeout) still guards against other processes.

A main-lane transaction can take 20-90 ms on a slow SD card with a big batch (thousands of
outbox rows, megabytes of payload). Its holder checks :attr:`WriteGate.urgent_waiting`
between statements and, when an alarm waits, rolls back, lets it through
(:meth:`WriteGate.yield_to_urgent`) and starts its transaction over: nothing of it was
durable, so starting over is safe, and the alarm waits for one statement, not the batch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class WriteGate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._urgent_waiting = 0
        self.waits = 0  # times a writer found the gate taken (Buffer.write_waits, /metrics)
        self.yields = 0  # times a holder stepped aside for an alarm (Buffer.write_yields)

    @property
    def urgent_waiting(self) -> bool:
        """An urgent writer waits for the gate (a hint, read without the lock)."""
        return self._urgent_waiting > 0

    def yield_to_urgent(self) -> None:
        """Step aside (the caller holds the gate, with nothing written): let the waiting
        urgent writers through, then hold the gate again."""
        with self._cond:
            self._busy = False
            self._cond.notify_all()
            while self._busy or self._urgent_waiting:
                self._cond.wait()
            self._busy = True
            self.yields += 1

    @contextmanager
    def hold(self, urgent: bool = False) -> Iterator[None]:
        """Hold the write lock for one transaction; ``urgent`` writers go first."""
        with self._cond:
            if urgent:
                self._urgent_waiting += 1
            try:
                if self._busy or (not urgent and self._urgent_waiting):
                    self.waits += 1
                while self._busy or (not urgent and self._urgent_waiting):
                    self._cond.wait()
            finally:
                if urgent:
                    self._urgent_waiting -= 1
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
