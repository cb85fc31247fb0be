"""Observations to EdgeTwin records: codes, units, quality, clock anchoring, wave scaling."""

from __future__ import annotations

import math
from calendar import timegm
from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.intellivue import nomenclature
from drivers.intellivue.apdu import MdsCreateEvent, PollResult, parse_apdu
from drivers.intellivue.measurements import Anchor, WaveAttributeCache, alarm_priority, to_records
from gateway.model import AlarmPriority, Measurement, Quality, ReceiveTime, WaveformChunk
from hil.intellivue_sim import encoder

RECEIVED = ReceiveTime(wall_ns=1_700_000_000_000_000_000, mono_ns=5)
WHEN = datetime(2021, 4, 22, 11, 47, 26, 500000)  # noqa: DTZ001 - monitor local time
WHEN_NS = (timegm(WHEN.timetuple()) * 1_000_000_000) + 500_000_000
REL0 = 1950208


def _event(when=WHEN, rel_time=REL0) -> MdsCreateEvent:
    event = parse_apdu(encoder.mds_create_event(when=when, rel_time=rel_time))
    assert isinstance(event, MdsCreateEvent)
    return event


def _poll(objects, obj_code, rel_time) -> PollResult:
    result = parse_apdu(
        encoder.poll_result(objects, invoke_id=1, obj_code=obj_code, rel_time=rel_time)
    )
    assert isinstance(result, PollResult)
    return result


def test_anchor_from_mds_create():
    anchor = Anchor.from_mds(_event())
    assert anchor == Anchor(WHEN_NS, REL0)
    assert anchor.device_ns(REL0 + 8000) == WHEN_NS + 1_000_000_000  # 8000 ticks = 1 s
    assert anchor.device_ns(REL0 - 8) == WHEN_NS - 1_000_000  # before the anchor


def test_anchor_utc_offset():
    # A monitor in UTC+2 showing 11:47:26.5 means 09:47:26.5 UTC.
    anchor = Anchor.from_mds(_event(), utc_offset_s=7200)
    assert anchor is not None
    assert anchor.abs_ns == WHEN_NS - 7200 * 1_000_000_000


def test_anchor_needs_both_times():
    assert Anchor.from_mds(_event(when=None)) is None


@given(st.integers(0, 0xFFFFFFFF), st.integers(-(2**30), 2**30))
@settings(max_examples=200)
def test_anchor_handles_counter_wrap(rel0, delta):
    anchor = Anchor(10**18, rel0)
    assert anchor.device_ns((rel0 + delta) % 2**32) == 10**18 + delta * 125_000


def test_numerics_become_measurements():
    objects = [
        encoder.SimNumeric(1, (encoder.SimValue(0x4182, 2720, 72.0),), label=0x00024182),
        encoder.SimNumeric(2, (encoder.SimValue(0x4822, 2720, 71.0),)),  # pleth pulse
        encoder.SimNumeric(3, (encoder.SimValue(0x4B48, 6048, (372, -1)),)),  # 37.2 Cel
        encoder.SimNumeric(
            4,
            (
                encoder.SimValue(0x4A05, 3872, 120.0),
                encoder.SimValue(0x4A06, 3872, 80.0),
                encoder.SimValue(0x4A07, 3872, 93.0),
            ),
            compound=True,
        ),
    ]
    result = _poll(objects, 6, REL0 + 16000)
    records = to_records(result.observations, "bed7", RECEIVED, Anchor(WHEN_NS, REL0))
    assert [(r.mdc_code, r.unit, r.value) for r in records] == [
        (147842, "/min", 72.0),  # MDC_ECG_HEART_RATE
        (149530, "/min", 71.0),  # NOM_PLETH_PULS_RATE -> MDC_PULS_OXIM_PULS_RATE
        (150344, "Cel", pytest.approx(37.2)),  # MDC_TEMP
        (150021, "mm[Hg]", 120.0),
        (150022, "mm[Hg]", 80.0),
        (150023, "mm[Hg]", 93.0),
    ]
    for r in records:
        assert isinstance(r, Measurement)
        assert r.stream_id == f"bed7.{r.mdc_code}"
        assert r.quality == Quality(0)
        assert r.device_time_ns == WHEN_NS + 2_000_000_000
        assert r.received == RECEIVED


@pytest.mark.parametrize(
    ("value", "state", "quality"),
    [
        ("nan", 0x8000, Quality.INVALID),  # SpO2 without sensor (seen in a capture)
        ("nan", 0x2000, Quality.UNAVAILABLE),  # NBP before the first measurement
        ("nan", 0, Quality.INVALID),  # NaN alone still says why it is missing
        ("nres", 0, Quality.INVALID),
        ("+inf", 0, Quality.OVER_RANGE),
        ("-inf", 0x4000, Quality.UNDER_RANGE | Quality.QUESTIONABLE),
    ],
)
def test_missing_values_are_nan_with_a_reason(value, state, quality):
    result = _poll([encoder.SimNumeric(1, (encoder.SimValue(0x4BB8, 544, value, state),))], 6, 0)
    [record] = to_records(result.observations, "d", RECEIVED, None)
    assert isinstance(record, Measurement)
    assert math.isnan(record.value)
    assert record.quality == quality
    assert record.device_time_ns is None


@pytest.mark.parametrize(
    ("state", "quality"),
    [
        (0x4000, Quality.QUESTIONABLE),
        (0x1000, Quality.CALIBRATING),
        (0x0800, Quality.TEST),
        (0x0400, Quality.DEMO),
        (0x0002 | 0x0001 | 0x0080, Quality(0)),  # alarm and validated bits are not quality
    ],
)
def test_state_bits_map_to_quality(state, quality):
    result = _poll([encoder.SimNumeric(1, (encoder.SimValue(0x4BB8, 544, 97.0, state),))], 6, 0)
    [record] = to_records(result.observations, "d", RECEIVED, None)
    assert record.value == 97.0
    assert record.quality == quality


def test_unknown_ids_and_units_pass_through():
    result = _poll([encoder.SimNumeric(1, (encoder.SimValue(0x1234, 9999, 1.0),))], 6, 0)
    [record] = to_records(result.observations, "d", RECEIVED, None)
    assert record.mdc_code == 2 << 16 | 0x1234
    assert record.unit == "{intellivue-dim-9999}"


def test_ecg_wave_scaled_masked_and_timed():
    raw = (0x2000, 0x2001, 0x1FFF, 0xE000 | 0x0100)  # top two bits are flags
    wave = encoder.SimWave(16, (encoder.SimArray(0x0100, raw),), label=0x00020102)
    result = _poll([wave], 9, REL0 + 2048)
    [chunk] = to_records(result.observations, "bed7", RECEIVED, Anchor(WHEN_NS, REL0))
    assert isinstance(chunk, WaveformChunk)
    assert chunk.mdc_code == 131330  # generic ECG id, lead II from the label
    assert chunk.stream_id == "bed7.131330"
    assert chunk.unit == "mV"
    assert chunk.sample_period_ns == 4_000_000  # 32 ticks, 250 Hz
    assert chunk.start_ns == WHEN_NS + 256_000_000  # 2048 ticks later
    assert chunk.samples.tolist() == [0x2000, 0x2001, 0x1FFF, 0x2100]  # 14 bits kept
    # physical = lower_abs + (raw - lower_scaled) * (upper_abs - lower_abs) / (upper - lower)
    expected = [-40.96 + x * (40.955 + 40.96) / 16383 for x in chunk.samples.tolist()]
    np.testing.assert_allclose(chunk.physical(), expected, rtol=1e-9, atol=1e-9)


def test_wave_static_attributes_are_cached_between_polls():
    first = encoder.SimWave(
        5, (encoder.SimArray(0x4BB4, (1, 2, 3)),), sample_period=64, unit_code=512
    )
    later = encoder.SimWave(5, (encoder.SimArray(0x4BB4, (4, 5, 6)),), static=False)
    cache = WaveAttributeCache()
    to_records(_poll([first], 9, 0).observations, "d", RECEIVED, None, cache)
    [chunk] = to_records(_poll([later], 9, 2048).observations, "d", RECEIVED, None, cache)
    assert isinstance(chunk, WaveformChunk)
    assert chunk.sample_period_ns == 8_000_000
    assert chunk.unit == "1"
    assert chunk.start_ns == RECEIVED.wall_ns  # no anchor: receive time
    assert cache.skipped == 0


def _pleth(samples: tuple[int, ...], *, static: bool, handle: int = 5) -> encoder.SimWave:
    if static:
        return encoder.SimWave(
            handle, (encoder.SimArray(0x4BB4, samples),), sample_period=64, unit_code=512
        )
    return encoder.SimWave(handle, (encoder.SimArray(0x4BB4, samples),), static=False)


def test_waves_before_their_sample_period_are_held_then_delivered_in_order():
    # the result with the static attributes was lost: the next ones wait for the repeat
    cache = WaveAttributeCache()
    anchor = Anchor(WHEN_NS, REL0)
    for i in range(3):
        polled = _poll([_pleth((i, i), static=False)], 9, REL0 + 2048 * i)
        assert to_records(polled.observations, "d", RECEIVED, anchor, cache) == []
    assert cache.held == 3
    polled = _poll([_pleth((3, 3), static=True)], 9, REL0 + 2048 * 3)
    chunks = to_records(polled.observations, "d", RECEIVED, anchor, cache)
    assert [c.samples.tolist() for c in chunks] == [[0, 0], [1, 1], [2, 2], [3, 3]]
    assert all(isinstance(c, WaveformChunk) for c in chunks)
    assert [c.start_ns for c in chunks] == [WHEN_NS + 256_000_000 * i for i in range(4)]
    assert {c.sample_period_ns for c in chunks} == {8_000_000}
    assert (cache.held, cache.recovered, cache.skipped) == (0, 3, 0)


def test_held_waves_are_bounded_and_the_dropped_ones_counted():
    cache = WaveAttributeCache(max_held=4)
    for i in range(6):
        polled = _poll([_pleth((i,), static=False, handle=5 + i % 2)], 9, 2048 * i)
        to_records(polled.observations, "d", RECEIVED, None, cache)
    assert (cache.held, cache.skipped) == (4, 2)
    chunks = to_records(
        _poll([_pleth((9,), static=True)], 9, 0).observations, "d", RECEIVED, None, cache
    )
    # the two oldest (0 of handle 5, 1 of handle 6) were dropped; handle 6 waits on
    assert [c.samples.tolist() for c in chunks] == [[2], [4], [9]]
    assert (cache.held, cache.recovered, cache.skipped) == (2, 2, 2)


def test_cache_is_bounded():
    cache = WaveAttributeCache(max_objects=3)
    for handle in range(10):
        wave = encoder.SimWave(handle, (encoder.SimArray(0x4BB4, (1,)),))
        to_records(_poll([wave], 9, 0).observations, "d", RECEIVED, None, cache)
    assert len(cache._known) == 3


def test_alerts_are_not_measurements():
    alerts = encoder.SimAlerts(1, patient=(encoder.SimAlarm(0x4182, 1, 0x0400, "HR High"),))
    assert to_records(_poll([alerts], 54, 0).observations, "d", RECEIVED, None) == []


@pytest.mark.parametrize(
    ("alert_type", "priority"),
    [
        (0x0400, AlarmPriority.HIGH),
        (0x0004, AlarmPriority.HIGH),
        (0x0200, AlarmPriority.MEDIUM),
        (0x0001, AlarmPriority.LOW),
        (0x0000, None),
    ],
)
def test_alarm_priority(alert_type, priority):
    assert alarm_priority(alert_type) == priority


def test_nomenclature_tables():
    assert nomenclature.mdc_code(19384) == 150456  # SpO2
    assert nomenclature.mdc_code(61669) == 149546  # NBP pulse -> MDC_PULS_RATE_NON_INV
    assert nomenclature.ucum(3872) == "mm[Hg]"
    assert nomenclature.ucum(3843) == "kPa"
    assert nomenclature.ucum(4274) == "mV"
    assert nomenclature.ucum(6048) == "Cel"
    assert nomenclature.metric_id(0xEFFF, 0x00024BB8) == 0x4BB8  # NOS: label decides
    assert nomenclature.metric_id(0x4A05, 0x00024A04) == 0x4A05  # compound member keeps id
    assert nomenclature.metric_id(0x0100, 0x800F5401) == 0x0100  # private label: keep
