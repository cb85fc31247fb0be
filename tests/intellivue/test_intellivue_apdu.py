"""IntelliVue APDUs written byte by byte from the Data Export layouts, plus error paths and fuzz."""

from __future__ import annotations

import contextlib
from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.intellivue.apdu import (
    EventReportResult,
    LinkedState,
    MdsCreateEvent,
    OtherOperation,
    PollRequest,
    PollResult,
    RemoteError,
    RoType,
    parse_apdu,
)
from drivers.intellivue.association import SessionPdu, SessionType
from drivers.intellivue.attributes import (
    AbsoluteTime,
    AlertObservation,
    NumericObservation,
    WaveObservation,
)
from drivers.intellivue.floats import FloatReason
from gateway.errors import FieldError, FramingError, ParseError
from gateway.model import Quality
from hil.intellivue_sim import encoder


def hexb(text: str) -> bytes:
    """Bytes from hex with ``#`` comments, one structure per line."""
    return bytes.fromhex("".join(line.split("#")[0] for line in text.splitlines()))


NUMERIC_POLL = hexb("""
    e1 00 00 02             # SPpdu: session 0xE100, presentation context 2
    00 02 00 4c             # ROapdus: RORS, 76 bytes follow
    00 05 00 07 00 46       # RORSapdu: invoke 5, CONFIRMED_ACTION, 70 bytes follow
    00 21 00 00 00 00       # ActionResult.managed_object: MDS (33), context 0, handle 0
    f1 3b 00 3c             # action NOM_ACT_POLL_MDIB_DATA_EXT, 60 bytes follow
    00 01 00 07             # poll_number 1, sequence_no 7
    00 1d c2 00             # rel_time_stamp 1950208 (1/8 ms)
    ff ff ff ff ff ff ff ff # abs_time_stamp: not supported
    00 01 00 06             # polled_obj_type: NOM_PART_OBJ, numerics (6)
    00 00                   # polled_attr_grp
    00 01 00 22             # PollInfoList: 1 context, 34 bytes
    00 00 00 01 00 1c       # SingleContextPoll: context 0, 1 object, 28 bytes
    00 2a                   # ObservationPoll: handle 42
    00 02 00 16             # AttributeList: 2 attributes, 22 bytes
    09 24 00 04 00 02 41 82 # ID_LABEL: NLS_NOM_ECG_CARD_BEAT_RATE
    09 50 00 0a             # NU_VAL_OBS, 10 bytes:
    41 82 00 02 0a a0       #   physio HR (0x4182), state IN_ALARM, unit 2720 (bpm)
    00 00 00 3c             #   FLOAT 60
""")

MDS_CREATE = hexb("""
    e1 00 00 02             # SPpdu
    00 01 00 32             # ROapdus: ROIV, 50 bytes follow
    00 01 00 01 00 2c       # ROIVapdu: invoke 1, CONFIRMED_EVENT_REPORT, 44 bytes
    00 21 00 00 00 00       # EventReportArgument.managed_object: MDS
    00 1d c2 00             # event_time (relative) 1950208
    0d 06 00 1e             # event_type NOM_NOTI_MDS_CREAT, 30 bytes follow
    00 21 00 00 00 00       # MdsCreateInfo.managed_object
    00 02 00 14             # AttributeList: 2 attributes, 20 bytes
    09 87 00 08             # NOM_ATTR_TIME_ABS, 8 BCD bytes:
    20 21 04 22 11 47 26 50 #   2021-04-22 11:47:26.50
    09 8f 00 04 00 1d c2 00 # NOM_ATTR_TIME_REL 1950208
""")

WAVE_POLL_LINKED = hexb("""
    e1 00 00 02             # SPpdu
    00 05 00 6c             # ROapdus: RORLS, 108 bytes follow
    01 01                   # RorlsId: first segment, count 1
    00 06 00 07 00 64       # invoke 6, CONFIRMED_ACTION, 100 bytes
    00 21 00 00 00 00       # managed object MDS
    f1 3b 00 5a             # extended poll, 90 bytes
    00 02 00 03             # poll_number 2, sequence_no 3
    00 00 08 00             # rel_time 2048
    ff ff ff ff ff ff ff ff # no absolute time
    00 01 00 09             # waves (9)
    00 00                   # attribute group
    00 01 00 40             # PollInfoList: 1 context, 64 bytes
    00 00 00 01 00 3a       # context 0, 1 object, 58 bytes
    00 10                   # handle 16
    00 04 00 34             # AttributeList: 4 attributes, 52 bytes
    09 6d 00 06             # SA_SPECN:
    00 04 10 0e 30 00       #   4 samples, 16-bit, 14 significant bits, flags 0x3000
    09 6f 00 0c             # SCALE_SPECN_I16:
    fe ff f0 00             #   lower absolute -4096e-2 = -40.96
    fd 00 9f fb             #   upper absolute 40955e-3 = 40.955
    00 00 3f ff             #   scaled 0 .. 16383
    09 8d 00 04 00 00 00 20 # TIME_PD_SAMP 32 (4 ms, 250 Hz)
    09 6e 00 0e             # SA_VAL_OBS, 14 bytes:
    01 02 00 00 00 08       #   physio ECG II (0x0102), state 0, 8 bytes of samples
    20 00 20 01 1f ff e0 00 #   0x2000 0x2001 0x1FFF 0xE000 (flag bits above bit 13)
""")

ROER = hexb("""
    e1 00 00 02
    00 03 00 06             # ROapdus: ROER, 6 bytes
    00 05 00 09 00 00       # invoke 5, error NO_SUCH_ACTION (9), no parameter
""")


def test_numeric_poll_result():
    result = parse_apdu(NUMERIC_POLL)
    assert isinstance(result, PollResult)
    assert result.ro_type is RoType.RORS
    assert (result.invoke_id, result.poll_number, result.sequence_no) == (5, 1, 7)
    assert result.extended
    assert result.rel_time == 1950208
    assert result.abs_time is None
    assert (result.obj_partition, result.obj_code, result.object_count) == (1, 6, 1)
    [hr] = result.observations
    assert hr == NumericObservation(
        context_id=0,
        handle=42,
        physio_id=0x4182,
        state=0x0002,
        unit_code=2720,
        raw_value=60,
        value=60.0,
        reason=FloatReason.OK,
        label=0x00024182,
        label_string=None,
        rel_time=1950208,
    )
    assert hr.in_alarm
    assert hr.quality == Quality(0)


def test_mds_create_event():
    event = parse_apdu(MDS_CREATE)
    assert isinstance(event, MdsCreateEvent)
    assert event.invoke_id == 1
    assert event.event_time == 1950208
    assert event.abs_time == AbsoluteTime(2021, 4, 22, 11, 47, 26, 50)
    assert event.abs_time.to_datetime() == datetime(2021, 4, 22, 11, 47, 26, 500000)  # noqa: DTZ001
    assert event.rel_time == 1950208
    assert [a.attribute_id for a in event.attributes] == [0x0987, 0x098F]


def test_linked_wave_poll_result():
    result = parse_apdu(WAVE_POLL_LINKED)
    assert isinstance(result, PollResult)
    assert result.ro_type is RoType.RORLS
    assert (result.linked_state, result.linked_count) == (LinkedState.FIRST, 1)
    assert (result.poll_number, result.sequence_no, result.rel_time) == (2, 3, 2048)
    [wave] = result.observations
    assert isinstance(wave, WaveObservation)
    assert (wave.handle, wave.physio_id, wave.sample_period) == (16, 0x0102, 32)
    assert wave.samples.tolist() == [0x2000, 0x2001, 0x1FFF, 0xE000]
    assert wave.sa_spec is not None
    assert (wave.sa_spec.array_size, wave.sa_spec.significant_bits) == (4, 14)
    assert wave.scale is not None
    assert wave.scale.lower_absolute == pytest.approx(-40.96)
    assert wave.scale.upper_absolute == pytest.approx(40.955)
    gain, offset = wave.scale.gain_offset()
    assert offset + gain * 8192 == pytest.approx(0.0, abs=0.003)  # baseline near 8192


def test_remote_error():
    assert parse_apdu(ROER) == RemoteError(5, 9, b"")


def test_mds_create_result_from_vscapture_is_event_report_result():
    # VSCaptureMP mds_create_resp_msg (test vector): RORS, invoke 1, event result.
    vector = bytes.fromhex(
        "e1 00 00 02 00 02 00 14 00 01 00 01 00 0e 00 21 00 00 00 00 00 0a bd 00 0d 06 00 00"
    )
    result = parse_apdu(vector)
    assert isinstance(result, EventReportResult)
    assert (result.invoke_id, result.current_time, result.event_type) == (1, 0x000ABD00, 0x0D06)


def test_host_poll_request_is_decoded():
    # VSCaptureMP ext_poll_request_alert_msg (test vector): alerts, 600 s period.
    vector = bytes.fromhex(
        "e1 00 00 02 00 01 00 28 00 05 00 07 00 22 00 21 00 00 00 00 00 00 00 00"
        " f1 3b 00 14 00 04 00 01 00 36 08 01 00 01 00 08 f1 3e 00 04 00 49 3e 00"
    )
    request = parse_apdu(vector)
    assert isinstance(request, PollRequest)
    assert (request.invoke_id, request.poll_number, request.obj_code) == (5, 4, 54)
    assert request.attr_group == 0x0801
    assert [(o.attribute_id, o.value) for o in request.options] == [(0xF13E, b"\x00\x49\x3e\x00")]


def test_get_request_is_other_operation():
    # GET of the wave priority list (VSCaptureMP get_rtsa_prio_msg).
    vector = bytes.fromhex(
        "e1 00 00 02 00 01 00 16 00 00 00 03 00 10 00 21 00 00 00 00 00 00 00 00 00 01 00 02 f2 3a"
    )
    op = parse_apdu(vector)
    assert isinstance(op, OtherOperation)
    assert (op.ro_type, op.command, len(op.payload)) == (RoType.ROIV, 3, 16)


@pytest.mark.parametrize(
    ("session", "kind"),
    [
        ("0a 18 c1 16 61 80 30 80 02 01 01 a0 80 63 80 80 01 00 00 00 00 00 00 00 00 00", "DN"),
        ("09 18 c1 16 61 80 30 80 02 01 01 a0 80 62 80 80 01 00 00 00 00 00 00 00 00 00", "FN"),
        ("0c 03 32 01 00", "RF"),
    ],
)
def test_session_pdus(session, kind):
    assert parse_apdu(bytes.fromhex(session)) == SessionPdu(SessionType[kind], None)


def test_simulated_aare_carries_poll_profile():
    pdu = parse_apdu(encoder.aare(min_poll_period=4000, max_mtu_tx=1456, ext_options=0x88000000))
    assert isinstance(pdu, SessionPdu)
    assert pdu.kind is SessionType.AC
    assert pdu.user_info is not None
    assert pdu.user_info.system_type == 0x00800000
    profile = pdu.user_info.poll_profile
    assert profile is not None
    assert (profile.min_poll_period, profile.max_mtu_tx, profile.ext_options) == (
        4000,
        1456,
        0x88000000,
    )


def test_alert_poll_result():
    alerts = encoder.SimAlerts(
        7,
        condition=(0x0008, 3, 0x0400, 0x0001, 0x0400),
        patient=(encoder.SimAlarm(0x4182, 0x1234, 0x0400, "HR High", alert_state=0x0008),),
        technical=(encoder.SimAlarm(0x4BB8, 0x0200, 0x0001, "SpO2 No Sensor"),),
    )
    result = parse_apdu(encoder.poll_result([alerts], invoke_id=9, obj_code=54))
    assert isinstance(result, PollResult)
    [obs] = result.observations
    assert isinstance(obs, AlertObservation)
    assert obs.condition is not None
    assert (obs.condition.change_count, obs.condition.max_patient_alarm) == (3, 0x0400)
    [p] = obs.patient_alarms
    assert (p.source, p.code, p.alert_type, p.alert_state, p.string) == (
        0x4182,
        0x1234,
        0x0400,
        0x0008,
        "HR High",
    )
    assert [t.string for t in obs.technical_alarms] == ["SpO2 No Sensor"]


# ------------------------------------------------------------------ bad input


def _patched(data: bytes, offset: int, new: str) -> bytes:
    raw = bytes.fromhex(new)
    return data[:offset] + raw + data[offset + len(raw) :]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", FramingError),
        (b"\x42", FieldError),  # unknown session byte
        (NUMERIC_POLL[:-1], FramingError),  # truncated
        (NUMERIC_POLL + b"\x00", FramingError),  # trailing byte: ROapdus length wrong
        (ROER + b"\x00", FramingError),  # ROapdus length 6, 7 bytes follow
        (_patched(NUMERIC_POLL, 0, "e2 00"), FieldError),  # session id 0xE200
        (_patched(NUMERIC_POLL, 4, "00 04"), FieldError),  # unknown ro_type 4
        (_patched(WAVE_POLL_LINKED, 8, "04"), FieldError),  # RORLS state 4
        (_patched(NUMERIC_POLL, 58, "00 03"), FramingError),  # attribute count 3, only 2
        (_patched(NUMERIC_POLL, 60, "00 17"), FramingError),  # attribute list length 23
        (_patched(NUMERIC_POLL, 72, "00 0b"), FramingError),  # NU_VAL_OBS length 11
        (_patched(MDS_CREATE, 45, "2a"), FieldError),  # BCD digit A in the day
        (_patched(MDS_CREATE, 44, "13"), FieldError),  # month 13
        (_patched(WAVE_POLL_LINKED, 106, "00 07"), FieldError),  # odd sample bytes
        (_patched(WAVE_POLL_LINKED, 70, "08 08"), FieldError),  # 8-bit samples
        (_patched(WAVE_POLL_LINKED, 70, "10 11"), FieldError),  # 17 of 16 bits
    ],
)
def test_bad_input_raises_precise_parse_errors(data, error):
    with pytest.raises(error) as info:
        parse_apdu(data)
    assert info.value.source == "intellivue"


def test_golden_offsets_point_at_the_fields():
    # Sanity of the hand-written patches above: the bytes they replace are the fields named.
    assert NUMERIC_POLL[58:62] == bytes.fromhex("0002 0016")  # attribute count, length
    assert NUMERIC_POLL[72:74] == b"\x00\x0a"  # NU_VAL_OBS length
    assert MDS_CREATE[44:46] == b"\x04\x22"  # month, day
    assert WAVE_POLL_LINKED[8:9] == b"\x01"  # RORLS state
    assert WAVE_POLL_LINKED[70:72] == b"\x10\x0e"  # sample size, significant bits
    assert WAVE_POLL_LINKED[106:108] == b"\x00\x08"  # sample array length


VALID = [
    NUMERIC_POLL,
    MDS_CREATE,
    WAVE_POLL_LINKED,
    ROER,
    encoder.aare(),
    encoder.mds_create_event(when=datetime(2024, 2, 29, 23, 59, 59), rel_time=7, bed_label="B"),  # noqa: DTZ001
]


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_fuzz_random_bytes_only_raise_parse_errors(data):
    for candidate in (data, b"\xe1\x00\x00\x02" + data, b"\x0e" + data):
        with contextlib.suppress(ParseError):
            parse_apdu(candidate)


@given(st.sampled_from(VALID), st.data())
@settings(max_examples=400)
def test_fuzz_mutated_apdus_only_raise_parse_errors(base, data):
    mutated = bytearray(base)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(mutated) - 1))
        mutated[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    for candidate in (bytes(mutated), bytes(mutated[:cut])):
        try:
            result = parse_apdu(candidate)
        except ParseError:
            continue
        if isinstance(result, PollResult):
            for obs in result.observations:
                if isinstance(obs, WaveObservation):
                    assert obs.samples.dtype == np.uint16
