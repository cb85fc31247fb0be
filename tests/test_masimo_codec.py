"""Masimo Radical-7 ASCII output: golden lines, round trips through the simulator, fuzz."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.masimo.codec import Exception_, MasimoDecoder, MasimoReading, parse_line
from drivers.masimo.measurements import to_measurements
from gateway.errors import FieldError, FramingError, ParseError
from gateway.model import Quality, ReceiveTime
from hil.sim.masimo_sim import OximeterSample, format_line

# A Radical-7 "Serial 1" line as the service manual shows the layout, with values filled in.
GOLDEN = (
    b"05/15/07 08:12:21 SN=0000070986 SPO2=098% BPM=072 PI=02.34% SPCO=--.-% "
    b"SPMET=--.-% DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000820\r\n"
)


def test_golden_line_decodes_every_word() -> None:
    r = parse_line(GOLDEN)
    assert r.device_time == datetime(2007, 5, 15, 8, 12, 21)  # noqa: DTZ001 - device clock
    assert r.serial_number == "0000070986"
    assert r.values["SPO2"] == 98.0
    assert r.values["BPM"] == 72.0
    assert r.values["PI"] == 2.34
    for dashed in ("SPCO", "SPMET", "DESAT", "PIDELTA", "PVI"):
        assert r.values[dashed] is None, dashed
    assert r.alarm == 0
    assert r.raw_exceptions == 0x820
    assert r.exceptions == Exception_.SENSOR_OFF | Exception_.MASIMO_SET
    assert r.sensor_fault


def test_dashes_become_missing_values_never_zero() -> None:
    line = GOLDEN.replace(b"SPO2=098%", b"SPO2=---%").replace(b"BPM=072", b"BPM=---")
    r = parse_line(line)
    ms = {m.mdc_code: m for m in to_measurements(r, "dev", ReceiveTime(1, 1))}
    spo2 = ms[150456]
    assert spo2.value != spo2.value  # NaN
    assert Quality.UNAVAILABLE in spo2.quality
    assert Quality.INVALID in spo2.quality  # sensor off in EXC


def test_quality_flags_from_exception_word() -> None:
    clean = parse_line(GOLDEN.replace(b"EXC=000820", b"EXC=000800"))
    ms = to_measurements(clean, "dev", ReceiveTime(1, 1))
    assert all(m.quality == Quality(0) for m in ms if m.value == m.value)
    doubtful = parse_line(GOLDEN.replace(b"EXC=000820", b"EXC=000004"))  # low perfusion
    ms = to_measurements(doubtful, "dev", ReceiveTime(1, 1))
    assert {m.quality for m in ms if m.value == m.value} == {Quality.QUESTIONABLE}


def test_measurements_carry_mdc_codes_units_and_device_time() -> None:
    ms = to_measurements(parse_line(GOLDEN), "bed1", ReceiveTime(5, 6))
    by_code = {m.mdc_code: m for m in ms}
    assert by_code[150456].unit == "%"
    assert by_code[149530].unit == "/min"
    assert by_code[150448].unit == "%"
    assert by_code[150456].stream_id == "bed1.150456"
    expected = int(datetime(2007, 5, 15, 8, 12, 21, tzinfo=UTC).timestamp()) * 10**9
    assert by_code[150456].device_time_ns == expected


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"05/15/07 08:12", FramingError),  # shorter than the timestamp
        (b"13/45/07 08:12:21 SPO2=098% BPM=072 ALARM=0000 EXC=000000", FieldError),
        (b"05/15/07 08:12:21 SPO2=09x% BPM=072 ALARM=0000 EXC=000000", FieldError),
        (b"05/15/07 08:12:21 SPO2=098% BPM=072 ALARM=00G0 EXC=000000", FieldError),
        (b"05/15/07 08:12:21 BPM=072 ALARM=0000 EXC=000000", FramingError),  # no SPO2
        (b"05/15/07 08:12:21 SPO2=098% BPM=072 EXC=000000", FramingError),  # no ALARM
        (b"05/15/07 08:12:21 SPO2=098% junk BPM=072 ALARM=0000 EXC=000000", FramingError),
        (b"05/15/07 08:12:21 SPO2=\xff98% BPM=072 ALARM=0000 EXC=000000", FramingError),
    ],
)
def test_bad_lines_raise_precise_parse_errors(line: bytes, error: type[ParseError]) -> None:
    with pytest.raises(error) as info:
        parse_line(line)
    assert info.value.source == "masimo"
    assert info.value.data == line


def test_decoder_resynchronises_after_garbage_and_keeps_the_next_line() -> None:
    d = MasimoDecoder()
    out = d.feed(b"\x00\xffgarbage\r\n" + GOLDEN[:40])
    assert len(out) == 1
    assert isinstance(out[0], ParseError)
    out = d.feed(GOLDEN[40:])
    assert len(out) == 1
    assert isinstance(out[0], MasimoReading)


def test_over_long_line_is_rejected_and_bounded() -> None:
    d = MasimoDecoder()
    out = d.feed(b"A" * 2000)
    assert len(out) == 1
    assert isinstance(out[0], FramingError)
    assert d.pending == 0
    out = d.feed(b"tail of the long line\r\n" + GOLDEN)
    assert [type(x) for x in out] == [MasimoReading]


samples = st.builds(
    OximeterSample,
    spo2=st.none() | st.integers(0, 100),
    bpm=st.none() | st.integers(0, 300),
    pi=st.none() | st.floats(0, 20).map(lambda x: round(x, 2)),
    exc=st.integers(0, 0xFFFFFF),
    alarm=st.integers(0, 0xFFFF),
)
stamps = st.datetimes(datetime(2000, 1, 1), datetime(2068, 12, 31)).map(  # noqa: DTZ001
    lambda d: d.replace(microsecond=0)
)


@given(when=stamps, sample=samples, serial=st.from_regex(r"\A[0-9]{10}\Z"))
def test_round_trip_through_the_simulator(
    when: datetime, sample: OximeterSample, serial: str
) -> None:
    r = parse_line(format_line(when, serial, sample))
    assert r.device_time == when
    assert r.serial_number == serial
    assert r.values["SPO2"] == (None if sample.spo2 is None else float(sample.spo2))
    assert r.values["BPM"] == (None if sample.bpm is None else float(sample.bpm))
    assert r.values["PI"] == sample.pi
    assert r.raw_exceptions == sample.exc
    assert r.alarm == sample.alarm


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=700), max_size=8))
def test_fuzz_random_bytes_only_ever_yield_parse_errors(chunks: list[bytes]) -> None:
    d = MasimoDecoder()
    for chunk in chunks:
        for item in d.feed(chunk):
            assert isinstance(item, MasimoReading | ParseError)
        assert d.pending <= 512


@given(st.binary(max_size=300), st.integers(0, len(GOLDEN)))
def test_fuzz_garbage_before_a_valid_line_never_loses_the_line_after(
    garbage: bytes, cut: int
) -> None:
    d = MasimoDecoder()
    out = d.feed(garbage + b"\r\n" + GOLDEN[:cut])
    out += d.feed(GOLDEN[cut:])
    readings = [x for x in out if isinstance(x, MasimoReading)]
    assert readings
    assert readings[-1] == parse_line(GOLDEN)
