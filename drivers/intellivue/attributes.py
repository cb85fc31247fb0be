"""IntelliVue attribute values and the observations decoded from polled objects.

An object of a poll result is a handle and an AttributeList of AVAs {attribute id u16,
length u16, value}. The ones decoded here:

================ ====== ===========================================================
NU_VAL_OBS       0x0950 NuObsValue {physio_id, state, unit_code u16, value FLOAT}
NU_CMPD_VAL_OBS  0x094B {count, length} + count NuObsValue (NBP sys/dia/mean ...)
SA_VAL_OBS       0x096E SaObsValue {physio_id, state, length, 16-bit samples}
SA_CMPD_VAL_OBS  0x0967 {count, length} + count SaObsValue
SA_SPECN         0x096D {array_size u16, sample_size u8, significant_bits u8, flags u16}
SCALE_SPECN_I16  0x096F {lower_abs FLOAT, upper_abs FLOAT, lower_scaled, upper_scaled}
SA_CALIB_I16     0x0964 scale as above + {increment, cal_type}
TIME_PD_SAMP     0x098D sample period u32, 1/8 ms
UNIT_CODE        0x0996 u16; ID_LABEL 0x0924 TextId u32; ID_LABEL_STRING 0x0927 String
DEV_AL_COND      0x0916 {state, change count, max P, max T, max audible alarm}
AL_MON_P/T_AL_LIST 0x0902/0x0904 {count, length} + DevAlarmEntry
================ ====== ===========================================================

Malformed values raise :class:`~gateway.errors.ParseError` subclasses naming the offset.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from drivers.intellivue import nomenclature
from drivers.intellivue.floats import FloatReason, decode_float
from drivers.intellivue.reader import SOURCE, Reader
from gateway.errors import FieldError, FramingError
from gateway.model import Quality


class MeasurementState(enum.IntFlag):
    """State bits of a numeric or sample-array observation."""

    INVALID = 0x8000
    QUESTIONABLE = 0x4000
    UNAVAILABLE = 0x2000
    CALIBRATION_ONGOING = 0x1000
    TEST_DATA = 0x0800
    DEMO_DATA = 0x0400
    VALIDATED_DATA = 0x0080
    EARLY_INDICATION = 0x0040
    MSMT_ONGOING = 0x0020
    MSMT_STATE_IN_ALARM = 0x0002
    MSMT_STATE_AL_INHIBITED = 0x0001


class AlertType(enum.IntFlag):
    """Priority bits of an alarm (``LOW/MED/HI`` technical ``T`` or physiological ``P``)."""

    LOW_PRI_T_AL = 0x0001
    MED_PRI_T_AL = 0x0002
    HI_PRI_T_AL = 0x0004
    LOW_PRI_P_AL = 0x0100
    MED_PRI_P_AL = 0x0200
    HI_PRI_P_AL = 0x0400


class AlertState(enum.IntFlag):
    AL_INHIBITED = 0x8000
    AL_SUSPENDED = 0x4000
    AL_LATCHED = 0x2000
    AL_SILENCED_RESET = 0x1000
    AL_DEV_IN_TEST_MODE = 0x0400
    AL_DEV_IN_STANDBY = 0x0200
    AL_DEV_IN_DEMO_MODE = 0x0100
    AL_NEW_ALERT = 0x0008


# Attribute ids.
NOM_ATTR_AL_MON_P_AL_LIST = 0x0902
NOM_ATTR_AL_MON_T_AL_LIST = 0x0904
NOM_ATTR_DEV_AL_COND = 0x0916
NOM_ATTR_ID_BED_LABEL = 0x091E
NOM_ATTR_ID_HANDLE = 0x0921
NOM_ATTR_ID_LABEL = 0x0924
NOM_ATTR_ID_LABEL_STRING = 0x0927
NOM_ATTR_ID_MODEL = 0x0928
NOM_ATTR_MODE_OP = 0x0946
NOM_ATTR_NU_CMPD_VAL_OBS = 0x094B
NOM_ATTR_NU_VAL_OBS = 0x0950
NOM_ATTR_SA_CALIB_I16 = 0x0964
NOM_ATTR_SA_CMPD_VAL_OBS = 0x0967
NOM_ATTR_SA_SPECN = 0x096D
NOM_ATTR_SA_VAL_OBS = 0x096E
NOM_ATTR_SCALE_SPECN_I16 = 0x096F
NOM_ATTR_TIME_ABS = 0x0987
NOM_ATTR_TIME_PD_SAMP = 0x098D
NOM_ATTR_TIME_REL = 0x098F
NOM_ATTR_UNIT_CODE = 0x0996
NOM_ATTR_VMS_MDS_STAT = 0x09A7
# Alarm info ids (PrivateOid of DevAlarmEntry.alert_info_id).
GEN_ALMON_INFO = 513
STR_ALMON_INFO = 516
#: One relative-time tick is 1/8 ms.
TICK_NS = 125_000

_AVA = struct.Struct(">HH")
_NU_OBS = struct.Struct(">HHHI")
_SA_HEAD = struct.Struct(">HHH")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class ManagedObject:
    obj_class: int
    context_id: int
    handle: int


@dataclass(frozen=True, slots=True)
class Ava:
    """One attribute value assertion, kept raw."""

    attribute_id: int
    value: bytes


@dataclass(frozen=True, slots=True)
class AbsoluteTime:
    """The monitor's wall clock (local time, no zone), from 8 BCD bytes."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    hundredths: int

    def to_datetime(self) -> datetime:
        """Naive datetime in the monitor's local time."""
        return datetime(  # noqa: DTZ001 - the monitor sends local time without a zone
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.hundredths * 10_000,
        )


@dataclass(frozen=True, slots=True)
class SaSpec:
    """NOM_ATTR_SA_SPECN: samples per array, bits per sample, significant bits, flags."""

    array_size: int
    sample_size: int
    significant_bits: int
    flags: int


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    """Linear map between raw samples and physical values (SCALE_SPECN_I16 / SA_CALIB_I16)."""

    lower_absolute: float | None
    upper_absolute: float | None
    lower_scaled: int
    upper_scaled: int

    def gain_offset(self) -> tuple[float, float] | None:
        """``(gain, offset)`` with physical = offset + gain * raw, or None if degenerate."""
        if self.lower_absolute is None or self.upper_absolute is None:
            return None
        span = self.upper_scaled - self.lower_scaled
        if span == 0:
            return None
        gain = (self.upper_absolute - self.lower_absolute) / span
        return gain, self.lower_absolute - gain * self.lower_scaled


_STATE_QUALITY = tuple(
    (int(bit), int(flag))
    for bit, flag in (
        (MeasurementState.INVALID, Quality.INVALID),
        (MeasurementState.QUESTIONABLE, Quality.QUESTIONABLE),
        (MeasurementState.UNAVAILABLE, Quality.UNAVAILABLE),
        (MeasurementState.CALIBRATION_ONGOING, Quality.CALIBRATING),
        (MeasurementState.TEST_DATA, Quality.TEST),
        (MeasurementState.DEMO_DATA, Quality.DEMO),
    )
)
_QUALITY_BITS = 0xFC00  # state bits that map to a quality flag
_MISSING = int(Quality.INVALID | Quality.UNAVAILABLE | Quality.CALIBRATING)
_VALID = Quality(0)


def quality_of(state: int, reason: FloatReason = FloatReason.OK) -> Quality:
    """EdgeTwin quality flags for a MeasurementState word and a FLOAT reason."""
    if not state & _QUALITY_BITS and reason is FloatReason.OK:
        return _VALID
    quality = 0
    for bit, flag in _STATE_QUALITY:
        if state & bit:
            quality |= flag
    if reason is FloatReason.POS_INF:
        quality |= Quality.OVER_RANGE
    elif reason is FloatReason.NEG_INF:
        quality |= Quality.UNDER_RANGE
    elif reason is not FloatReason.OK and not quality & _MISSING:
        quality |= Quality.INVALID
    return Quality(quality)


# --------------------------------------------------------------------- observations


@dataclass(frozen=True, slots=True)
class NumericObservation:
    """One NuObsValue of a numeric object (a compound value gives several)."""

    context_id: int
    handle: int
    physio_id: int
    state: int
    unit_code: int
    raw_value: int
    value: float | None
    reason: FloatReason
    label: int | None
    label_string: str | None
    rel_time: int

    @property
    def metric_id(self) -> int:
        return nomenclature.metric_id(self.physio_id, self.label)

    @property
    def quality(self) -> Quality:
        return quality_of(self.state, self.reason)

    @property
    def in_alarm(self) -> bool:
        return bool(self.state & MeasurementState.MSMT_STATE_IN_ALARM)


@dataclass(frozen=True, slots=True, eq=False)
class WaveObservation:
    """One SaObsValue: raw 16-bit samples plus what the object said about them.

    ``sample_period`` (1/8 ms ticks), ``sa_spec``, ``scale`` and ``unit_code`` are ``None``
    when this poll did not repeat the static attributes; callers cache them per handle.
    """

    context_id: int
    handle: int
    physio_id: int
    state: int
    samples: npt.NDArray[np.uint16]
    rel_time: int
    sample_period: int | None
    sa_spec: SaSpec | None
    scale: ScaleSpec | None
    calibration: ScaleSpec | None
    unit_code: int | None
    label: int | None
    label_string: str | None

    @property
    def metric_id(self) -> int:
        return nomenclature.metric_id(self.physio_id, self.label)

    @property
    def quality(self) -> Quality:
        return quality_of(self.state)


@dataclass(frozen=True, slots=True)
class AlarmEntry:
    """DevAlarmEntry of a patient (P) or technical (T) alarm list."""

    source: int  # physio id (or object class) raising the alarm
    code: int  # alarm code (partition EVT)
    alert_type: int  # AlertType bits
    alert_state: int  # AlertState bits
    managed_object: ManagedObject
    info_id: int
    instance: int | None = None
    text: int | None = None  # TextId
    priority: int | None = None
    flags: int | None = None
    string: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceAlertCondition:
    state: int
    change_count: int
    max_patient_alarm: int
    max_technical_alarm: int
    max_audible_alarm: int


@dataclass(frozen=True, slots=True)
class AlertObservation:
    """The alert monitor object: device condition and the active alarm lists."""

    context_id: int
    handle: int
    rel_time: int
    condition: DeviceAlertCondition | None
    patient_alarms: tuple[AlarmEntry, ...]
    technical_alarms: tuple[AlarmEntry, ...]


Observation: TypeAlias = NumericObservation | WaveObservation | AlertObservation


def managed_object(c: Reader) -> ManagedObject:
    return ManagedObject(c.u16("object class"), c.u16("context id"), c.u16("handle"))


def attribute_list(c: Reader, what: str) -> list[tuple[int, int, int]]:
    """AttributeList as (attribute id, value offset, value length) triples."""
    count = c.u16(f"{what} count")
    length = c.u16(f"{what} length")
    body = c.sub(length, what)
    data = body.data
    avas: list[tuple[int, int, int]] = []
    pos, end = body.pos, body.end
    for _ in range(count):
        if pos + 4 > end:
            raise FramingError(SOURCE, pos, data, f"{what}: attribute header past the list end")
        aid, ln = _AVA.unpack_from(data, pos)
        pos += 4
        if pos + ln > end:
            raise FramingError(SOURCE, pos, data, f"{what}: attribute {aid:#06x} of {ln} bytes")
        avas.append((aid, pos, ln))
        pos += ln
    if pos != end:
        raise FramingError(SOURCE, pos, data, f"{what}: {end - pos} bytes after {count} items")
    return avas


def decode_object(
    data: bytes,
    context_id: int,
    handle: int,
    avas: list[tuple[int, int, int]],
    rel_time: int,
) -> list[Observation]:
    label: int | None = None
    label_string: str | None = None
    numerics: list[tuple[int, int, int, int]] = []
    arrays: list[tuple[int, int, int, int]] = []
    sa_spec: SaSpec | None = None
    scale: ScaleSpec | None = None
    calibration: ScaleSpec | None = None
    period: int | None = None
    unit: int | None = None
    condition: DeviceAlertCondition | None = None
    p_alarms: tuple[AlarmEntry, ...] | None = None
    t_alarms: tuple[AlarmEntry, ...] | None = None
    for aid, off, ln in avas:
        v = Reader(data, off, off + ln)
        if aid == NOM_ATTR_NU_VAL_OBS:
            numerics.append(_nu_obs(v))
            v.expect_end("NuObsValue")
        elif aid == NOM_ATTR_NU_CMPD_VAL_OBS:
            n = v.u16("compound count")
            body = v.length_field("compound length")
            numerics.extend(_nu_obs(body) for _ in range(n))
            body.expect_end("compound numeric")
        elif aid == NOM_ATTR_SA_VAL_OBS:
            arrays.append(_sa_obs(v))
            v.expect_end("SaObsValue")
        elif aid == NOM_ATTR_SA_CMPD_VAL_OBS:
            n = v.u16("compound count")
            body = v.length_field("compound length")
            arrays.extend(_sa_obs(body) for _ in range(n))
            body.expect_end("compound sample array")
        elif aid == NOM_ATTR_SA_SPECN:
            sa_spec = _sa_spec(v)
        elif aid == NOM_ATTR_SCALE_SPECN_I16:
            scale = _scale(v)
            v.expect_end("scale specification")
        elif aid == NOM_ATTR_SA_CALIB_I16:
            calibration = _scale(v)
            v.take(4, "calibration increment and type")
            v.expect_end("calibration specification")
        elif aid == NOM_ATTR_TIME_PD_SAMP:
            period = v.u32("sample period")
            v.expect_end("sample period")
        elif aid == NOM_ATTR_UNIT_CODE:
            unit = v.u16("unit code")
        elif aid == NOM_ATTR_ID_LABEL:
            label = v.u32("label")
        elif aid == NOM_ATTR_ID_LABEL_STRING:
            label_string = text_string(v, "label string")
        elif aid == NOM_ATTR_DEV_AL_COND:
            condition = DeviceAlertCondition(*(v.u16("alert condition") for _ in range(5)))
        elif aid == NOM_ATTR_AL_MON_P_AL_LIST:
            p_alarms = _alarm_list(v)
        elif aid == NOM_ATTR_AL_MON_T_AL_LIST:
            t_alarms = _alarm_list(v)
    out: list[Observation] = []
    for physio, state, unit_code, raw in numerics:
        value, reason = decode_float(raw)
        out.append(
            NumericObservation(
                context_id,
                handle,
                physio,
                state,
                unit_code,
                raw,
                value,
                reason,
                label,
                label_string,
                rel_time,
            )
        )
    if arrays and sa_spec is not None and sa_spec.sample_size != 16:
        raise FieldError(
            SOURCE, 0, data, f"sample size {sa_spec.sample_size} bits (only 16 supported)"
        )
    for physio, state, off, ln in arrays:
        samples = np.frombuffer(data, dtype=">u2", count=ln // 2, offset=off).astype(np.uint16)
        out.append(
            WaveObservation(
                context_id,
                handle,
                physio,
                state,
                samples,
                rel_time,
                period,
                sa_spec,
                scale,
                calibration,
                unit,
                label,
                label_string,
            )
        )
    if condition is not None or p_alarms is not None or t_alarms is not None:
        out.append(
            AlertObservation(
                context_id, handle, rel_time, condition, p_alarms or (), t_alarms or ()
            )
        )
    return out


def _nu_obs(c: Reader) -> tuple[int, int, int, int]:
    c.need(10, "NuObsValue")
    physio, state, unit, raw = _NU_OBS.unpack_from(c.data, c.pos)
    c.pos += 10
    return physio, state, unit, raw


def _sa_obs(c: Reader) -> tuple[int, int, int, int]:
    c.need(6, "SaObsValue")
    physio, state, length = _SA_HEAD.unpack_from(c.data, c.pos)
    c.pos += 6
    if length % 2:
        raise FieldError(SOURCE, c.pos - 2, c.data, f"sample array of odd length {length}")
    off = c.pos
    c.take(length, "sample array")
    return physio, state, off, length


def _sa_spec(c: Reader) -> SaSpec:
    at = c.pos
    spec = SaSpec(
        c.u16("array size"), c.u8("sample size"), c.u8("significant bits"), c.u16("flags")
    )
    c.expect_end("sample array specification")
    if not 0 < spec.significant_bits <= spec.sample_size:
        raise FieldError(
            SOURCE,
            at,
            c.data,
            f"{spec.significant_bits} significant bits in {spec.sample_size}-bit samples",
        )
    return spec


def _scale(c: Reader) -> ScaleSpec:
    lower, _ = decode_float(c.u32("lower absolute value"))
    upper, _ = decode_float(c.u32("upper absolute value"))
    return ScaleSpec(lower, upper, c.u16("lower scaled value"), c.u16("upper scaled value"))


def _alarm_list(c: Reader) -> tuple[AlarmEntry, ...]:
    count = c.u16("alarm count")
    body = c.length_field("alarm list length")
    entries = tuple(_alarm_entry(body) for _ in range(count))
    body.expect_end("alarm list")
    return entries


def _alarm_entry(c: Reader) -> AlarmEntry:
    source = c.u16("alarm source")
    code = c.u16("alarm code")
    alert_type = c.u16("alert type")
    alert_state = c.u16("alert state")
    mo = managed_object(c)
    info_id = c.u16("alert info id")
    info = c.sub(c.u16("alert info length"), "alert info")
    if info_id not in (GEN_ALMON_INFO, STR_ALMON_INFO):
        return AlarmEntry(source, code, alert_type, alert_state, mo, info_id)
    instance = info.u16("alarm instance")
    text = info.u32("alarm text")
    priority = info.u16("alarm priority")
    flags = info.u16("alarm flags")
    string = text_string(info, "alarm string") if info_id == STR_ALMON_INFO else None
    info.expect_end("alarm info")
    return AlarmEntry(
        source, code, alert_type, alert_state, mo, info_id, instance, text, priority, flags, string
    )


def absolute_time(c: Reader) -> AbsoluteTime | None:
    at = c.pos
    raw = c.take(8, "absolute time")
    if raw == b"\xff" * 8:
        return None
    digits = []
    for i, byte in enumerate(raw):
        hi, lo = byte >> 4, byte & 0x0F
        if hi > 9 or lo > 9:
            raise FieldError(SOURCE, at + i, c.data, f"absolute time byte {byte:#04x} is not BCD")
        digits.append(hi * 10 + lo)
    century, year, month, day, hour, minute, second, hundredths = digits
    stamp = AbsoluteTime(century * 100 + year, month, day, hour, minute, second, hundredths)
    try:
        stamp.to_datetime()
    except ValueError as exc:
        raise FieldError(SOURCE, at, c.data, f"absolute time is not a date: {exc}") from None
    return stamp


def text_string(c: Reader, what: str) -> str:
    """String: u16 byte length, UTF-16BE text (NUL-terminated or not)."""
    length = c.u16(f"{what} length")
    if length % 2:
        raise FieldError(SOURCE, c.pos - 2, c.data, f"{what} of odd length {length}")
    text = c.take(length, what).decode("utf-16-be", errors="replace")
    return text.split("\x00", 1)[0]


def variable_label(c: Reader, what: str) -> str:
    """VariableLabel: u16 byte length, 8-bit text."""
    raw = c.take(c.u16(f"{what} length"), what)
    return raw.decode("latin-1").split("\x00", 1)[0]
