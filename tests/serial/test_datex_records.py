"""Datex-Ohmeda records: hand-built golden records, round trips, special values, records out."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.datex.decode import decode_frame
from drivers.datex.framing import encode_frame
from drivers.datex.measurements import EXTRA_METRICS, to_records
from drivers.datex.records import (
    BASIC_LAYOUT,
    DatexDecoder,
    PhdbRecord,
    PhdbSubrecord,
    RawSubrecord,
    WaveRecord,
    WaveStatus,
    WaveSubrecord,
    parse_record,
    special_quality,
)
from gateway import codes
from gateway.errors import FieldError, FramingError, ParseError
from gateway.model import Measurement, Quality, ReceiveTime, WaveformChunk
from hil.serial_sim import datex_encoder as enc

RECEIVED = ReceiveTime(wall_ns=1_700_000_000_000_000_000, mono_ns=1)


def _put(buf: bytearray, offset: int, fmt: str, *values: int) -> None:
    struct.pack_into("<" + fmt, buf, offset, *values)


def golden_phdb_record() -> bytes:
    """A displayed-values record written field by field from the DRI spec (318 bytes)."""
    r = bytearray(40 + 278)
    _put(r, 0, "h", 318)  # r_len: header + one dri_phdb
    r[2], r[3] = 5, 11  # r_nbr, dri_level DRI_LEVEL_05
    _put(r, 6, "I", 1_671_468_233)  # r_time
    _put(r, 14, "h", 0)  # r_maintype DRI_MT_PHDB
    _put(r, 16, "hB", 0, 1)  # sr_desc[0]: offset 0, DRI_PH_DISPL
    _put(r, 19, "hB", 0, 0xFF)  # sr_desc[1]: end of list
    d = 40  # data area; dri_phdb.time, then the basic class at d + 4
    _put(r, d, "I", 1_671_468_230)
    c = d + 4
    _put(r, c + 0, "IH", 3, 0)  # ecg header: exists | active
    _put(r, c + 6, "hhhhh", 72, -32767, -32767, -32767, 14)  # hr, st1-3 invalid, imp_rr
    _put(r, c + 16, "IHhhhh", 3, 1, 12000, 8000, 9300, 72)  # p1: label ART, 120/80 (93)
    _put(r, c + 72, "IHhhhh", 3, 0, -32764, -32766, -32765, -32762)  # nibp: special values
    _put(r, c + 86, "IHh", 3, 0, 3710)  # t1 37.10 C (0x0E7E: a flag byte to escape)
    _put(r, c + 118, "IHhhhh", 3, 0, 9750, 71, 250, -32767)  # SpO2 97.50 %, pr 71
    _put(r, c + 132, "IHhhhh", 3, 0, 500, 0, 12, 7600)  # co2 et 5.00 %, rr 12, 760.0 mmHg
    # o2 (c + 146) and the rest: status 0 = module absent
    _put(r, c + 270, "BBH", 0, 0, 0x00B1)  # marker, reserved, cl_drilvl_subt: class 0
    return bytes(r)


def golden_wave_record() -> bytes:
    """One PLETH subrecord with three samples, one of them a control code."""
    r = bytearray(40 + 6 + 6)
    _put(r, 0, "h", 52)
    _put(r, 14, "h", 1)  # DRI_MT_WAVE
    _put(r, 16, "hB", 0, 8)  # DRI_WF_PLETH at offset 0
    _put(r, 19, "hB", 0, 0xFF)
    _put(r, 40, "hHH", 3, 0x0001, 0)  # act_len 3, WF_STATUS_GAP, label
    _put(r, 46, "hhh", 1000, -32767, 2500)
    return bytes(r)


def _measurements(records: list[Measurement | WaveformChunk]) -> dict[str, Measurement]:
    return {r.stream_id: r for r in records if isinstance(r, Measurement)}


def test_golden_phdb_record_parses() -> None:
    rec = parse_record(golden_phdb_record())
    assert isinstance(rec, PhdbRecord)
    assert (rec.header.r_len, rec.header.r_nbr, rec.header.dri_level) == (318, 5, 11)
    assert rec.header.r_time == 1_671_468_233
    (sub,) = rec.subrecords
    assert isinstance(sub, PhdbSubrecord)
    assert (sub.sr_type, sub.time, sub.phdb_class) == (1, 1_671_468_230, 0)
    assert sub.basic is not None
    ecg = sub.basic.group("ecg")
    assert (ecg["hr"], ecg["imp_rr"], ecg.exists, ecg.active) == (72, 14, True, True)
    p1 = sub.basic.group("p1")
    assert (p1.label, p1["sys"], p1["dia"], p1["mean"]) == (1, 12000, 8000, 9300)
    assert sub.basic.group("t1")["temp"] == 3710
    assert sub.basic.group("co2")["amb_press"] == 7600
    assert not sub.basic.group("o2").exists


def test_golden_phdb_record_to_measurements_through_the_wire() -> None:
    wire = encode_frame(golden_phdb_record())
    assert b"\x7d\x5e" in wire  # the 0x7E inside T1 was escaped
    (rec,) = DatexDecoder().feed(wire)
    assert not isinstance(rec, ParseError)
    m = _measurements(to_records(rec, "bed7", RECEIVED))
    assert m["bed7.147842"].value == 72
    assert m["bed7.151562"].value == 14  # impedance respiration rate
    assert m["bed7.150033.p1"].value == pytest.approx(120.0)  # ART sys
    assert m["bed7.150034.p1"].value == pytest.approx(80.0)
    assert m["bed7.150035.p1"].value == pytest.approx(93.0)
    assert m["bed7.150344.t1"].value == pytest.approx(37.10)
    assert m["bed7.150344.t1"].unit == "Cel"
    assert m["bed7.150456"].value == pytest.approx(97.5)
    assert m["bed7.149530"].value == 71
    assert m["bed7.151570"].value == 12
    et = m["bed7.151728"]
    assert et.value == pytest.approx(38.0)  # 5.00 % of 760.0 mmHg
    assert et.unit == "mm[Hg]"
    assert et.device_time_ns == 1_671_468_230 * 1_000_000_000
    expected_nibp = {
        "bed7.150021": Quality.UNDER_RANGE,
        "bed7.150022": Quality.NOT_UPDATED,
        "bed7.150023": Quality.QUESTIONABLE | Quality.UNAVAILABLE,
        "bed7.149546": Quality.CALIBRATING,
    }
    for sid, q in expected_nibp.items():
        assert math.isnan(m[sid].value)
        assert m[sid].quality == q
    assert not any(".t2" in sid for sid in m)  # absent modules publish nothing
    assert "bed7.152196" not in m  # O2 module absent


def test_golden_wave_record() -> None:
    rec = parse_record(golden_wave_record())
    assert isinstance(rec, WaveRecord)
    (sub,) = rec.subrecords
    assert isinstance(sub, WaveSubrecord)
    assert sub.wave_type == 8
    assert sub.status == WaveStatus.GAP
    assert sub.samples.tolist() == [1000, -32767, 2500]
    (chunk,) = to_records(rec, "bed7", RECEIVED)
    assert isinstance(chunk, WaveformChunk)
    assert chunk.mdc_code == codes.MDC_PULS_OXIM_PLETH.mdc_code
    assert chunk.sample_period_ns == 10_000_000  # 100 samples/s
    assert chunk.quality == Quality.QUESTIONABLE
    phys = chunk.physical()
    assert phys[0] == pytest.approx(0.1)  # 10.00 % modulation as a fraction
    assert math.isnan(phys[1])
    assert chunk.start_ns == RECEIVED.wall_ns - 2 * 10_000_000


@pytest.mark.parametrize(
    ("raw", "quality"),
    [
        (-32000, None),
        (-32001, Quality.INVALID),
        (-32767, Quality.INVALID),
        (-32766, Quality.NOT_UPDATED),
        (-32765, Quality.QUESTIONABLE | Quality.UNAVAILABLE),
        (-32764, Quality.UNDER_RANGE),
        (-32763, Quality.OVER_RANGE),
        (-32762, Quality.CALIBRATING),
        (0, None),
    ],
)
def test_special_values(raw: int, quality: Quality | None) -> None:
    assert special_quality(raw) == quality


def test_structural_errors() -> None:
    good = golden_phdb_record()
    with pytest.raises(FramingError, match="r_len"):
        parse_record(good[:-1])
    bad_offset = bytearray(good)
    _put(bad_offset, 16, "hB", 400, 1)
    with pytest.raises(FieldError):
        parse_record(bytes(bad_offset))
    short = bytearray(good[:-10])
    _put(short, 0, "h", len(short))
    with pytest.raises(FramingError, match="needs 278"):
        parse_record(bytes(short))
    wave = bytearray(golden_wave_record())
    _put(wave, 40, "h", 4)  # claims one sample more than present
    with pytest.raises(FramingError):
        parse_record(bytes(wave))
    _put(wave, 40, "h", -1)
    with pytest.raises(FieldError):
        parse_record(bytes(wave))
    with pytest.raises(FramingError):
        parse_record(b"\x10\x00")


def test_wave_quality_and_unsupported_types() -> None:
    rec = enc.wave_record(
        [
            enc.Wave(1, [10, 20, 30], status=0x0008),  # ECG1, lead off
            enc.Wave(4, [-32767] * 4),  # INVP1, all control codes
            enc.Wave(13, [1, 2]),  # AWP: no verified MDC code, not published
            enc.Wave(22, [0, 0, 0]),  # ECG12: other encoding, kept raw
        ]
    )
    parsed = parse_record(rec)
    assert isinstance(parsed, WaveRecord)
    assert isinstance(parsed.subrecords[3], RawSubrecord)
    chunks = to_records(parsed, "m", RECEIVED)
    assert [c.stream_id for c in chunks] == ["m.131328.ecg1", "m.150016.p1"]
    assert chunks[0].quality == Quality.INVALID
    assert chunks[0].unit == "uV"
    assert chunks[1].quality == Quality.INVALID


def test_trend_and_ext_subrecords_publish_nothing() -> None:
    basic = {"ecg": {"status": 3, "hr": 60}}
    trend = parse_record(enc.phdb_record(100, basic, sr_type=enc.TREND_60S))
    assert to_records(trend, "m", RECEIVED) == []
    disp = parse_record(enc.phdb_record(100, basic, ext_classes=[1, 2, 3]))
    assert isinstance(disp, PhdbRecord)
    assert [s.phdb_class for s in disp.subrecords if isinstance(s, PhdbSubrecord)] == [0, 1, 2, 3]
    recs = _measurements(to_records(disp, "m", RECEIVED))
    assert list(recs) == ["m.147842", "m.151562"]
    assert recs["m.147842"].value == 60
    assert math.isnan(recs["m.151562"].value)  # imp_rr left INVALID by the encoder


def test_etco2_without_ambient_pressure_is_unavailable() -> None:
    rec = parse_record(enc.phdb_record(1, {"co2": {"status": 1, "et": 500, "amb_press": -32767}}))
    m = _measurements(to_records(rec, "m", RECEIVED))
    assert math.isnan(m["m.151728"].value)
    assert m["m.151728"].quality == Quality.UNAVAILABLE


def test_extra_metrics_are_not_in_gateway_codes() -> None:
    assert all(m.mdc_code not in codes.BY_CODE for m in EXTRA_METRICS)
    assert len({m.mdc_code for m in EXTRA_METRICS}) == len(EXTRA_METRICS)


def test_decode_frame_json_and_checksum_report() -> None:
    wire = encode_frame(golden_phdb_record())
    out = decode_frame(wire)
    json.dumps(out)
    check = out["checksum"]
    assert isinstance(check, dict)
    assert check["ok"] is True
    assert check["received"] == check["computed"] == wire[-2]  # no escape needed here
    subs = out["subrecords"]
    assert isinstance(subs, list)
    assert subs[0]["groups"]["nibp"]["special"] == {
        "sys": "under_range",
        "dia": "not_updated",
        "mean": "discont",
        "hr": "not_calibrated",
    }
    bad = decode_frame(enc.bad_checksum_frame(golden_wave_record()))
    json.dumps(bad)
    assert isinstance(bad["checksum"], dict)
    assert bad["checksum"]["ok"] is False
    with pytest.raises(FramingError):
        decode_frame(wire + wire)


# --- properties -----------------------------------------------------------------------------

int16 = st.integers(-32768, 32767)
group_names = [name for name, _, _ in BASIC_LAYOUT]


@st.composite
def basic_values(draw: st.DrawFn) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, has_hdr, fields in BASIC_LAYOUT:
        if not draw(st.booleans()):
            continue
        g = {f: draw(int16) for f in fields}
        if has_hdr:
            g["status"] = draw(st.integers(0, 2**32 - 1))
            g["label"] = draw(st.integers(0, 0xFFFF))
        out[name] = g
    return out


@settings(max_examples=60, deadline=None)
@given(basic_values(), st.integers(0, 2**32 - 1))
def test_phdb_round_trip(values: dict[str, dict[str, int]], time: int) -> None:
    (rec,) = DatexDecoder().feed(enc.frame(enc.phdb_record(time, values)))
    assert isinstance(rec, PhdbRecord)
    (sub,) = rec.subrecords
    assert isinstance(sub, PhdbSubrecord)
    assert sub.time == time
    assert sub.basic is not None
    for name, has_hdr, fields in BASIC_LAYOUT:
        g = sub.basic.group(name)
        given_g = values.get(name, {})
        for f in fields:
            assert g[f] == given_g.get(f, enc.INVALID)
        if has_hdr:
            assert (g.status, g.label) == (given_g.get("status", 0), given_g.get("label", 0))
    for r in to_records(rec, "x", RECEIVED):  # never raises, NaN always carries a reason
        assert isinstance(r, Measurement)


waves_st = st.lists(
    st.builds(
        enc.Wave,
        wave_type=st.sampled_from([1, 2, 3, 4, 5, 8, 9, 13, 15, 18, 36]),
        samples=st.lists(int16, max_size=80),
        status=st.sampled_from([0, 1, 4, 8, 13]),
        label=st.integers(0, 0xFFFF),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(waves_st)
def test_wave_round_trip(waves: list[enc.Wave]) -> None:
    (rec,) = DatexDecoder().feed(enc.frame(enc.wave_record(waves, r_time=7)))
    assert isinstance(rec, WaveRecord)
    assert rec.header.r_time == 7
    assert len(rec.subrecords) == len(waves)
    for sub, w in zip(rec.subrecords, waves, strict=True):
        assert isinstance(sub, WaveSubrecord)
        assert (sub.wave_type, int(sub.status), sub.label) == (w.wave_type, w.status, w.label)
        assert np.array_equal(sub.samples, np.asarray(w.samples, dtype=np.int16))
    for chunk in to_records(rec, "x", RECEIVED):
        assert isinstance(chunk, WaveformChunk)
        assert len(chunk.samples) > 0


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=40, max_size=600))
def test_random_records_raise_only_parse_errors(body: bytes) -> None:
    rec = struct.pack("<h", len(body)) + body[2:]
    try:
        parsed = parse_record(rec)
    except ParseError:
        return
    for r in to_records(parsed, "x", RECEIVED):
        assert isinstance(r, Measurement | WaveformChunk)
