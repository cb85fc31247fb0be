"""IntelliVue MIB framing: CRC-16/X.25 goldens, escaping by hand, deframer behaviour."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.intellivue.framing import (
    GOOD_RESIDUE,
    Deframer,
    Frame,
    crc16_x25,
    crc16_x25_table,
    decode_body,
    encode_frame,
    escape,
    fcs,
    unescape,
)
from gateway.errors import ChecksumError, FieldError, FramingError, ParseError
from hil.intellivue_sim import encoder

# ------------------------------------------------------------------ CRC goldens


@pytest.mark.parametrize("crc", [crc16_x25, crc16_x25_table, lambda d: encoder.crc16_x25(d)])
def test_crc_catalogue_check_value(crc):
    # CRC-16/X-25 catalogue entry: check = 0x906E over ASCII "123456789", residue 0xF0B8.
    assert crc(b"123456789") ^ 0xFFFF == 0x906E


def test_crc_vectors_from_openice():
    # mdpnp TestFCSOutputStream: 3A 71 leaves the register at 0xD964, FCS 0x269B sent 9B 26.
    assert crc16_x25(bytes.fromhex("3a71")) == 0xD964
    assert fcs(bytes.fromhex("3a71")).to_bytes(2, "little") == bytes.fromhex("9b26")
    # 3A 91 -> FCS bytes 95 C1; the C1 must be escaped on the wire.
    assert fcs(bytes.fromhex("3a91")).to_bytes(2, "little") == bytes.fromhex("95c1")
    assert escape(bytes.fromhex("3a91 95c1")) == bytes.fromhex("3a91 95 7de1")


@given(st.binary(max_size=300))
@settings(max_examples=200)
def test_crc_fast_equals_table_equals_bitwise(data):
    assert crc16_x25(data) == crc16_x25_table(data) == encoder.crc16_x25(data)


@given(st.binary(max_size=300))
@settings(max_examples=200)
def test_good_frame_residue(data):
    assert crc16_x25(data + fcs(data).to_bytes(2, "little")) == GOOD_RESIDUE


# ------------------------------------------------------------- golden frames


def test_golden_frame_escapes_user_data():
    # user data 7D C0 C1 00: header 11 01 00 04, FCS 0xE353 sent 53 E3.
    wire = bytes.fromhex(
        "c0"  # BOF
        "11 01 00 04"  # protocol id, message type, length 4
        "7d 5d 7d e0 7d e1 00"  # 7D -> 7D 5D, C0 -> 7D E0, C1 -> 7D E1, 00
        "53 e3"  # FCS low byte first
        "c1"  # EOF
    )
    assert encode_frame(bytes.fromhex("7dc0c100")) == wire
    assert encoder.frame(bytes.fromhex("7dc0c100")) == wire
    assert Deframer().feed(wire) == [Frame(bytes.fromhex("7dc0c100"), 0xE353)]


@pytest.mark.parametrize(
    ("user_data", "wire"),
    [
        # FCS 0xEAC1: low byte C1 escaped, high byte EA plain.
        ("2b", "c0 11 01 00 01 2b 7d e1 ea c1"),
        # FCS 0x7D50: high byte 7D escaped as 7D 5D.
        ("88", "c0 11 01 00 01 88 50 7d 5d c1"),
        # FCS 0xC09B: high byte C0 escaped as 7D E0.
        ("b0", "c0 11 01 00 01 b0 9b 7d e0 c1"),
    ],
)
def test_golden_frames_escape_the_fcs(user_data, wire):
    assert encode_frame(bytes.fromhex(user_data)) == bytes.fromhex(wire)
    [frame] = Deframer().feed(bytes.fromhex(wire))
    assert isinstance(frame, Frame)
    assert frame.user_data == bytes.fromhex(user_data)


def test_escaped_length_byte_in_header():
    # 192 bytes of user data: the length 00 C0 is itself escaped (00 7D E0).
    wire = encode_frame(bytes(192))
    assert wire[:6] == bytes.fromhex("c0 11 01 00 7d e0")
    assert Deframer().feed(wire) == [
        Frame(bytes(192), fcs(bytes.fromhex("1101 00c0") + bytes(192)))
    ]


@given(st.binary(max_size=200))
def test_escape_round_trip(data):
    escaped = escape(data)
    assert b"\xc0" not in escaped
    assert b"\xc1" not in escaped
    assert unescape(escaped) == data


def test_unescape_rejects_trailing_escape():
    with pytest.raises(FramingError):
        unescape(b"\x01\x7d")


# ------------------------------------------------------------------- deframer


def test_garbage_then_frame_resyncs():
    good = encode_frame(b"\xe1\x00")
    items = Deframer().feed(b"\x00\x7d\xc1\xff" + good)
    assert isinstance(items[0], FramingError)
    assert "4 bytes outside a frame" in items[0].reason
    assert items[1] == Frame(b"\xe1\x00", fcs(b"\x11\x01\x00\x02\xe1\x00"))


def test_aborted_frame_is_dropped_and_counted():
    deframer = Deframer()
    good = encode_frame(b"\x0e")
    items = deframer.feed(b"\xc0\x11\x01\x00\x7d\xc1" + good)
    assert isinstance(items[0], FramingError)
    assert "aborted" in items[0].reason
    assert isinstance(items[1], Frame)
    assert deframer.stats.aborted == 1
    assert deframer.stats.errors == 1
    assert deframer.stats.frames == 1


def test_escaped_escape_before_eof_is_not_an_abort():
    # 7D 7D: the second 7D is escaped data (0x5D), so C1 ends the frame normally.
    items = Deframer().feed(b"\xc0\x11\x01\x00\x7d\x7d\xc1")
    assert len(items) == 1
    assert "aborted" not in items[0].reason  # a checksum error, not an abort


def test_bof_inside_frame_reports_cut_frame():
    good = encode_frame(b"\xe1")
    items = Deframer().feed(b"\xc0\x11\x01" + good)
    assert isinstance(items[0], FramingError)
    assert "cut short" in items[0].reason
    assert isinstance(items[1], Frame)


def test_corrupt_fcs_is_checksum_error():
    wire = bytearray(encode_frame(b"\xe1\x00\x00\x02"))
    wire[5] ^= 0x01
    [item] = Deframer().feed(bytes(wire))
    assert isinstance(item, ChecksumError)


def test_wrong_header_is_field_error():
    body = bytes.fromhex("12 01 00 01 aa")
    wire = b"\xc0" + escape(body + fcs(body).to_bytes(2, "little")) + b"\xc1"
    [item] = Deframer().feed(wire)
    assert isinstance(item, FieldError)


def test_length_mismatch_is_framing_error():
    body = bytes.fromhex("11 01 00 05 aa")  # says 5, carries 1
    with pytest.raises(FramingError):
        decode_body(body + fcs(body).to_bytes(2, "little"))


def test_short_frame_is_framing_error():
    [item] = Deframer().feed(b"\xc0\x11\x01\xc1")
    assert isinstance(item, FramingError)


def test_oversized_frame_is_rejected_and_buffer_bounded():
    deframer = Deframer(max_user_data=16)
    limit = 2 * (4 + 16 + 2)
    items = deframer.feed(b"\xc0" + b"\x55" * 1000)
    assert len(items) == 1
    assert "longer than" in items[0].reason
    assert deframer.pending == 0
    items = deframer.feed(b"\x55" * 5000 + b"\xc1" + encode_frame(b"\x01" * 16))
    assert items == [Frame(b"\x01" * 16, fcs(bytes.fromhex("1101 0010") + b"\x01" * 16))]
    assert deframer.stats.oversized == 1
    assert deframer.pending <= limit


def test_user_data_over_limit_after_unescape_is_rejected():
    [item] = Deframer(max_user_data=8).feed(encode_frame(b"\x00" * 9))
    assert isinstance(item, FramingError)


@st.composite
def streams(draw):
    """Frames mixed with garbage, and a random split of the stream into chunks."""
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            parts.append(encode_frame(draw(st.binary(max_size=60))))
        else:
            parts.append(draw(st.binary(max_size=30)))
    stream = b"".join(parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    return stream, cuts


def _summary(items):
    return [(type(i).__name__, i.user_data if isinstance(i, Frame) else i.reason) for i in items]


@given(streams())
@settings(max_examples=150)
def test_chunking_never_changes_the_output(case):
    stream, cuts = case
    whole = Deframer().feed(stream)
    chunked_deframer = Deframer()
    chunked = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        chunked.extend(chunked_deframer.feed(stream[a:b]))
    assert _summary(chunked) == _summary(whole)


@given(st.lists(st.binary(max_size=80), max_size=5), st.binary(max_size=40))
@settings(max_examples=100)
def test_frames_survive_leading_garbage(payloads, garbage):
    deframer = Deframer()
    deframer.feed(garbage)
    items = deframer.feed(b"".join(encode_frame(p) for p in payloads))
    assert [i.user_data for i in items if isinstance(i, Frame)] == payloads


@given(st.binary(max_size=2000))
@settings(max_examples=300)
def test_fuzz_random_bytes_never_raise(data):
    deframer = Deframer(max_user_data=64)
    for item in deframer.feed(data) + deframer.feed(data[::-1]):
        assert isinstance(item, Frame | ParseError)
    assert deframer.pending <= 2 * (4 + 64 + 2)
