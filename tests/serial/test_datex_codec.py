"""Datex-Ohmeda S/5 framing: the spec's worked frames, escaping, round trips, fuzz, resync."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.datex import requests as rq
from drivers.datex.framing import (
    MAX_WIRE,
    Deframer,
    Frame,
    checksum,
    encode_frame,
    parse_frame_content,
    unescape,
)
from drivers.datex.records import DatexDecoder, PhdbRecord, PhdbRequest, PhdbType, WaveRequest
from gateway.errors import ChecksumError, FramingError, ParseError
from hil.serial_sim import datex_encoder as enc


def _hex(text: str) -> bytes:
    return bytes.fromhex(text)


# The six request frames printed in Appendix A of the S/5 Computer Interface Specification
# (M1017617). Header: r_len lo/hi, r_nbr, dri_level 0, plug_id, r_time, reserved, r_maintype
# at bytes 14-15, sr_desc[0] = (offset 0, type 0), sr_desc[1].sr_type = 0xFF at byte 21.
SPEC_FRAMES = {
    # displayed values every 10 s: 0x31 + 0xFF + 0x01 + 0x0A + 0x0E = 0x149 -> checksum 0x49
    "displayed_10s": _hex(
        "7e 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
        " 00 00 00 00 00 00 ff 00 00 00 00 00 00 00 00 00"
        " 00 00 00 00 00 00 00 00 00 01 0a 00 0e 00 00 00"
        " 00 00 49 7e"
    ),
    # stop displayed values: 0x31 + 0xFF + 0x01 = 0x131 -> 0x31
    "stop_displayed": _hex(
        "7e 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
        " 00 00 00 00 00 00 ff 00 00 00 00 00 00 00 00 00"
        " 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00"
        " 00 00 31 7e"
    ),
    # 60-s trend: 0x31 + 0xFF + 0x03 + 0x3C + 0x0E = 0x17D -> 0x7D, escaped as 7D 5D
    "trend_60s": _hex(
        "7e 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
        " 00 00 00 00 00 00 ff 00 00 00 00 00 00 00 00 00"
        " 00 00 00 00 00 00 00 00 00 03 3c 00 0e 00 00 00"
        " 00 00 7d 5d 7e"
    ),
    # stop 60-s trend: 0x31 + 0xFF + 0x03 = 0x133 -> 0x33
    "stop_trend_60s": _hex(
        "7e 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
        " 00 00 00 00 00 00 ff 00 00 00 00 00 00 00 00 00"
        " 00 00 00 00 00 00 00 00 00 03 00 00 00 00 00 00"
        " 00 00 33 7e"
    ),
    # start ECG1 waves: r_len 0x48, maintype 1, type[0] = 1, type[1] = 0xFF
    # 0x48 + 0x01 + 0xFF + 0x01 + 0xFF = 0x248 -> 0x48
    "wave_ecg1": _hex(
        "7e 48 00 00 00 00 00 00 00 00 00 00 00 00 00 01"
        " 00 00 00 00 00 00 ff 00 00 00 00 00 00 00 00 00"
        " 00 00 00 00 00 00 00 00 00 00 00 00 00 01 ff 00"
        " 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
        " 00 00 00 00 00 00 00 00 00 48 7e"
    ),
    # stop waves: req_type 1, type[0] = 0xFF; 0x48 + 0x01 + 0xFF + 0x01 + 0xFF -> 0x48
    "wave_stop": _hex(
        "7e 48 00 00 00 00 00 00 00 00 00 00 00 00 00 01"
        " 00 00 00 00 00 00 ff 00 00 00 00 00 00 00 00 00"
        " 00 00 00 00 00 00 00 00 00 01 00 00 00 ff 00 00"
        " 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
        " 00 00 00 00 00 00 00 00 00 48 7e"
    ),
}


def test_spec_checksum_worked_example() -> None:
    record = bytearray(49)
    record[0], record[21], record[40], record[41], record[43] = 0x31, 0xFF, 0x01, 0x0A, 0x0E
    assert checksum(bytes(record)) == 0x49
    assert encode_frame(bytes(record)) == SPEC_FRAMES["displayed_10s"]


def test_requests_match_the_spec_frames_byte_for_byte() -> None:
    built = {
        "displayed_10s": rq.displayed_values_request(10),
        "stop_displayed": rq.stop_displayed_values(),
        "trend_60s": rq.trend_request(PhdbType.TREND_60S),
        "stop_trend_60s": rq.stop_trend(PhdbType.TREND_60S),
        "wave_ecg1": rq.wave_request([1]),
        "wave_stop": rq.wave_stop(),
    }
    for name, record in built.items():
        assert rq.to_wire(record) == SPEC_FRAMES[name], name


def test_trend_frame_escapes_its_checksum() -> None:
    wire = SPEC_FRAMES["trend_60s"]
    assert wire[-3:] == b"\x7d\x5d\x7e"
    (frame,) = Deframer().feed(wire)
    assert isinstance(frame, Frame)
    assert frame.checksum == 0x7D
    assert len(frame.record) == 49


def test_spec_frames_decode_as_requests() -> None:
    items = DatexDecoder().feed(b"".join(SPEC_FRAMES.values()))
    assert len(items) == 6
    first = items[0]
    assert isinstance(first, PhdbRecord)
    (req,) = first.subrecords
    assert req == PhdbRequest(record_type=1, tx_ival=10, class_bf=0x0E)
    wave = items[4]
    assert not isinstance(wave, ParseError)
    assert wave.subrecords == (WaveRequest(req_type=0, types=(1,)),)


def test_request_builders_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="600"):
        rq.wave_request([1, 2, 3])  # 3 x 300 samples/s
    with pytest.raises(ValueError, match="at least 5"):
        rq.displayed_values_request(2)
    with pytest.raises(ValueError, match="trend"):
        rq.trend_request(PhdbType.DISPLAYED)


def test_alarm_request_layout() -> None:
    record = rq.alarm_request(rq.AlarmCommand.ENTER_DIFFMODE)
    assert len(record) == 52
    assert record[0] == 52  # r_len lo
    assert record[14] == 4  # r_maintype DRI_MT_ALARM
    assert record[21] == 0xFF  # end of subrecord list
    assert record[40:42] == b"\x02\x00"  # cmd = DRI_AL_ENTER_DIFFMODE
    assert record == enc.alarm_request(2)


def test_escaping_of_data_and_checksum() -> None:
    # record bytes 7E and 7D inside, checksum (0x7E + 0x7D + 0x03) & 0xFF = 0xFE
    record = bytes([0x7E, 0x7D, 0x03])
    wire = encode_frame(record)
    assert wire == bytes([0x7E, 0x7D, 0x5E, 0x7D, 0x5D, 0x03, 0xFE, 0x7E])
    assert enc.frame(record) == wire
    assert parse_frame_content(wire[1:-1]).record == record


def test_bad_escape_and_bad_checksum_are_errors() -> None:
    with pytest.raises(FramingError):
        unescape(bytes([0x01, 0x7D, 0x01]))
    with pytest.raises(FramingError):
        unescape(bytes([0x01, 0x7D]))
    with pytest.raises(ChecksumError):
        parse_frame_content(bytes([0x01, 0x02, 0x04]))
    rec = enc.phdb_request(1, 10, 0x0E)
    (err,) = Deframer().feed(enc.bad_checksum_frame(rec))
    assert isinstance(err, ChecksumError)
    (err2,) = Deframer().feed(enc.unterminated_escape_frame(rec))
    assert isinstance(err2, FramingError)


def test_half_frame_is_not_emitted_until_closed() -> None:
    wire = SPEC_FRAMES["displayed_10s"]
    dec = Deframer()
    assert dec.feed(wire[:-1]) == []
    assert dec.pending == len(wire) - 2
    (frame,) = dec.feed(wire[-1:])
    assert isinstance(frame, Frame)
    assert dec.pending == 0


def test_garbage_before_and_between_frames() -> None:
    wire = SPEC_FRAMES["displayed_10s"]
    items = Deframer().feed(b"\x01\x02\x03" + wire + wire + b"\x55\x66" + wire)
    frames = [i for i in items if isinstance(i, Frame)]
    errors = [i for i in items if isinstance(i, ParseError)]
    assert len(frames) == 3
    # the junk before the first flag, then the junk between two frames as a bad candidate
    assert len(errors) == 2
    assert errors[0].offset == 0
    assert isinstance(errors[1], ChecksumError)


def test_length_guard_bounds_the_buffer() -> None:
    dec = Deframer()
    items = dec.feed(b"\x7e" + b"\x01" * (MAX_WIRE + 10))
    assert len(items) == 1
    assert isinstance(items[0], FramingError)
    assert dec.pending == 0
    assert dec.feed(b"\x02" * 5000) == []  # still hunting, nothing kept
    (frame,) = dec.feed(SPEC_FRAMES["stop_displayed"])
    assert isinstance(frame, Frame)


def test_garbage_without_any_flag_is_reported() -> None:
    dec = Deframer()
    (err,) = dec.feed(b"\x01" * (MAX_WIRE + 1))
    assert isinstance(err, FramingError)
    assert dec.pending == 0


def test_oversized_record_between_flags_is_rejected() -> None:
    big = enc.frame(bytes(1600))
    (err,) = Deframer().feed(big)
    assert isinstance(err, FramingError)


# --- properties -----------------------------------------------------------------------------

records_st = st.binary(min_size=1, max_size=300)


@settings(max_examples=80, deadline=None)
@given(st.lists(records_st, min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_round_trip_any_record_any_chunking(records: list[bytes], rnd: random.Random) -> None:
    stream = b"".join(enc.frame(r) for r in records)
    dec = Deframer()
    out: list[Frame | ParseError] = []
    i = 0
    while i < len(stream):
        n = rnd.randint(1, 64)
        out += dec.feed(stream[i : i + n])
        i += n
    assert [f.record for f in out if isinstance(f, Frame)] == records
    assert not [e for e in out if isinstance(e, ParseError)]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes_never_raise(data: bytes) -> None:
    dec = DatexDecoder()
    for item in dec.feed(data):
        assert not isinstance(item, Frame)
        assert isinstance(item, ParseError) or hasattr(item, "header")
    assert dec.pending <= MAX_WIRE


@settings(max_examples=100, deadline=None)
@given(
    records_st,
    st.binary(min_size=1, max_size=40),
    st.integers(0, 10_000),
    st.sampled_from(["insert", "overwrite", "truncate"]),
)
def test_corruption_then_recovery(record: bytes, junk: bytes, pos: int, how: str) -> None:
    good = enc.frame(record)
    pos %= len(good)
    if how == "insert":
        bad = good[:pos] + junk + good[pos:]
    elif how == "overwrite":
        bad = good[:pos] + junk + good[pos + len(junk) :]
    else:
        bad = enc.truncated_frame(record, pos)
    items = Deframer().feed(bad + good + good)
    frames = [i.record for i in items if isinstance(i, Frame)]
    assert frames[-1] == record
    assert frames.count(record) >= 1
