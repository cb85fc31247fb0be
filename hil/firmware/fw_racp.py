"""Record Access Control Point (0x2A52) request parser and response encoders (portable core).

Request: ``op code u8 | operator u8 | operand``. Op codes 1 report stored records, 2 delete,
3 abort, 4 report number of stored records; operators 0 null, 1 all, 2 <=, 3 >=, 4 within
range, 5 first, 6 last; operators 2-4 take a filter type byte (1 sequence number with u16
operands, 2 user facing time) before their operands. Responses (operator 0): op 5 ``05 00
<u16 count>``, op 6 ``06 00 <request op> <code>``.
"""

import struct

OP_REPORT = 1
OP_DELETE = 2
OP_ABORT = 3
OP_REPORT_NUMBER = 4
OP_NUMBER_RESPONSE = 5
OP_RESPONSE_CODE = 6

OPERATOR_NULL = 0
OPERATOR_ALL = 1
OPERATOR_LE = 2
OPERATOR_GE = 3
OPERATOR_RANGE = 4
OPERATOR_FIRST = 5
OPERATOR_LAST = 6

FILTER_SEQUENCE = 1
FILTER_USER_FACING_TIME = 2

SUCCESS = 1
OP_CODE_NOT_SUPPORTED = 2
INVALID_OPERATOR = 3
OPERATOR_NOT_SUPPORTED = 4
INVALID_OPERAND = 5
NO_RECORDS_FOUND = 6
ABORT_UNSUCCESSFUL = 7
PROCEDURE_NOT_COMPLETED = 8
OPERAND_NOT_SUPPORTED = 9

# operator -> number of operand values after the filter type byte
_OPERANDS = {
    OPERATOR_ALL: 0,
    OPERATOR_LE: 1,
    OPERATOR_GE: 1,
    OPERATOR_RANGE: 2,
    OPERATOR_FIRST: 0,
    OPERATOR_LAST: 0,
}


class RacpRejected(Exception):
    """A request the device answers with a Response Code other than success."""

    def __init__(self, op_code: int, code: int) -> None:
        super().__init__("RACP op " + str(op_code) + " rejected with code " + str(code))
        self.op_code = op_code
        self.code = code


def response_code(request_op: int, code: int) -> bytes:
    """``06 00 <request op> <code>``."""
    return bytes((OP_RESPONSE_CODE, OPERATOR_NULL, request_op & 0xFF, code))


def number_of_records(count: int) -> bytes:
    """``05 00 <u16 count>``."""
    return bytes((OP_NUMBER_RESPONSE, OPERATOR_NULL)) + struct.pack("<H", count)


def request(op_code: int, operator: int, sequence_numbers: "tuple[int, ...]" = ()) -> bytes:
    """Encode a request; a sequence-number filter is added when operands are given."""
    out = bytearray((op_code, operator))
    if sequence_numbers:
        out.append(FILTER_SEQUENCE)
        for n in sequence_numbers:
            out += struct.pack("<H", n)
    return bytes(out)


def parse_request(data: bytes) -> "tuple[int, int, tuple[int, ...]]":
    """``(op code, operator, sequence-number operands)`` of a client's write.

    Raises :class:`RacpRejected` with the response code the device must indicate.
    """
    if not data:
        raise RacpRejected(0, OP_CODE_NOT_SUPPORTED)
    op = data[0]
    if op not in (OP_REPORT, OP_DELETE, OP_ABORT, OP_REPORT_NUMBER):
        raise RacpRejected(op, OP_CODE_NOT_SUPPORTED)
    if len(data) < 2:
        raise RacpRejected(op, INVALID_OPERATOR)
    operator = data[1]
    if op == OP_ABORT:
        if operator != OPERATOR_NULL or len(data) != 2:
            raise RacpRejected(
                op, INVALID_OPERATOR if operator != OPERATOR_NULL else INVALID_OPERAND
            )
        return op, operator, ()
    if operator == OPERATOR_NULL:
        raise RacpRejected(op, INVALID_OPERATOR)
    if operator not in _OPERANDS:
        raise RacpRejected(op, OPERATOR_NOT_SUPPORTED)
    count = _OPERANDS[operator]
    if count == 0:
        if len(data) != 2:
            raise RacpRejected(op, INVALID_OPERAND)
        return op, operator, ()
    if len(data) < 3:
        raise RacpRejected(op, INVALID_OPERAND)
    if data[2] != FILTER_SEQUENCE:
        code = OPERAND_NOT_SUPPORTED if data[2] == FILTER_USER_FACING_TIME else INVALID_OPERAND
        raise RacpRejected(op, code)
    if len(data) != 3 + 2 * count:
        raise RacpRejected(op, INVALID_OPERAND)
    values = tuple(struct.unpack("<H", data[3 + 2 * k : 5 + 2 * k])[0] for k in range(count))
    if operator == OPERATOR_RANGE and values[0] > values[1]:
        raise RacpRejected(op, INVALID_OPERAND)
    return op, operator, values


def select(
    sequence_numbers: "list[int]", operator: int, operands: "tuple[int, ...]"
) -> "list[int]":
    """The stored sequence numbers (ascending) that ``operator`` and ``operands`` pick."""
    if not sequence_numbers:
        return []
    if operator == OPERATOR_ALL:
        return list(sequence_numbers)
    if operator == OPERATOR_FIRST:
        return [sequence_numbers[0]]
    if operator == OPERATOR_LAST:
        return [sequence_numbers[-1]]
    if operator == OPERATOR_LE:
        return [n for n in sequence_numbers if n <= operands[0]]
    if operator == OPERATOR_GE:
        return [n for n in sequence_numbers if n >= operands[0]]
    if operator == OPERATOR_RANGE:
        return [n for n in sequence_numbers if operands[0] <= n <= operands[1]]
    return []
