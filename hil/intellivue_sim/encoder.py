"""Monitor-side IntelliVue Data Export encoder, written from the specification.

It builds what a Philips IntelliVue sends over its MIB/RS232 port: the association accept
(AARE), the MDS Create event report, (linked) poll results with numerics, waves and
alerts, the release response and abort, each framed for the wire. It shares no code with
the gateway's parser (``drivers.intellivue``), so a round trip through both checks one
reading of the specification against another: framing, CRC, FLOAT and every structure are
encoded here from the layouts in ``shared/reference/serial_protocols.md`` section 2.1
(Philips Data Export guide as reproduced by VSCaptureMP, OpenICE and Koshsky/Intellivue-api).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

# Framing.
_BOF, _EOF, _ESC = 0xC0, 0xC1, 0x7D
# Session bytes and remote operations.
_AC_SPDU, _DN_SPDU, _AB_SPDU, _DATA = 0x0E, 0x0A, 0x19, 0xE1
_ROIV, _RORS, _ROER, _RORLS = 1, 2, 3, 5
_CMD_CONFIRMED_EVENT_REPORT, _CMD_CONFIRMED_ACTION = 1, 7
_RORLS_FIRST, _RORLS_NOT_FIRST_NOT_LAST, _RORLS_LAST = 1, 2, 3
# Objects, events, actions.
_NOM_PART_OBJ = 1
_NOM_MOC_VMS_MDS = 33
_NOM_NOTI_MDS_CREAT = 0x0D06
_NOM_ACT_POLL_MDIB_DATA = 0x0C16
_NOM_ACT_POLL_MDIB_DATA_EXT = 0xF13B
# Attributes.
_ATTR_AL_MON_P_AL_LIST = 0x0902
_ATTR_AL_MON_T_AL_LIST = 0x0904
_ATTR_DEV_AL_COND = 0x0916
_ATTR_ID_BED_LABEL = 0x091E
_ATTR_ID_HANDLE = 0x0921
_ATTR_ID_LABEL = 0x0924
_ATTR_ID_LABEL_STRING = 0x0927
_ATTR_ID_MODEL = 0x0928
_ATTR_MODE_OP = 0x0946
_ATTR_NU_CMPD_VAL_OBS = 0x094B
_ATTR_NU_VAL_OBS = 0x0950
_ATTR_SA_CMPD_VAL_OBS = 0x0967
_ATTR_SA_SPECN = 0x096D
_ATTR_SA_VAL_OBS = 0x096E
_ATTR_SCALE_SPECN_I16 = 0x096F
_ATTR_TIME_ABS = 0x0987
_ATTR_TIME_PD_SAMP = 0x098D
_ATTR_TIME_REL = 0x098F
_ATTR_UNIT_CODE = 0x0996
_ATTR_VMS_MDS_STAT = 0x09A7
_POLL_PROFILE_SUPPORT = 0x0001
_POLL_PROFILE_EXT = 0xF001
_STR_ALMON_INFO = 516
_OPMODE_MONITORING = 0x4000
_MDS_STATUS_OPERATING = 6
#: Session parameters of CN/AC SPDUs.
_SESSION_PARAMETERS = bytes.fromhex("05 08 13 01 00 16 01 02 80 00 14 02 00 02")
#: BER preamble of the AARE presentation data (A-ASSOCIATE-RESPONSE), up to tag 0x81.
_AARE_PRESENTATION = bytes.fromhex(
    "31 80 a0 80 80 01 01 00 00 a2 80 a0 03 00 00 01 a5 80 30 80 80 01 00 81 02 51 01 00 00"
    " 30 80 80 01 00 81 0c 2a 86 48 ce 14 02 01 00 00 00 02 01 00 00 00 00 61 80 30 80 02 01"
    " 01 a0 80 61 80 a1 80 06 0c 2a 86 48 ce 14 02 01 00 00 00 03 01 00 00 a2 03 02 01 00 a3"
    " 05 a1 03 02 01 00 be 80 28 80 02 01 02 81"
)
#: Release response (DN SPDU) and abort (AB SPDU) as the guide lists them.
_RELEASE_RESPONSE = bytes.fromhex(
    "0a 18 c1 16 61 80 30 80 02 01 01 a0 80 63 80 80 01 00 00 00 00 00 00 00 00 00"
)
_ABORT = bytes.fromhex(
    "19 2e 11 01 03 c1 29 a0 80 a0 80 30 80 02 01 01 06 02 51 01 00 00 00 00 61 80 30 80 02 01"
    " 01 a0 80 64 80 80 01 01 00 00 00 00 00 00 00 00 00 00"
)
#: FLOAT special values.
FLOAT_NAN = 0x007FFFFF
FLOAT_NRES = 0x00800000
FLOAT_POS_INF = 0x007FFFFE
FLOAT_NEG_INF = 0x00800002
_MAX_MANTISSA = 8388605  # 2**23 - 3: larger magnitudes are reserved for special values


# ------------------------------------------------------------------------- framing


def crc16_x25(data: bytes) -> int:
    """CRC-16/X.25 register, bit by bit as the spec describes (no final complement)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def frame(user_data: bytes) -> bytes:
    """BOF, escaped (header 11 01 length, user data, FCS low byte first), EOF."""
    body = bytes((0x11, 0x01)) + struct.pack(">H", len(user_data)) + user_data
    fcs = crc16_x25(body) ^ 0xFFFF
    body += bytes((fcs & 0xFF, fcs >> 8))
    out = bytearray((_BOF,))
    for byte in body:
        if byte in (_BOF, _EOF, _ESC):
            out += bytes((_ESC, byte ^ 0x20))
        else:
            out.append(byte)
    out.append(_EOF)
    return bytes(out)


# --------------------------------------------------------------------------- FLOAT


def float_bits(value: float | str) -> int:
    """32-bit FLOAT of a number (rounded to 7 significant digits if needed) or a special.

    Specials are named ``"nan"``, ``"nres"``, ``"+inf"``, ``"-inf"``.
    """
    specials = {"nan": FLOAT_NAN, "nres": FLOAT_NRES, "+inf": FLOAT_POS_INF, "-inf": FLOAT_NEG_INF}
    if isinstance(value, str):
        return specials[value]
    if value != value:
        return FLOAT_NAN
    if value in (float("inf"), float("-inf")):
        return FLOAT_POS_INF if value > 0 else FLOAT_NEG_INF
    number = Decimal(repr(value)).normalize()
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(map(str, digits)) or "0")
    while mantissa > _MAX_MANTISSA:  # drop digits, rounding half up
        mantissa, rest = divmod(mantissa, 10)
        mantissa += rest >= 5
        exponent += 1
    if mantissa == 0:
        exponent = 0
    if not -128 <= exponent <= 127:
        raise ValueError(f"{value!r} does not fit the FLOAT exponent range")
    return float_parts(-mantissa if sign else mantissa, exponent)


def float_parts(mantissa: int, exponent: int) -> int:
    """32-bit FLOAT of an exact mantissa (24-bit signed) and exponent (8-bit signed)."""
    return ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)


# ------------------------------------------------------------------------ builders


def _u16(value: int) -> bytes:
    return struct.pack(">H", value)


def _u32(value: int) -> bytes:
    return struct.pack(">I", value)


def _attribute_list(avas: Sequence[tuple[int, bytes]]) -> bytes:
    body = b"".join(_u16(aid) + _u16(len(value)) + value for aid, value in avas)
    return _u16(len(avas)) + _u16(len(body)) + body


def _string(text: str) -> bytes:
    """String: byte length, UTF-16BE text with a NUL terminator."""
    raw = text.encode("utf-16-be") + b"\x00\x00"
    return _u16(len(raw)) + raw


def _variable_label(text: str) -> bytes:
    raw = text.encode("ascii")
    return _u16(len(raw)) + raw


def _bcd(number: int) -> int:
    return (number // 10) << 4 | number % 10


def absolute_time(when: datetime | None) -> bytes:
    """8 BCD bytes: century, year, month, day, hour, minute, second, hundredths."""
    if when is None:
        return b"\xff" * 8
    parts = (
        when.year // 100,
        when.year % 100,
        when.month,
        when.day,
        when.hour,
        when.minute,
        when.second,
        when.microsecond // 10_000,
    )
    return bytes(_bcd(p) for p in parts)


def _li(n: int) -> bytes:
    return bytes((n,)) if n < 255 else b"\xff" + _u16(n)


def _data_export(ro_type: int, header: bytes, invoke_id: int, command: int, body: bytes) -> bytes:
    """SPpdu, ROapdus, then (RorlsId +) RO header {invoke id, command, length} and body."""
    operation = header + _u16(invoke_id) + _u16(command) + _u16(len(body)) + body
    return _u16(0xE100) + _u16(0x0002) + _u16(ro_type) + _u16(len(operation)) + operation


# ------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class SimValue:
    """One NuObsValue: value is a float, a special name or an exact (mantissa, exponent)."""

    physio_id: int
    unit_code: int
    value: float | str | tuple[int, int]
    state: int = 0

    def encode(self) -> bytes:
        value = self.value
        bits = float_parts(*value) if isinstance(value, tuple) else float_bits(value)
        return _u16(self.physio_id) + _u16(self.state) + _u16(self.unit_code) + _u32(bits)


@dataclass(frozen=True)
class SimNumeric:
    """A numeric object; ``compound`` sends NU_CMPD_VAL_OBS (e.g. NBP sys/dia/mean)."""

    handle: int
    values: tuple[SimValue, ...]
    label: int | None = None
    label_string: str | None = None
    compound: bool = False

    def attributes(self) -> list[tuple[int, bytes]]:
        avas = [(_ATTR_ID_HANDLE, _u16(self.handle))]
        if self.label is not None:
            avas.append((_ATTR_ID_LABEL, _u32(self.label)))
        if self.label_string is not None:
            avas.append((_ATTR_ID_LABEL_STRING, _string(self.label_string)))
        if self.compound:
            body = b"".join(v.encode() for v in self.values)
            avas.append((_ATTR_NU_CMPD_VAL_OBS, _u16(len(self.values)) + _u16(len(body)) + body))
        else:
            avas.extend((_ATTR_NU_VAL_OBS, v.encode()) for v in self.values)
        return avas


@dataclass(frozen=True)
class SimArray:
    """One SaObsValue: 16-bit samples of one physiological id."""

    physio_id: int
    samples: tuple[int, ...]
    state: int = 0

    def encode(self) -> bytes:
        raw = struct.pack(f">{len(self.samples)}H", *self.samples)
        return _u16(self.physio_id) + _u16(self.state) + _u16(len(raw)) + raw


@dataclass(frozen=True)
class SimWave:
    """A real-time sample array object; ``static`` adds spec, scale, period and unit."""

    handle: int
    arrays: tuple[SimArray, ...]
    label: int | None = None
    sample_period: int = 32  # 1/8 ms ticks: 32 = 4 ms = 250 Hz
    significant_bits: int = 14
    flags: int = 0x3000
    scale: tuple[float, float, int, int] = (-40.96, 40.955, 0, 16383)
    unit_code: int = 4274
    static: bool = True
    compound: bool = False

    def attributes(self) -> list[tuple[int, bytes]]:
        avas = [(_ATTR_ID_HANDLE, _u16(self.handle))]
        if self.label is not None:
            avas.append((_ATTR_ID_LABEL, _u32(self.label)))
        if self.static:
            size = len(self.arrays[0].samples) if self.arrays else 0
            spec = _u16(size) + bytes((16, self.significant_bits)) + _u16(self.flags)
            low, high, low_scaled, high_scaled = self.scale
            scale = (
                _u32(float_bits(low))
                + _u32(float_bits(high))
                + _u16(low_scaled)
                + _u16(high_scaled)
            )
            avas += [
                (_ATTR_SA_SPECN, spec),
                (_ATTR_SCALE_SPECN_I16, scale),
                (_ATTR_TIME_PD_SAMP, _u32(self.sample_period)),
                (_ATTR_UNIT_CODE, _u16(self.unit_code)),
            ]
        if self.compound:
            body = b"".join(a.encode() for a in self.arrays)
            avas.append((_ATTR_SA_CMPD_VAL_OBS, _u16(len(self.arrays)) + _u16(len(body)) + body))
        else:
            avas.extend((_ATTR_SA_VAL_OBS, a.encode()) for a in self.arrays)
        return avas


@dataclass(frozen=True)
class SimAlarm:
    """A DevAlarmEntry with StrAlMonInfo."""

    source: int
    code: int
    alert_type: int
    text: str = ""
    alert_state: int = 0
    text_id: int = 0
    priority: int = 0
    flags: int = 0
    instance: int = 0
    obj: tuple[int, int, int] = (6, 0, 0)

    def encode(self) -> bytes:
        info = (
            _u16(self.instance)
            + _u32(self.text_id)
            + _u16(self.priority)
            + _u16(self.flags)
            + _string(self.text)
        )
        return (
            _u16(self.source)
            + _u16(self.code)
            + _u16(self.alert_type)
            + _u16(self.alert_state)
            + b"".join(_u16(x) for x in self.obj)
            + _u16(_STR_ALMON_INFO)
            + _u16(len(info))
            + info
        )


@dataclass(frozen=True)
class SimAlerts:
    """The alert monitor object: device alert condition and P/T alarm lists."""

    handle: int
    condition: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    patient: tuple[SimAlarm, ...] = ()
    technical: tuple[SimAlarm, ...] = field(default=())

    def attributes(self) -> list[tuple[int, bytes]]:
        def alarm_list(alarms: tuple[SimAlarm, ...]) -> bytes:
            body = b"".join(a.encode() for a in alarms)
            return _u16(len(alarms)) + _u16(len(body)) + body

        return [
            (_ATTR_DEV_AL_COND, b"".join(_u16(x) for x in self.condition)),
            (_ATTR_AL_MON_P_AL_LIST, alarm_list(self.patient)),
            (_ATTR_AL_MON_T_AL_LIST, alarm_list(self.technical)),
        ]


SimObject = SimNumeric | SimWave | SimAlerts


# ------------------------------------------------------------------------ messages


def aare(
    *,
    min_poll_period: int = 4000,
    max_mtu_rx: int = 1000,
    max_mtu_tx: int = 1456,
    max_bw_tx: int = 0xFFFFFFFF,
    options: int = 0x60000000,
    ext_options: int = 0x88000000,
) -> bytes:
    """Association accept (AC SPDU) with the monitor's PollProfileSupport."""
    profile = (
        _u32(0x80000000)
        + _u32(min_poll_period)
        + _u32(max_mtu_rx)
        + _u32(max_mtu_tx)
        + _u32(max_bw_tx)
        + _u32(options)
        + _attribute_list([(_POLL_PROFILE_EXT, _u32(ext_options) + _attribute_list([]))])
    )
    user_info = (
        _u32(0x80000000)  # protocol version MDDL_VERSION1
        + _u32(0x40000000)  # nomenclature version
        + _u32(0)  # functional units
        + _u32(0x00800000)  # system type: SYST_SERVER
        + _u32(0x80000000)  # startup mode: HOT_START
        + _attribute_list([])
        + _attribute_list([(_POLL_PROFILE_SUPPORT, profile)])
    )
    length = bytes((len(user_info),)) if len(user_info) < 0x80 else b"\x82" + _u16(len(user_info))
    presentation = _AARE_PRESENTATION + length + user_info + bytes(16)
    session = _SESSION_PARAMETERS + b"\xc1" + _li(len(presentation)) + presentation
    return bytes((_AC_SPDU,)) + _li(len(session)) + session


def mds_create_event(
    *,
    invoke_id: int = 1,
    when: datetime | None,
    rel_time: int,
    manufacturer: str = "Philips",
    model: str = "M8000",
    bed_label: str | None = None,
    event_time: int | None = None,
) -> bytes:
    """ROIV CONFIRMED_EVENT_REPORT, NOM_NOTI_MDS_CREAT, with time and model attributes."""
    avas = [
        (_ATTR_ID_MODEL, _variable_label(manufacturer) + _variable_label(model)),
        (_ATTR_TIME_ABS, absolute_time(when)),
        (_ATTR_TIME_REL, _u32(rel_time)),
        (_ATTR_MODE_OP, _u16(_OPMODE_MONITORING)),
        (_ATTR_VMS_MDS_STAT, _u16(_MDS_STATUS_OPERATING)),
    ]
    if bed_label is not None:
        avas.append((_ATTR_ID_BED_LABEL, _string(bed_label)))
    mds = _u16(_NOM_MOC_VMS_MDS) + _u16(0) + _u16(0)
    info = mds + _attribute_list(avas)
    argument = (
        mds
        + _u32(rel_time if event_time is None else event_time)
        + _u16(_NOM_NOTI_MDS_CREAT)
        + _u16(len(info))
        + info
    )
    return _data_export(_ROIV, b"", invoke_id, _CMD_CONFIRMED_EVENT_REPORT, argument)


def poll_result(
    objects: Sequence[SimObject],
    *,
    invoke_id: int,
    obj_code: int,
    poll_number: int = 1,
    rel_time: int = 0,
    abs_time: datetime | None = None,
    extended: bool = True,
    sequence_no: int = 0,
    attr_group: int = 0,
    context_id: int = 0,
    linked: tuple[int, int] | None = None,
) -> bytes:
    """RORS (or RORLS with ``linked=(state, count)``) carrying one context's objects."""
    polls = b"".join(_u16(o.handle) + _attribute_list(o.attributes()) for o in objects)
    context = _u16(context_id) + _u16(len(objects)) + _u16(len(polls)) + polls
    info = _u16(1) + _u16(len(context)) + context
    action = _NOM_ACT_POLL_MDIB_DATA_EXT if extended else _NOM_ACT_POLL_MDIB_DATA
    reply = _u16(poll_number)
    if extended:
        reply += _u16(sequence_no)
    reply += (
        _u32(rel_time)
        + absolute_time(abs_time)
        + _u16(_NOM_PART_OBJ)
        + _u16(obj_code)
        + _u16(attr_group)
        + info
    )
    body = _u16(_NOM_MOC_VMS_MDS) + _u16(0) + _u16(0) + _u16(action) + _u16(len(reply)) + reply
    if linked is None:
        return _data_export(_RORS, b"", invoke_id, _CMD_CONFIRMED_ACTION, body)
    state, count = linked
    return _data_export(_RORLS, bytes((state, count)), invoke_id, _CMD_CONFIRMED_ACTION, body)


def linked_poll_results(
    objects: Sequence[SimObject],
    *,
    per_segment: int,
    invoke_id: int,
    obj_code: int,
    poll_number: int = 1,
    rel_time: int = 0,
    sequence_no: int = 0,
) -> list[bytes]:
    """A long extended-poll result as RORLS segments (first, middle..., last, counted from
    1) followed by a RORS with no objects, the way monitors split large results."""
    chunks = [objects[i : i + per_segment] for i in range(0, len(objects), per_segment)]
    out = []
    for i, chunk in enumerate(chunks):
        if i == 0:
            state = _RORLS_FIRST
        elif i == len(chunks) - 1:
            state = _RORLS_LAST
        else:
            state = _RORLS_NOT_FIRST_NOT_LAST
        out.append(
            poll_result(
                chunk,
                invoke_id=invoke_id,
                obj_code=obj_code,
                poll_number=poll_number,
                rel_time=rel_time,
                sequence_no=sequence_no,
                linked=(state, i + 1),
            )
        )
    out.append(
        poll_result(
            (),
            invoke_id=invoke_id,
            obj_code=obj_code,
            poll_number=poll_number,
            rel_time=rel_time,
            sequence_no=sequence_no,
        )
    )
    return out


def remote_error(invoke_id: int, error_value: int, parameter: bytes = b"") -> bytes:
    """ROER: an operation failed (e.g. 9 NO_SUCH_ACTION)."""
    body = _u16(invoke_id) + _u16(error_value) + _u16(len(parameter)) + parameter
    return _u16(0xE100) + _u16(0x0002) + _u16(_ROER) + _u16(len(body)) + body


def release_response() -> bytes:
    return _RELEASE_RESPONSE


def abort() -> bytes:
    return _ABORT
