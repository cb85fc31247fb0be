"""Nonin format 7 / 8 codec: golden bytes from the OEM spec, round trips, fuzz, resync."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.nonin.codec import (
    Format7Decoder,
    Format8Decoder,
    Packet7,
    Perfusion,
    Record8,
    Stat2,
    Status,
    Status8,
    parse_frame7,
    parse_record8,
)
from gateway.errors import ChecksumError, FramingError, ParseError
from hil.serial_sim import nonin_encoder as enc

# One format 7 packet written by hand from the spec. Columns: STATUS, PLETH MSB, PLETH LSB,
# FLOAT, CHK (= sum of the first four mod 256). Pleth is 0x0100 + frame number.
# HR 300 = 0b1_0010_1100 -> MSB 0x02 (bits 8-7), LSB 0x2C (bits 6-0).
GOLDEN_PACKET = bytes(
    [
        0x81, 0x01, 0x01, 0x02, 0x85,  # 1  SYNC;      HR MSB 2
        0x80, 0x01, 0x02, 0x2C, 0xAF,  # 2             HR LSB 44      -> HR 300
        0x80, 0x01, 0x03, 0x5F, 0xE3,  # 3             SpO2 95
        0x80, 0x01, 0x04, 0x42, 0xC7,  # 4             SREV 0x42
        0x80, 0x01, 0x05, 0x00, 0x86,  # 5             reserved
        0x80, 0x01, 0x06, 0x00, 0x87,  # 6             TMR MSB 0
        0x80, 0x01, 0x07, 0x05, 0x8D,  # 7             TMR LSB 5
        0x80, 0x01, 0x08, 0x21, 0xAA,  # 8             STAT2: SPA | low battery
        0x80, 0x01, 0x09, 0x60, 0xEA,  # 9             SpO2-D 96
        0xA0, 0x01, 0x0A, 0x5E, 0x09,  # 10 ARTF;      SpO2 fast 94   (0x109 -> 0x09)
        0x86, 0x01, 0x0B, 0x5D, 0xEF,  # 11 RPRF|GPRF; SpO2 B-B 93    (yellow perfusion)
        0x80, 0x01, 0x0C, 0x00, 0x8D,  # 12            reserved
        0x80, 0x01, 0x0D, 0x00, 0x8E,  # 13            reserved
        0x80, 0x01, 0x0E, 0x02, 0x91,  # 14            E-HR MSB 2
        0x80, 0x01, 0x0F, 0x2B, 0xBB,  # 15            E-HR LSB 43    -> E-HR 299
        0x80, 0x01, 0x10, 0x5F, 0xF0,  # 16            E-SpO2 95
        0x80, 0x01, 0x11, 0x60, 0xF2,  # 17            E-SpO2-D 96
        0x80, 0x01, 0x12, 0x00, 0x93,  # 18            reserved
        0x80, 0x01, 0x13, 0x00, 0x94,  # 19            reserved
        0x80, 0x01, 0x14, 0x02, 0x97,  # 20            HR-D MSB 2
        0x80, 0x01, 0x15, 0x2D, 0xC3,  # 21            HR-D LSB 45    -> HR-D 301
        0x80, 0x01, 0x16, 0x02, 0x99,  # 22            E-HR-D MSB 2
        0x80, 0x01, 0x17, 0x2A, 0xC2,  # 23            E-HR-D LSB 42  -> E-HR-D 298
        0x80, 0x01, 0x18, 0x00, 0x99,  # 24            reserved
        0x80, 0x01, 0x19, 0x00, 0x9A,  # 25            reserved
    ]
)  # fmt: skip


def _packets(items: list[Packet7 | ParseError]) -> list[Packet7]:
    return [i for i in items if isinstance(i, Packet7)]


def _errors(items: list[Packet7 | ParseError]) -> list[ParseError]:
    return [i for i in items if isinstance(i, ParseError)]


def test_single_frame_checksum_worked_example() -> None:
    # 0x81 + 0x12 + 0x34 + 0x00 = 0xC7
    frame = parse_frame7(bytes([0x81, 0x12, 0x34, 0x00, 0xC7]))
    assert frame.sync
    assert frame.pleth == 0x1234
    assert frame.checksum == 0xC7
    with pytest.raises(ChecksumError):
        parse_frame7(bytes([0x81, 0x12, 0x34, 0x00, 0xC8]))
    with pytest.raises(FramingError):
        parse_frame7(bytes([0x01, 0x12, 0x34, 0x00, 0x47]))  # bit 7 clear, sum is right
    with pytest.raises(FramingError):
        parse_frame7(bytes([0x81, 0x12, 0x34]))


def test_golden_packet_values() -> None:
    items = Format7Decoder().feed(GOLDEN_PACKET)
    assert _errors(items) == []
    (p,) = _packets(items)
    assert p.hr == 300
    assert p.spo2 == 95
    assert p.srev == 0x42
    assert p.timer == 5
    assert p.stat2 == Stat2.SMARTPOINT | Stat2.LOW_BATTERY
    assert (p.spo2_d, p.spo2_fast, p.spo2_bb) == (96, 94, 93)
    assert (p.e_hr, p.e_spo2, p.e_spo2_d) == (299, 95, 96)
    assert (p.hr_d, p.e_hr_d) == (301, 298)
    assert p.pleth == tuple(0x0100 + k for k in range(1, 26))
    assert p.flags == Status.ARTF | Status.RPRF | Status.GPRF
    assert p.perfusion[10] is Perfusion.YELLOW
    assert p.perfusion[0] is Perfusion.NONE


def test_golden_packet_fed_byte_by_byte() -> None:
    dec = Format7Decoder()
    out: list[Packet7 | ParseError] = []
    for b in GOLDEN_PACKET:
        out += dec.feed(bytes([b]))
    assert len(_packets(out)) == 1
    assert _errors(out) == []


def test_encoder_reproduces_golden_packet() -> None:
    values = enc.PacketValues(
        hr=300,
        spo2=95,
        srev=0x42,
        timer=5,
        stat2=0x21,
        spo2_d=96,
        spo2_fast=94,
        spo2_bb=93,
        e_hr=299,
        e_spo2=95,
        e_spo2_d=96,
        hr_d=301,
        e_hr_d=298,
        pleth=[0x0100 + k for k in range(1, 26)],
        statuses=[0] * 9 + [enc.ARTF, enc.RPRF | enc.GPRF] + [0] * 14,
    )
    assert enc.encode_packet7(values) == GOLDEN_PACKET


def test_half_frame_and_half_packet_are_not_emitted() -> None:
    dec = Format7Decoder()
    assert dec.feed(GOLDEN_PACKET[:-3]) == []
    assert dec.pending == len(GOLDEN_PACKET) - 3
    (p,) = dec.feed(GOLDEN_PACKET[-3:])
    assert isinstance(p, Packet7)
    assert dec.pending == 0


def test_resync_after_garbage_reports_once_then_decodes() -> None:
    junk = bytes([0x13, 0x00, 0x7F, 0x55])  # no byte has bit 7 set: cannot look like a status
    items = Format7Decoder().feed(junk + GOLDEN_PACKET)
    errors = _errors(items)
    assert len(errors) == 1
    assert isinstance(errors[0], FramingError)
    assert errors[0].offset == 0
    assert len(_packets(items)) == 1


def test_endless_garbage_is_still_reported() -> None:
    dec = Format7Decoder()
    (err,) = dec.feed(bytes(range(0x7F)) * 8)  # 1016 bytes, none with bit 7 set
    assert isinstance(err, FramingError)
    assert "1012 bytes" in err.reason  # the last 4 wait for more data
    assert dec.pending < 5
    assert dec.feed(bytes(10)) == []  # short runs wait until sync is found
    assert Format8Decoder().feed(bytes(1000)) != []


def test_joining_mid_packet_skips_frames_quietly() -> None:
    items = Format7Decoder().feed(GOLDEN_PACKET[50:] + GOLDEN_PACKET)
    assert _errors(items) == []
    assert len(_packets(items)) == 1


def test_bad_checksum_drops_packet_and_recovers() -> None:
    broken = GOLDEN_PACKET[:20] + enc.bad_checksum(GOLDEN_PACKET[20:25]) + GOLDEN_PACKET[25:]
    items = Format7Decoder().feed(GOLDEN_PACKET + broken + GOLDEN_PACKET)
    assert len(_packets(items)) == 2
    assert any(isinstance(e, ChecksumError) for e in _errors(items))


def test_sync_too_early_drops_short_packet() -> None:
    items = Format7Decoder().feed(GOLDEN_PACKET[:50] + GOLDEN_PACKET)
    errors = _errors(items)
    assert len(errors) == 1
    assert "10 of 25" in errors[0].reason
    assert len(_packets(items)) == 1


def test_missing_sync_after_25_frames_is_reported() -> None:
    no_sync = bytes([0x80, 0x01, 0x01, 0x02, 0x84]) + GOLDEN_PACKET[5:]
    items = Format7Decoder().feed(GOLDEN_PACKET + no_sync + GOLDEN_PACKET)
    assert len(_packets(items)) == 2
    assert any("expected SYNC" in e.reason for e in _errors(items))


# --- format 8 -------------------------------------------------------------------------------

# HR 300, SpO2 95, OOT: status = 0x80 | 0x20 (OOT) | 0x02 (HR bits 8-7 = 0b10)
GOLDEN_RECORD8 = bytes([0xA2, 0x2C, 0x5F, 0x21])
# HR 511 (bits 8-7 = 0b11, bits 6-0 = 0x7F), SpO2 127: no values.
MISSING_RECORD8 = bytes([0x83, 0x7F, 0x7F, 0x00])


def test_format8_golden() -> None:
    r = parse_record8(GOLDEN_RECORD8)
    assert (r.hr, r.spo2) == (300, 95)
    assert r.status == Status8.OOT
    assert r.stat2 == Stat2.SMARTPOINT | Stat2.LOW_BATTERY
    m = parse_record8(MISSING_RECORD8)
    assert (m.hr, m.spo2) == (511, 127)
    with pytest.raises(FramingError):
        parse_record8(bytes([0xA2, 0xAC, 0x5F, 0x21]))
    with pytest.raises(FramingError):
        parse_record8(bytes([0x22, 0x2C, 0x5F, 0x21]))


def test_format8_stream_resync_and_partial() -> None:
    dec = Format8Decoder()
    items = dec.feed(b"\x01\x02" + GOLDEN_RECORD8 + MISSING_RECORD8[:2])
    assert [type(i) for i in items] == [FramingError, Record8]
    assert dec.pending == 2
    (r,) = dec.feed(MISSING_RECORD8[2:])
    assert isinstance(r, Record8)
    assert r.hr == 511


# --- properties -----------------------------------------------------------------------------

u7 = st.integers(0, 127)
rate = st.integers(0, 511)
values_st = st.builds(
    enc.PacketValues,
    hr=rate,
    spo2=u7,
    srev=st.integers(0, 255),
    timer=st.integers(0, 2**14 - 1),
    stat2=st.sampled_from([0, 0x01, 0x02, 0x04, 0x20, 0x21, 0x27]),
    spo2_d=u7,
    spo2_fast=u7,
    spo2_bb=u7,
    e_hr=rate,
    e_spo2=u7,
    e_spo2_d=u7,
    hr_d=rate,
    e_hr_d=rate,
    pleth=st.lists(st.integers(0, 0xFFFF), min_size=25, max_size=25),
    statuses=st.lists(st.integers(0, 0x7F).map(lambda s: s & 0x7E), min_size=25, max_size=25),
)


def _check(p: Packet7, v: enc.PacketValues) -> None:
    assert (p.hr, p.spo2, p.srev, p.timer, int(p.stat2)) == (
        v.hr,
        v.spo2,
        v.srev,
        v.timer,
        v.stat2,
    )
    assert (p.spo2_d, p.spo2_fast, p.spo2_bb) == (v.spo2_d, v.spo2_fast, v.spo2_bb)
    assert (p.e_hr, p.e_spo2, p.e_spo2_d, p.hr_d, p.e_hr_d) == (
        v.e_hr,
        v.e_spo2,
        v.e_spo2_d,
        v.hr_d,
        v.e_hr_d,
    )
    assert p.pleth == tuple(v.pleth)
    assert [s & 0x7E for s in p.statuses] == list(v.statuses)


@settings(max_examples=60, deadline=None)
@given(st.lists(values_st, min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_round_trip_encoder_to_decoder_any_chunking(
    values: list[enc.PacketValues], rnd: random.Random
) -> None:
    stream = b"".join(enc.encode_packet7(v) for v in values)
    dec = Format7Decoder()
    out: list[Packet7 | ParseError] = []
    i = 0
    while i < len(stream):
        n = rnd.randint(1, 40)
        out += dec.feed(stream[i : i + n])
        i += n
    assert _errors(out) == []
    packets = _packets(out)
    assert len(packets) == len(values)
    for p, v in zip(packets, values, strict=True):
        _check(p, v)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_never_raise(data: bytes) -> None:
    dec = Format7Decoder()
    for item in dec.feed(data) + dec.feed(data[::-1]):
        assert isinstance(item, Packet7 | ParseError)
    assert dec.pending < 5 + 5 * 25
    dec8 = Format8Decoder()
    for item8 in dec8.feed(data):
        assert isinstance(item8, Record8 | ParseError)
    assert dec8.pending < 4


@settings(max_examples=100, deadline=None)
@given(
    values_st,
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "insert", "delete"]),
            st.integers(0, 124),
            st.binary(min_size=1, max_size=9),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_corrupted_stream_recovers_next_packets(
    v: enc.PacketValues, edits: list[tuple[str, int, bytes]]
) -> None:
    good = enc.encode_packet7(v)
    bad = bytearray(good)
    for kind, pos, junk in edits:
        pos %= len(bad) or 1
        if kind == "flip" and bad:
            bad[pos] ^= junk[0] or 1
        elif kind == "insert":
            bad[pos:pos] = junk
        elif bad:
            del bad[pos : pos + len(junk)]
    items = Format7Decoder().feed(good + bytes(bad) + good * 3)
    for item in items:
        assert isinstance(item, Packet7 | ParseError)
    packets = _packets(items)
    assert len(packets) >= 3  # the first clean packet and at least the last two
    _check(packets[0], v)
    _check(packets[-1], v)


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from([0, enc.F8_ARTF, enc.F8_OOT, enc.F8_SNSD, enc.F8_LPRF | enc.F8_MPRF]),
    rate,
    u7,
    st.sampled_from([0, 0x01, 0x02, 0x08, 0x20]),
    st.binary(max_size=12).map(lambda b: bytes(x & 0x7F for x in b)),
)
def test_format8_round_trip_after_garbage(
    status: int, hr: int, spo2: int, stat2: int, junk: bytes
) -> None:
    wire = junk + enc.encode_record8(status, hr, spo2, stat2)
    items = Format8Decoder().feed(wire)
    records = [i for i in items if isinstance(i, Record8)]
    assert len(records) == 1
    r = records[0]
    assert (r.hr, r.spo2, int(r.status), int(r.stat2)) == (hr, spo2, status, stat2)
    assert len(items) == (2 if junk else 1)
