"""Round trips: spec-written monitor encoder -> framing -> deframer -> APDU parser."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.intellivue.apdu import LinkedState, MdsCreateEvent, PollResult, RoType, parse_apdu
from drivers.intellivue.attributes import NumericObservation, WaveObservation
from drivers.intellivue.floats import FloatReason
from drivers.intellivue.framing import Deframer, Frame
from hil.intellivue_sim import encoder

PHYSIO = [0x4182, 0x4BB8, 0x4822, 0x4A05, 0x4A06, 0x4A07, 0x4B48, 0x500A, 0xF0E5]
UNITS = [512, 544, 2720, 2784, 3872, 3843, 4274, 6048]


def _through_the_wire(user_data: list[bytes], cuts: list[int]) -> list[bytes]:
    stream = b"".join(encoder.frame(u) for u in user_data)
    deframer = Deframer()
    items = []
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    for a, b in itertools.pairwise(bounds):
        items.extend(deframer.feed(stream[a:b]))
    assert all(isinstance(i, Frame) for i in items), items
    return [i.user_data for i in items if isinstance(i, Frame)]


sim_values = st.builds(
    encoder.SimValue,
    physio_id=st.sampled_from(PHYSIO),
    unit_code=st.sampled_from(UNITS),
    value=st.one_of(
        st.tuples(st.integers(-8388605, 8388605), st.integers(-6, 6)),
        st.sampled_from(["nan", "nres", "+inf", "-inf"]),
    ),
    state=st.integers(0, 0xFFFF),
)


@st.composite
def numerics(draw):
    handles = draw(st.lists(st.integers(1, 0xFFFF), min_size=1, max_size=6, unique=True))
    objects = []
    for handle in handles:
        compound = draw(st.booleans())
        values = tuple(draw(st.lists(sim_values, min_size=1, max_size=4 if compound else 1)))
        objects.append(
            encoder.SimNumeric(
                handle,
                values,
                label=draw(st.none() | st.integers(0, 0xFFFFFFFF)),
                label_string=draw(st.none() | st.text(max_size=8).filter(lambda t: "\0" not in t)),
                compound=compound,
            )
        )
    return objects


def _expected_numerics(objects, rel_time):
    out = []
    for obj in objects:
        for v in obj.values:
            out.append((obj.handle, v.physio_id, v.state, v.unit_code, v.value, obj.label))
    return out


def _actual_numerics(observations):
    out = []
    for o in observations:
        assert isinstance(o, NumericObservation)
        value = o.value if o.reason is FloatReason.OK else o.reason.value
        out.append((o.handle, o.physio_id, o.state, o.unit_code, value, o.label))
    return out


def _value_matches(expected, actual):
    if isinstance(expected, tuple):
        mantissa, exponent = expected
        return actual == pytest.approx(mantissa * 10.0**exponent, rel=1e-12, abs=1e-12)
    return actual == expected


@given(numerics(), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFF), st.lists(st.integers(0)))
@settings(max_examples=120, deadline=None)
def test_numerics_round_trip(objects, rel_time, invoke_id, cuts):
    apdu = encoder.poll_result(
        objects, invoke_id=invoke_id, obj_code=6, rel_time=rel_time, sequence_no=9
    )
    [user_data] = _through_the_wire([apdu], cuts)
    result = parse_apdu(user_data)
    assert isinstance(result, PollResult)
    assert (result.invoke_id, result.rel_time, result.sequence_no) == (invoke_id, rel_time, 9)
    assert result.object_count == len(objects)
    expected = _expected_numerics(objects, rel_time)
    actual = _actual_numerics(result.observations)
    assert len(actual) == len(expected)
    for e, a in zip(expected, actual, strict=True):
        assert e[:4] == a[:4]
        assert e[5] == a[5]
        assert _value_matches(e[4], a[4]), (e, a)
    strings = [o.label_string for o in result.observations]
    assert strings == [obj.label_string for obj in objects for _ in obj.values]


@st.composite
def waves(draw):
    handles = draw(st.lists(st.integers(1, 0xFFFF), min_size=1, max_size=4, unique=True))
    objects = []
    for handle in handles:
        compound = draw(st.booleans())
        n = draw(st.integers(0, 64))
        arrays = tuple(
            encoder.SimArray(
                draw(st.sampled_from([0x0100, 0x0102, 0x4BB4, 0x4A10, 0x5000])),
                tuple(draw(st.lists(st.integers(0, 0xFFFF), min_size=n, max_size=n))),
                draw(st.integers(0, 0xFFFF)),
            )
            for _ in range(draw(st.integers(1, 3)) if compound else 1)
        )
        objects.append(
            encoder.SimWave(
                handle,
                arrays,
                label=draw(st.none() | st.integers(0, 0xFFFFFFFF)),
                sample_period=draw(st.integers(1, 0xFFFFFFFF)),
                significant_bits=draw(st.integers(1, 16)),
                flags=draw(st.integers(0, 0xFFFF)),
                scale=(
                    draw(st.integers(-9999, 0)) / 100,
                    draw(st.integers(1, 9999)) / 100,
                    draw(st.integers(0, 0x7FFF)),
                    draw(st.integers(0x8000, 0xFFFF)),
                ),
                unit_code=draw(st.sampled_from(UNITS)),
                static=draw(st.booleans()),
                compound=compound,
            )
        )
    return objects


@given(waves(), st.integers(0, 0xFFFFFFFF), st.lists(st.integers(0)))
@settings(max_examples=120, deadline=None)
def test_waves_round_trip(objects, rel_time, cuts):
    apdu = encoder.poll_result(objects, invoke_id=3, obj_code=9, rel_time=rel_time)
    [user_data] = _through_the_wire([apdu], cuts)
    result = parse_apdu(user_data)
    assert isinstance(result, PollResult)
    expected = [(obj, arr) for obj in objects for arr in obj.arrays]
    assert len(result.observations) == len(expected)
    for (obj, arr), obs in zip(expected, result.observations, strict=True):
        assert isinstance(obs, WaveObservation)
        assert (obs.handle, obs.physio_id, obs.state, obs.label) == (
            obj.handle,
            arr.physio_id,
            arr.state,
            obj.label,
        )
        assert obs.samples.tolist() == list(arr.samples)
        assert obs.rel_time == rel_time
        if obj.static:
            assert obs.sample_period == obj.sample_period
            assert obs.unit_code == obj.unit_code
            assert obs.sa_spec is not None
            assert obs.sa_spec.significant_bits == obj.significant_bits
            assert obs.sa_spec.flags == obj.flags
            assert obs.scale is not None
            low, high, low_scaled, high_scaled = obj.scale
            assert obs.scale.lower_absolute == pytest.approx(low)
            assert obs.scale.upper_absolute == pytest.approx(high)
            assert (obs.scale.lower_scaled, obs.scale.upper_scaled) == (low_scaled, high_scaled)
        else:
            assert obs.sample_period is obs.sa_spec is obs.scale is obs.unit_code is None


@given(numerics(), st.integers(1, 4), st.lists(st.integers(0)))
@settings(max_examples=60, deadline=None)
def test_linked_results_reassemble(objects, per_segment, cuts):
    segments = encoder.linked_poll_results(
        objects, per_segment=per_segment, invoke_id=11, obj_code=6, rel_time=100
    )
    results = [parse_apdu(u) for u in _through_the_wire(segments, cuts)]
    assert all(isinstance(r, PollResult) for r in results)
    *linked, final = results
    assert final.ro_type is RoType.RORS
    assert final.observations == ()
    assert [r.ro_type for r in linked] == [RoType.RORLS] * len(linked)
    assert [r.linked_count for r in linked] == list(range(1, len(linked) + 1))
    assert linked[0].linked_state is LinkedState.FIRST
    if len(linked) > 1:
        assert linked[-1].linked_state is LinkedState.LAST
    assert all(r.linked_state is LinkedState.NOT_FIRST_NOT_LAST for r in linked[1:-1])
    observations = [o for r in linked for o in r.observations]
    whole = parse_apdu(encoder.poll_result(objects, invoke_id=11, obj_code=6, rel_time=100))
    assert isinstance(whole, PollResult)
    assert observations == list(whole.observations)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),  # noqa: DTZ001
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFF),
    st.none() | st.text(max_size=12).filter(lambda t: "\0" not in t),
)
@settings(max_examples=80, deadline=None)
def test_mds_create_round_trip(when, rel_time, invoke_id, bed):
    apdu = encoder.mds_create_event(
        invoke_id=invoke_id, when=when, rel_time=rel_time, bed_label=bed, model="MX800"
    )
    [user_data] = _through_the_wire([apdu], [])
    event = parse_apdu(user_data)
    assert isinstance(event, MdsCreateEvent)
    assert event.invoke_id == invoke_id
    assert event.rel_time == rel_time
    assert event.abs_time is not None
    assert event.abs_time.to_datetime() == when.replace(
        microsecond=when.microsecond // 10_000 * 10_000
    )
    assert (event.manufacturer, event.model, event.bed_label) == ("Philips", "MX800", bed)
    assert event.operating_mode == 0x4000
