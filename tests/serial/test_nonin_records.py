"""Nonin packets -> Measurements / WaveformChunks, and the JSON decode helper."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from drivers.nonin.codec import Format7Decoder, Format8Decoder, Packet7, Record8
from drivers.nonin.decode import decode_frame
from drivers.nonin.measurements import SAMPLE_PERIOD_NS, to_records
from gateway.errors import FramingError
from gateway.model import Measurement, Quality, ReceiveTime, WaveformChunk
from hil.serial_sim import nonin_encoder as enc

RECEIVED = ReceiveTime(wall_ns=1_700_000_000_000_000_000, mono_ns=5_000)


def _packet(v: enc.PacketValues) -> Packet7:
    (p,) = Format7Decoder().feed(enc.encode_packet7(v))
    assert isinstance(p, Packet7)
    return p


def _by_code(records: list[Measurement | WaveformChunk]) -> dict[int, Measurement | WaveformChunk]:
    return {r.mdc_code: r for r in records}


def test_packet_to_measurements_and_pleth_chunk() -> None:
    p = _packet(enc.PacketValues(hr=64, spo2=98, pleth=list(range(1000, 1025))))
    recs = _by_code(to_records(p, "bed01-oxi", RECEIVED))
    spo2, pr, pleth = recs[150456], recs[149530], recs[150452]
    assert isinstance(spo2, Measurement)
    assert isinstance(pr, Measurement)
    assert isinstance(pleth, WaveformChunk)
    assert (spo2.value, spo2.unit, spo2.quality) == (98, "%", Quality(0))
    assert (pr.value, pr.unit) == (64, "/min")
    assert spo2.stream_id == "bed01-oxi.150456"
    assert pleth.unit == "1"
    assert pleth.sample_period_ns == SAMPLE_PERIOD_NS == 13_333_333
    assert pleth.samples.dtype == np.int32
    assert pleth.samples.tolist() == list(range(1000, 1025))
    assert pleth.start_ns == RECEIVED.wall_ns - 24 * SAMPLE_PERIOD_NS


@pytest.mark.parametrize(
    ("hr", "spo2", "nan_codes"),
    [(511, 97, {149530}), (72, 127, {150456}), (72, 101, {150456}), (511, 127, {149530, 150456})],
)
def test_missing_values_are_nan_with_flag(hr: int, spo2: int, nan_codes: set[int]) -> None:
    recs = to_records(_packet(enc.PacketValues(hr=hr, spo2=spo2)), "d", RECEIVED)
    for r in recs:
        if isinstance(r, Measurement):
            if r.mdc_code in nan_codes:
                assert math.isnan(r.value)
                assert Quality.UNAVAILABLE in r.quality
            else:
                assert not math.isnan(r.value)
                assert r.quality == Quality(0)


@pytest.mark.parametrize(
    ("bit", "flag"),
    [
        (enc.SNSD, Quality.UNAVAILABLE),
        (enc.SNSA, Quality.INVALID),
        (enc.ARTF, Quality.ARTIFACT),
        (enc.OOT, Quality.QUESTIONABLE),
    ],
)
def test_status_bits_become_quality_flags(bit: int, flag: Quality) -> None:
    statuses = [0] * 25
    statuses[7] = bit
    recs = to_records(_packet(enc.PacketValues(statuses=statuses)), "d", RECEIVED)
    assert recs
    for r in recs:
        assert r.quality == flag


def test_perfusion_bits_are_not_quality_flags() -> None:
    recs = to_records(_packet(enc.PacketValues(statuses=[enc.RPRF] * 25)), "d", RECEIVED)
    assert all(r.quality == Quality(0) for r in recs)


def test_format8_record_to_measurements() -> None:
    (r,) = Format8Decoder().feed(enc.encode_record8(enc.F8_LPRF, 300, 95, enc.SENSOR_FAULT))
    assert isinstance(r, Record8)
    recs = _by_code(to_records(r, "d", RECEIVED))
    assert set(recs) == {150456, 149530}
    assert recs[149530].quality == Quality.QUESTIONABLE | Quality.INVALID
    spo2 = recs[150456]
    assert isinstance(spo2, Measurement)
    assert spo2.value == 95
    (m,) = Format8Decoder().feed(bytes([0x83, 0x7F, 0x7F, 0x00]))
    assert isinstance(m, Record8)
    assert all(
        isinstance(x, Measurement) and math.isnan(x.value) for x in to_records(m, "d", RECEIVED)
    )


def test_decode_frame_single_frame_json() -> None:
    out = decode_frame(bytes([0x81, 0x12, 0x34, 0x00, 0xC7]))
    json.dumps(out)
    assert out["checksum"] == {"received": 0xC7, "computed": 0xC7, "ok": True}
    assert out["flags"] == ["sync"]
    assert out["pleth"] == 0x1234
    bad = decode_frame(bytes([0x01, 0x12, 0x34, 0x00, 0x00]))
    assert bad["checksum"] == {"received": 0, "computed": 0x47, "ok": False}
    assert bad["problems"] == ["status byte has bit 7 clear", "checksum mismatch"]


def test_decode_frame_packet_and_format8() -> None:
    wire = enc.encode_packet7(enc.PacketValues(hr=80, spo2=96))
    out = decode_frame(wire)
    json.dumps(out)
    values = out["values"]
    assert isinstance(values, dict)
    assert (values["hr"], values["spo2"]) == (80, 96)
    frames = out["frames"]
    assert isinstance(frames, list)
    assert frames[2]["carries"] == "spo2"
    broken = decode_frame(wire[:-1] + bytes([(wire[-1] + 1) % 256]))
    assert broken["checksum"] == {"ok": False}
    assert "values" not in broken
    rec = decode_frame(bytes([0xA2, 0x2C, 0x5F, 0x21]), fmt=8)
    json.dumps(rec)
    assert (rec["hr"], rec["spo2"], rec["flags"]) == (300, 95, ["oot"])
    assert rec["stat2"] == ["low_battery", "smartpoint"]


def test_decode_frame_rejects_wrong_length_and_format() -> None:
    with pytest.raises(FramingError):
        decode_frame(b"\x81\x00")
    with pytest.raises(FramingError):
        decode_frame(b"\x81\x00\x00", fmt=8)
    with pytest.raises(ValueError, match="unsupported"):
        decode_frame(b"\x81\x00\x00\x00", fmt=2)
