# ruff: noqa: PT009, PT027 - unittest asserts: these files also run under MicroPython
"""RACP requests/responses and the cuff's record store (golden bytes from the spec)."""

import unittest

from fw_racp import (
    INVALID_OPERAND,
    INVALID_OPERATOR,
    OP_CODE_NOT_SUPPORTED,
    OPERAND_NOT_SUPPORTED,
    OPERATOR_NOT_SUPPORTED,
    RacpRejected,
    number_of_records,
    parse_request,
    response_code,
)
from fw_store import RecordStore


def store_with(n):
    s = RecordStore(capacity=5)
    for k in range(n):
        s.add(bytes((0xA0 + k,)))
    return s


class RequestTest(unittest.TestCase):
    def test_report_all(self):
        self.assertEqual(parse_request(b"\x01\x01"), (1, 1, ()))

    def test_report_ge_sequence(self):
        # 01 03 01 2A 00: report records with sequence number >= 42
        self.assertEqual(parse_request(b"\x01\x03\x01\x2a\x00"), (1, 3, (42,)))

    def test_rejections(self):
        cases = [
            (b"", 0, OP_CODE_NOT_SUPPORTED),
            (b"\x07\x01", 7, OP_CODE_NOT_SUPPORTED),
            (b"\x01", 1, INVALID_OPERATOR),
            (b"\x01\x00", 1, INVALID_OPERATOR),
            (b"\x01\x09", 1, OPERATOR_NOT_SUPPORTED),
            (b"\x01\x01\x00", 1, INVALID_OPERAND),
            (b"\x01\x03\x01\x2a", 1, INVALID_OPERAND),
            (b"\x01\x03\x02\x00\x00\x00\x00\x00\x00\x00", 1, OPERAND_NOT_SUPPORTED),
            (b"\x04\x04\x01\x05\x00\x02\x00", 4, INVALID_OPERAND),  # range 5..2
            (b"\x03\x01", 3, INVALID_OPERATOR),
        ]
        for data, op, code in cases:
            with self.assertRaises(RacpRejected) as ctx:
                parse_request(data)
            self.assertEqual((ctx.exception.op_code, ctx.exception.code), (op, code))

    def test_responses(self):
        self.assertEqual(response_code(1, 1), b"\x06\x00\x01\x01")
        self.assertEqual(number_of_records(258), b"\x05\x00\x02\x01")


class StoreTest(unittest.TestCase):
    def test_report_all(self):
        records, final = store_with(3).handle_racp(b"\x01\x01")
        self.assertEqual(records, [(1, b"\xa0"), (2, b"\xa1"), (3, b"\xa2")])
        self.assertEqual(final, b"\x06\x00\x01\x01")

    def test_report_ge(self):
        records, final = store_with(3).handle_racp(b"\x01\x03\x01\x02\x00")
        self.assertEqual([seq for seq, _ in records], [2, 3])
        self.assertEqual(final, b"\x06\x00\x01\x01")

    def test_report_ge_none_found(self):
        records, final = store_with(3).handle_racp(b"\x01\x03\x01\x09\x00")
        self.assertEqual(records, [])
        self.assertEqual(final, b"\x06\x00\x01\x06")

    def test_number_of_records(self):
        self.assertEqual(store_with(3).handle_racp(b"\x04\x01")[1], b"\x05\x00\x03\x00")
        self.assertEqual(store_with(3).handle_racp(b"\x04\x03\x01\x03\x00")[1], b"\x05\x00\x01\x00")
        self.assertEqual(store_with(0).handle_racp(b"\x04\x01")[1], b"\x05\x00\x00\x00")

    def test_first_last_range_le(self):
        s = store_with(4)
        self.assertEqual([q for q, _ in s.handle_racp(b"\x01\x05")[0]], [1])
        self.assertEqual([q for q, _ in s.handle_racp(b"\x01\x06")[0]], [4])
        self.assertEqual([q for q, _ in s.handle_racp(b"\x01\x04\x01\x02\x00\x03\x00")[0]], [2, 3])
        self.assertEqual([q for q, _ in s.handle_racp(b"\x01\x02\x01\x02\x00")[0]], [1, 2])

    def test_delete_and_abort(self):
        self.assertEqual(store_with(1).handle_racp(b"\x02\x01")[1], b"\x06\x00\x02\x02")
        self.assertEqual(store_with(1).handle_racp(b"\x03\x00")[1], b"\x06\x00\x03\x01")

    def test_bad_request_answers_with_code(self):
        self.assertEqual(store_with(1).handle_racp(b"\x01\x00"), ([], b"\x06\x00\x01\x03"))

    def test_capacity_and_delivery(self):
        s = store_with(7)  # capacity 5: records 3..7 remain
        self.assertEqual(s.sequence_numbers(), [3, 4, 5, 6, 7])
        s.confirm(5)
        self.assertEqual([q for q, _ in s.undelivered()], [6, 7])
        s.confirm(4)  # an older confirmation does not move the mark back
        self.assertEqual(s.delivered, 5)


if __name__ == "__main__":
    unittest.main()
