"""Exactly-once bookkeeping for stored records (sans-IO: no clock, no I/O).

:class:`SequenceTracker` (RACP devices). A Glucose Measurement may announce a Context that
follows with the same sequence number, so two numbers are kept: ``last_measurement``
(measurement delivered) and ``last_complete`` (measurement and any context delivered).
Requests ask for "sequence number >= last_complete + 1" (all records on first contact). A
measurement at or below ``last_measurement`` is a repeat (the link dropped before its
context came) and is skipped while its context is still taken.

:class:`WatermarkTracker` (spot-check devices). Measurements come oldest first with a
device time stamp; one at or before the watermark was delivered already (a device that did
not get our confirmation before the link dropped sends it again). Values sharing the
watermark's second are told apart by a digest of their bytes. Values without a time stamp
cannot be deduplicated and are always delivered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from drivers.ble import racp
from drivers.ble.state import TransferState

SEQUENCE_MAX = 0xFFFF


@dataclass
class SequenceTracker:
    last_complete: int | None = None
    last_measurement: int | None = None
    pending_context: int | None = None

    @classmethod
    def from_state(cls, state: TransferState) -> SequenceTracker:
        complete = state.last_sequence
        measured = state.last_measurement_sequence
        if measured is not None and complete is not None and measured < complete:
            measured = complete
        pending = measured if measured is not None and measured != complete else None
        return cls(complete, measured, pending)

    def state(self, base: TransferState) -> TransferState:
        return base.with_(
            last_sequence=self.last_complete, last_measurement_sequence=self.last_measurement
        )

    def request(self) -> bytes:
        """The RACP request for everything not yet delivered."""
        if self.last_complete is None or self.last_complete >= SEQUENCE_MAX:
            return racp.encode_report_all_records()
        return racp.encode_report_records_from(self.last_complete + 1)

    def _close_pending(self) -> None:
        if self.pending_context is not None:
            self.last_complete = self.pending_context
            self.pending_context = None

    def on_measurement(self, sequence_number: int, context_follows: bool) -> bool:
        """Whether to deliver this measurement (False for a repeat)."""
        if self.pending_context is not None and sequence_number != self.pending_context:
            self._close_pending()  # the announced context never came
        if self.last_complete is not None and sequence_number <= self.last_complete:
            return False
        repeat = self.last_measurement is not None and sequence_number <= self.last_measurement
        if context_follows:
            self.pending_context = sequence_number
        else:
            self.last_complete = sequence_number
            self.pending_context = None
        if not repeat:
            self.last_measurement = sequence_number
        return not repeat

    def on_context(self, sequence_number: int) -> bool:
        """Whether to deliver this context (False when it was delivered already)."""
        if self.last_complete is not None and sequence_number <= self.last_complete:
            return False
        if self.pending_context == sequence_number:
            self.last_complete = sequence_number
            self.pending_context = None
            return True
        return False  # a context for a measurement we did not take

    def on_procedure_end(self) -> None:
        """The RACP procedure finished: an announced context that never came is given up."""
        self._close_pending()


def digest(value: bytes) -> str:
    return hashlib.blake2s(value, digest_size=6).hexdigest()


@dataclass
class WatermarkTracker:
    watermark_ns: int | None = None
    digests: tuple[str, ...] = ()

    @classmethod
    def from_state(cls, state: TransferState) -> WatermarkTracker:
        return cls(state.watermark_ns, state.watermark_digests)

    def state(self, base: TransferState) -> TransferState:
        return base.with_(watermark_ns=self.watermark_ns, watermark_digests=self.digests)

    def accept(self, key_ns: int | None, value: bytes) -> bool:
        """Whether to deliver a stored measurement with device time ``key_ns`` (and remember it)."""
        if key_ns is None:
            return True
        mark = self.watermark_ns
        d = digest(value)
        if mark is not None and key_ns < mark:
            return False
        if mark is not None and key_ns == mark:
            if d in self.digests:
                return False
            self.digests = (*self.digests, d)[-16:]
            return True
        self.watermark_ns = key_ns
        self.digests = (d,)
        return True
