"""Stored blood pressure records of the emulated cuff and the RACP procedures on them.

Each record is a 0x2A35 value with a sequence number (1, 2, ...; the cuff keeps the last
``capacity`` records). :meth:`RecordStore.handle_racp` answers a client's RACP write with the
records to indicate (oldest first) and the final RACP indication; the device layer sends
them. Records not yet confirmed by the client are also offered on connection
(:meth:`RecordStore.undelivered`), as a spot-check cuff does. Portable core.
"""

from fw_racp import (
    NO_RECORDS_FOUND,
    OP_ABORT,
    OP_CODE_NOT_SUPPORTED,
    OP_DELETE,
    OP_REPORT,
    OP_REPORT_NUMBER,
    SUCCESS,
    RacpRejected,
    number_of_records,
    parse_request,
    response_code,
    select,
)


class RecordStore:
    """Bounded list of ``(sequence number, payload)`` records, oldest first."""

    def __init__(self, capacity: int = 100) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.records: "list[tuple[int, bytes]]" = []  # noqa: UP037 - pyright (3.8 mode) needs it
        self.next_sequence = 1
        self.delivered = 0  # highest sequence number the client confirmed

    def add(self, payload: bytes) -> int:
        """Store a record; returns its sequence number. The oldest is dropped when full."""
        seq = self.next_sequence
        if seq > 0xFFFF:
            raise ValueError("sequence numbers exhausted (65535 records)")
        self.next_sequence = seq + 1
        self.records.append((seq, payload))
        if len(self.records) > self.capacity:
            del self.records[0]
        return seq

    def sequence_numbers(self) -> "list[int]":
        return [seq for seq, _ in self.records]

    def get(self, seq: int) -> "bytes | None":
        for n, payload in self.records:
            if n == seq:
                return payload
        return None

    def confirm(self, seq: int) -> None:
        """The client confirmed the indication of record ``seq``."""
        if seq > self.delivered:
            self.delivered = seq

    def undelivered(self) -> "list[tuple[int, bytes]]":
        """Records newer than the last confirmed one, oldest first."""
        return [(seq, p) for seq, p in self.records if seq > self.delivered]

    def handle_racp(self, data: bytes) -> "tuple[list[tuple[int, bytes]], bytes]":
        """Records to send and the RACP indication that ends the procedure."""
        try:
            op, operator, operands = parse_request(bytes(data))
        except RacpRejected as exc:
            return [], response_code(exc.op_code, exc.code)
        if op == OP_ABORT:
            return [], response_code(op, SUCCESS)  # nothing runs in the background to abort
        if op == OP_DELETE:
            return [], response_code(op, OP_CODE_NOT_SUPPORTED)
        picked = select(self.sequence_numbers(), operator, operands)
        if op == OP_REPORT_NUMBER:
            return [], number_of_records(len(picked))
        if op == OP_REPORT:
            if not picked:
                return [], response_code(op, NO_RECORDS_FOUND)
            out = []
            for seq in picked:
                payload = self.get(seq)
                if payload is not None:
                    out.append((seq, payload))
            return out, response_code(op, SUCCESS)
        return [], response_code(op, OP_CODE_NOT_SUPPORTED)  # pragma: no cover - parse rejects
