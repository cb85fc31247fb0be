"""Record Access Control Point (0x2A52): request encoders and a parser for what the device sends.

A value is ``op code (u8) | operator (u8) | operand``. Requests: 1 report stored records,
2 delete stored records, 4 report number of stored records (operator 1 all, 2 <=, 3 >=,
4 within range, 5 first, 6 last; operators 2-4 take a filter type byte, 1 = sequence number
(u16 values) or 2 = user facing time (Date Time values)), 3 abort (operator 0, no operand).
Responses (operator 0): 5 number of stored records (u16 count) and 6 response code
(request op code u8, response code value u8: 1 success .. 9 operand not supported).

Errors: FramingError when the operand is too short or too long for its op code/operator;
FieldError for a reserved op code, operator, filter type or response code value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from drivers.ble import uuids
from drivers.ble.date_time import read_date_time
from drivers.ble.reader import Reader

SOURCE = uuids.source(uuids.RECORD_ACCESS_CONTROL_POINT)


class RacpOpCode(enum.IntEnum):
    REPORT_STORED_RECORDS = 1
    DELETE_STORED_RECORDS = 2
    ABORT_OPERATION = 3
    REPORT_NUMBER_OF_STORED_RECORDS = 4
    NUMBER_OF_STORED_RECORDS_RESPONSE = 5
    RESPONSE_CODE = 6


class RacpOperator(enum.IntEnum):
    NULL = 0
    ALL_RECORDS = 1
    LESS_THAN_OR_EQUAL = 2
    GREATER_THAN_OR_EQUAL = 3
    WITHIN_RANGE = 4
    FIRST_RECORD = 5
    LAST_RECORD = 6


class RacpFilterType(enum.IntEnum):
    SEQUENCE_NUMBER = 1
    USER_FACING_TIME = 2


class RacpResponseCode(enum.IntEnum):
    SUCCESS = 1
    OP_CODE_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS_FOUND = 6
    ABORT_UNSUCCESSFUL = 7
    PROCEDURE_NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9


@dataclass(frozen=True, slots=True)
class RacpResponse:
    """Response Code (op 6): how the request with ``request_op_code`` ended."""

    request_op_code: int  # echoed as sent, so it may be an op code the device does not know
    response_code: RacpResponseCode

    @property
    def success(self) -> bool:
        return self.response_code is RacpResponseCode.SUCCESS


@dataclass(frozen=True, slots=True)
class RacpNumberOfRecords:
    """Number of Stored Records Response (op 5)."""

    count: int


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A request (op 1-4), as a client wrote it."""

    op_code: RacpOpCode
    operator: RacpOperator
    filter_type: RacpFilterType | None
    sequence_numbers: tuple[int, ...]  # operands of a sequence-number filter
    times: tuple[datetime | None, ...]  # operands of a user-facing-time filter


RacpValue = RacpResponse | RacpNumberOfRecords | RacpRequest
_OPERAND_COUNT = {
    RacpOperator.ALL_RECORDS: 0,
    RacpOperator.LESS_THAN_OR_EQUAL: 1,
    RacpOperator.GREATER_THAN_OR_EQUAL: 1,
    RacpOperator.WITHIN_RANGE: 2,
    RacpOperator.FIRST_RECORD: 0,
    RacpOperator.LAST_RECORD: 0,
}


def _enum(r: Reader, at: int, value: int, kind: type[enum.IntEnum], what: str) -> int:
    try:
        return kind(value)
    except ValueError:
        raise r.field_error(at, f"{what} {value} is reserved") from None


def parse_racp(data: bytes | bytearray | memoryview) -> RacpValue:
    """Parse any RACP value: a response from the device or a request (see module docstring)."""
    r = Reader(SOURCE, data)
    op = RacpOpCode(_enum(r, 0, r.u8("op code"), RacpOpCode, "op code"))
    operator = RacpOperator(_enum(r, 1, r.u8("operator"), RacpOperator, "operator"))
    is_response = op in (RacpOpCode.RESPONSE_CODE, RacpOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE)
    if (is_response or op is RacpOpCode.ABORT_OPERATION) and operator is not RacpOperator.NULL:
        raise r.field_error(1, f"operator must be Null (0) for op code {op.name}")
    if op is RacpOpCode.RESPONSE_CODE:
        request_op = r.u8("request op code")
        code = RacpResponseCode(
            _enum(r, 3, r.u8("response code value"), RacpResponseCode, "response code value")
        )
        r.end()
        return RacpResponse(request_op, code)
    if op is RacpOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
        count = r.u16("number of records")
        r.end()
        return RacpNumberOfRecords(count)
    if op is RacpOpCode.ABORT_OPERATION:
        r.end()
        return RacpRequest(op, operator, None, (), ())
    if operator is RacpOperator.NULL:
        raise r.field_error(1, f"operator Null (0) is invalid for op code {op.name}")
    count = _OPERAND_COUNT[operator]
    if count == 0:
        r.end()
        return RacpRequest(op, operator, None, (), ())
    filter_type = RacpFilterType(_enum(r, 2, r.u8("filter type"), RacpFilterType, "filter type"))
    seqs: tuple[int, ...] = ()
    times: tuple[datetime | None, ...] = ()
    if filter_type is RacpFilterType.SEQUENCE_NUMBER:
        seqs = tuple(r.u16("sequence number") for _ in range(count))
    else:
        times = tuple(read_date_time(r, "user facing time") for _ in range(count))
    r.end()
    return RacpRequest(op, operator, filter_type, seqs, times)


def parse_racp_response(data: bytes | bytearray | memoryview) -> RacpResponse | RacpNumberOfRecords:
    """Parse a device's RACP indication; a request op code there raises FieldError."""
    value = parse_racp(data)
    if isinstance(value, RacpRequest):
        raise Reader(SOURCE, data).field_error(0, f"op code {value.op_code.name} is not a response")
    return value


def _u16(value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"sequence number {value} outside 0..65535")
    return value.to_bytes(2, "little")


def encode_report_all_records() -> bytes:
    """``01 01``: report all stored records."""
    return bytes((RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.ALL_RECORDS))


def encode_report_records_from(sequence_number: int) -> bytes:
    """``01 03 01 <u16>``: report records with sequence number >= ``sequence_number``."""
    return bytes(
        (
            RacpOpCode.REPORT_STORED_RECORDS,
            RacpOperator.GREATER_THAN_OR_EQUAL,
            RacpFilterType.SEQUENCE_NUMBER,
        )
    ) + _u16(sequence_number)


def encode_report_number_of_all_records() -> bytes:
    """``04 01``: report the number of all stored records."""
    return bytes((RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS, RacpOperator.ALL_RECORDS))


def encode_report_number_of_records_from(sequence_number: int) -> bytes:
    """``04 03 01 <u16>``: count records with sequence number >= ``sequence_number``."""
    return bytes(
        (
            RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS,
            RacpOperator.GREATER_THAN_OR_EQUAL,
            RacpFilterType.SEQUENCE_NUMBER,
        )
    ) + _u16(sequence_number)


def encode_abort() -> bytes:
    """``03 00``: abort the running procedure."""
    return bytes((RacpOpCode.ABORT_OPERATION, RacpOperator.NULL))
