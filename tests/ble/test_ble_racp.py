"""Record Access Control Point (0x2A52): request encoders and response parsing."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble import racp
from drivers.ble.racp import (
    RacpFilterType,
    RacpNumberOfRecords,
    RacpOpCode,
    RacpOperator,
    RacpRequest,
    RacpResponse,
    RacpResponseCode,
    parse_racp,
    parse_racp_response,
)
from gateway.errors import FieldError, FramingError
from hil.ble import encoders


def test_request_encoders_golden() -> None:
    assert racp.encode_report_all_records() == bytes([0x01, 0x01])  # report, all
    # report, >=, filter sequence number, 42 little-endian
    assert racp.encode_report_records_from(42) == bytes([0x01, 0x03, 0x01, 0x2A, 0x00])
    assert racp.encode_report_number_of_all_records() == bytes([0x04, 0x01])  # count, all
    assert racp.encode_report_number_of_records_from(0x1234) == bytes(
        [0x04, 0x03, 0x01, 0x34, 0x12]
    )
    assert racp.encode_abort() == bytes([0x03, 0x00])  # abort, null operator
    with pytest.raises(ValueError):
        racp.encode_report_records_from(0x10000)


def test_response_code_golden() -> None:
    value = parse_racp_response(bytes([0x06, 0x00, 0x01, 0x01]))  # response to op 1: success
    assert value == RacpResponse(1, RacpResponseCode.SUCCESS)
    assert isinstance(value, RacpResponse) and value.success
    value = parse_racp_response(bytes([0x06, 0x00, 0x01, 0x06]))  # no records found
    assert isinstance(value, RacpResponse)
    assert value.response_code is RacpResponseCode.NO_RECORDS_FOUND and not value.success
    # a device echoes an op code it does not support
    value = parse_racp_response(bytes([0x06, 0x00, 0x09, 0x02]))
    assert value == RacpResponse(9, RacpResponseCode.OP_CODE_NOT_SUPPORTED)


def test_number_of_records_golden() -> None:
    value = parse_racp_response(bytes([0x05, 0x00, 0x2C, 0x01]))  # 0x012C = 300 records
    assert value == RacpNumberOfRecords(300)


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (bytes([0x00, 0x00]), 0),  # op code 0 reserved
        (bytes([0x07, 0x00]), 0),  # op code 7 unknown here
        (bytes([0x06, 0x07, 0x01, 0x01]), 1),  # operator 7 reserved
        (bytes([0x06, 0x01, 0x01, 0x01]), 1),  # response with a non-null operator
        (bytes([0x06, 0x00, 0x01, 0x0A]), 3),  # response code value 10 reserved
        (bytes([0x06, 0x00, 0x01, 0x00]), 3),  # response code value 0 reserved
        (bytes([0x01, 0x00]), 1),  # report with operator null
        (bytes([0x01, 0x03, 0x03, 0x2A, 0x00]), 2),  # filter type 3 reserved
    ],
)
def test_reserved_values(data: bytes, offset: int) -> None:
    with pytest.raises(FieldError) as info:
        parse_racp(data)
    assert info.value.offset == offset
    assert info.value.source == "0x2A52 Record Access Control Point"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes([0x06]),  # no operator
        bytes([0x06, 0x00, 0x01]),  # response code missing
        bytes([0x06, 0x00, 0x01, 0x01, 0x00]),  # trailing
        bytes([0x05, 0x00, 0x2C]),  # count cut short
        bytes([0x01, 0x03, 0x01, 0x2A]),  # sequence number cut short
        bytes([0x01, 0x01, 0x00]),  # operand after "all records"
        bytes([0x03, 0x00, 0x00]),  # operand after abort
    ],
)
def test_framing_errors(data: bytes) -> None:
    with pytest.raises(FramingError):
        parse_racp(data)


def test_requests_parse_back() -> None:
    assert parse_racp(racp.encode_report_records_from(42)) == RacpRequest(
        RacpOpCode.REPORT_STORED_RECORDS,
        RacpOperator.GREATER_THAN_OR_EQUAL,
        RacpFilterType.SEQUENCE_NUMBER,
        (42,),
        (),
    )
    assert parse_racp(racp.encode_abort()) == RacpRequest(
        RacpOpCode.ABORT_OPERATION, RacpOperator.NULL, None, (), ()
    )
    within_time = (
        bytes([0x02, 0x04, 0x02])
        + encoders.date_time(
            datetime(2024, 1, 1)  # noqa: DTZ001
        )
        + encoders.date_time(None)
    )
    value = parse_racp(within_time)  # delete within a user-facing-time range
    assert isinstance(value, RacpRequest)
    assert value.times == (datetime(2024, 1, 1), None)  # noqa: DTZ001
    with pytest.raises(FieldError):
        parse_racp_response(racp.encode_report_all_records())  # a request is not a response


@settings(max_examples=100)
@given(st.integers(0, 255), st.integers(1, 9))
def test_response_code_round_trip(request_op: int, code: int) -> None:
    value = parse_racp_response(encoders.racp_response_code(request_op, code))
    assert value == RacpResponse(request_op, RacpResponseCode(code))


@settings(max_examples=100)
@given(st.integers(0, 0xFFFF))
def test_number_of_records_round_trip(count: int) -> None:
    assert parse_racp_response(encoders.racp_number_of_records(count)) == RacpNumberOfRecords(count)
    request = parse_racp(racp.encode_report_number_of_records_from(count))
    assert isinstance(request, RacpRequest) and request.sequence_numbers == (count,)
