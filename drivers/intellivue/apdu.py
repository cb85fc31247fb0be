"""IntelliVue Data Export APDUs: session PDUs, remote operations, MDS Create, poll results.

User data (the payload of one frame) starts with a session byte::

    0x0D CN (association request)   0x0E AC (accept)    0x0C RF (refuse)
    0x09 FN (release request)       0x0A DN (release)   0x19 AB (abort)
    0xE1 data export: SPpdu {session_id 0xE100, p_context_id u16}
         ROapdus {ro_type u16, length u16}
           ROIV 1 / RORS 2: {invoke_id u16, command_type u16, length u16}
           RORLS 5:         {state u8 (1 first, 2 middle, 3 last), count u8} + RORS header
           ROER 3:          {invoke_id u16, error_value u16, length u16}

Integers are big-endian. A poll result (RORS or RORLS, CONFIRMED_ACTION) carries an
ActionResult {managed object (class, context, handle), action_type, length}, then
PollMdibDataReply {poll_number, [sequence_no: extended poll only], rel_time u32 (1/8 ms),
abs_time (8 BCD bytes), polled_obj_type {partition, code}, polled_attr_grp}, then
PollInfoList {count, length, SingleContextPoll {context_id, count, length,
ObservationPoll {obj_handle, AttributeList {count, length, AVA {id, length, value}}}}}.

:func:`parse_apdu` turns one user data block into a typed, frozen result. Session PDUs
are decoded by :mod:`.association`; objects of a poll become the
:class:`~drivers.intellivue.attributes.NumericObservation`, ``WaveObservation`` and
``AlertObservation`` values of :mod:`.attributes`. Bytes that do not fit raise a
:class:`~gateway.errors.ParseError` subclass naming the offset (never IndexError or
struct.error): :class:`~gateway.errors.FramingError` when a length is wrong,
:class:`~gateway.errors.FieldError` when a field holds a value the protocol does not allow.
Sources: ``xeonfusion/VSCaptureMP:Class2.cs/Class3.cs``, ``mdpnp/mdpnp`` (OpenICE
``devices/philips``), ``Koshsky/Intellivue-api`` (see ``shared/reference/serial_protocols.md``
section 2.1).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

from drivers.intellivue.association import SessionPdu, SessionType, parse_session
from drivers.intellivue.attributes import (
    NOM_ATTR_ID_BED_LABEL,
    NOM_ATTR_ID_MODEL,
    NOM_ATTR_MODE_OP,
    NOM_ATTR_TIME_ABS,
    NOM_ATTR_TIME_REL,
    NOM_ATTR_VMS_MDS_STAT,
    AbsoluteTime,
    Ava,
    ManagedObject,
    Observation,
    absolute_time,
    attribute_list,
    decode_object,
    managed_object,
    text_string,
    variable_label,
)
from drivers.intellivue.reader import SOURCE, Reader
from gateway.errors import FieldError, FramingError


class RoType(enum.IntEnum):
    ROIV = 1
    RORS = 2
    ROER = 3
    RORLS = 5


class Command(enum.IntEnum):
    EVENT_REPORT = 0
    CONFIRMED_EVENT_REPORT = 1
    GET = 3
    SET = 4
    CONFIRMED_SET = 5
    CONFIRMED_ACTION = 7


class LinkedState(enum.IntEnum):
    FIRST = 1
    NOT_FIRST_NOT_LAST = 2
    LAST = 3


# Object classes (partition NOM_PART_OBJ = 1).
NOM_PART_OBJ = 1
NOM_MOC_VMO_METRIC_NU = 6
NOM_MOC_VMO_METRIC_SA_RT = 9
NOM_MOC_VMS_MDS = 33
NOM_MOC_PT_DEMOG = 42
NOM_MOC_VMO_AL_MON = 54
# Events and actions.
NOM_NOTI_MDS_CREAT = 0x0D06
NOM_ACT_POLL_MDIB_DATA = 0x0C16
NOM_ACT_POLL_MDIB_DATA_EXT = 0xF13B
POLL_ACTIONS = frozenset({NOM_ACT_POLL_MDIB_DATA, NOM_ACT_POLL_MDIB_DATA_EXT})
NOM_ATTR_TIME_PD_POLL = 0xF13E


@dataclass(frozen=True, slots=True)
class MdsCreateEvent:
    """The monitor's MDS Create event report; answer it with an MDS Create result."""

    invoke_id: int
    event_time: int
    managed_object: ManagedObject
    attributes: tuple[Ava, ...]
    abs_time: AbsoluteTime | None
    rel_time: int | None
    manufacturer: str | None
    model: str | None
    bed_label: str | None
    operating_mode: int | None
    mds_status: int | None


@dataclass(frozen=True, slots=True)
class EventReport:
    """Any other (confirmed) event report, kept raw."""

    invoke_id: int
    confirmed: bool
    managed_object: ManagedObject
    event_time: int
    event_type: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class EventReportResult:
    invoke_id: int
    managed_object: ManagedObject
    current_time: int
    event_type: int


@dataclass(frozen=True, slots=True)
class PollRequest:
    """A host's (extended) poll request, as seen when decoding host traffic."""

    invoke_id: int
    managed_object: ManagedObject
    scope: int
    action_type: int
    poll_number: int
    obj_partition: int
    obj_code: int
    attr_group: int
    options: tuple[Ava, ...]


@dataclass(frozen=True, slots=True)
class PollResult:
    """A (linked) poll result and the observations it carries."""

    ro_type: RoType
    invoke_id: int
    linked_state: LinkedState | None
    linked_count: int | None
    managed_object: ManagedObject
    action_type: int
    poll_number: int
    sequence_no: int | None
    rel_time: int
    abs_time: AbsoluteTime | None
    obj_partition: int
    obj_code: int
    attr_group: int
    object_count: int
    observations: tuple[Observation, ...]

    @property
    def extended(self) -> bool:
        return self.action_type == NOM_ACT_POLL_MDIB_DATA_EXT


@dataclass(frozen=True, slots=True)
class ActionResult:
    """A non-poll action result, kept raw."""

    ro_type: RoType
    invoke_id: int
    linked_state: LinkedState | None
    managed_object: ManagedObject
    action_type: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class RemoteError:
    """ROER: the monitor refused an operation (error_value e.g. 9 NO_SUCH_ACTION)."""

    invoke_id: int
    error_value: int
    parameter: bytes


@dataclass(frozen=True, slots=True)
class OtherOperation:
    """A remote operation we do not decode further (GET, SET, ...)."""

    ro_type: RoType
    invoke_id: int
    command: int
    payload: bytes


Apdu: TypeAlias = (
    SessionPdu
    | MdsCreateEvent
    | EventReport
    | EventReportResult
    | PollRequest
    | PollResult
    | ActionResult
    | RemoteError
    | OtherOperation
)


# ---------------------------------------------------------------------------- parsing


def parse_apdu(user_data: bytes) -> Apdu:
    """Decode the user data of one frame."""
    data = bytes(user_data)
    if not data:
        raise FramingError(SOURCE, 0, data, "empty user data")
    if data[0] == SessionType.DATA:
        return _data_export(data)
    try:
        kind = SessionType(data[0])
    except ValueError:
        raise FieldError(SOURCE, 0, data, f"unknown session type {data[0]:#04x}") from None
    return parse_session(data, kind)


def _data_export(data: bytes) -> Apdu:
    c = Reader(data)
    session_id = c.u16("session id")
    if session_id != 0xE100:
        raise FieldError(SOURCE, 0, data, f"session id {session_id:#06x} is not 0xE100")
    c.u16("presentation context id")
    at = c.pos
    ro_raw = c.u16("ro_type")
    c = c.length_field("ROapdus length")
    try:
        ro_type = RoType(ro_raw)
    except ValueError:
        raise FieldError(SOURCE, at, data, f"unknown remote operation type {ro_raw}") from None
    if ro_type is RoType.ROER:
        invoke_id = c.u16("invoke id")
        error_value = c.u16("error value")
        body = c.length_field("ROER length")
        return RemoteError(invoke_id, error_value, body.take(body.remaining, "error parameter"))
    linked_state = linked_count = None
    if ro_type is RoType.RORLS:
        at = c.pos
        state = c.u8("linked state")
        try:
            linked_state = LinkedState(state)
        except ValueError:
            raise FieldError(SOURCE, at, data, f"linked state {state} is not 1, 2 or 3") from None
        linked_count = c.u8("linked count")
    invoke_id = c.u16("invoke id")
    command = c.u16("command type")
    body = c.length_field("command length")
    if ro_type is RoType.ROIV:
        if command in (Command.EVENT_REPORT, Command.CONFIRMED_EVENT_REPORT):
            return _event_report(body, invoke_id, command == Command.CONFIRMED_EVENT_REPORT)
        if command == Command.CONFIRMED_ACTION:
            request = _poll_request(Reader(data, body.pos, body.end), invoke_id)
            if request is not None:
                return request
    elif command == Command.CONFIRMED_ACTION:
        return _action_result(body, ro_type, invoke_id, linked_state, linked_count)
    elif command == Command.CONFIRMED_EVENT_REPORT:
        mo = managed_object(body)
        current_time = body.u32("current time")
        event_type = body.u16("event type")
        body.length_field("event result length")
        return EventReportResult(invoke_id, mo, current_time, event_type)
    return OtherOperation(ro_type, invoke_id, command, body.take(body.remaining, "payload"))


def _event_report(c: Reader, invoke_id: int, confirmed: bool) -> Apdu:
    mo = managed_object(c)
    event_time = c.u32("event time")
    event_type = c.u16("event type")
    body = c.length_field("event length")
    if event_type != NOM_NOTI_MDS_CREAT:
        payload = body.take(body.remaining, "event")
        return EventReport(invoke_id, confirmed, mo, event_time, event_type, payload)
    created = managed_object(body)
    avas = attribute_list(body, "MDS attribute list")
    body.expect_end("MDS attribute list")
    return _mds_create(c.data, invoke_id, event_time, created, avas)


def _mds_create(
    data: bytes,
    invoke_id: int,
    event_time: int,
    mo: ManagedObject,
    avas: list[tuple[int, int, int]],
) -> MdsCreateEvent:
    abs_time = rel_time = manufacturer = model = bed_label = op_mode = status = None
    for aid, off, ln in avas:
        v = Reader(data, off, off + ln)
        if aid == NOM_ATTR_TIME_ABS:
            abs_time = absolute_time(v)
        elif aid == NOM_ATTR_TIME_REL:
            rel_time = v.u32("relative time")
        elif aid == NOM_ATTR_ID_MODEL:
            manufacturer = variable_label(v, "manufacturer")
            model = variable_label(v, "model number")
        elif aid == NOM_ATTR_ID_BED_LABEL:
            bed_label = text_string(v, "bed label")
        elif aid == NOM_ATTR_MODE_OP:
            op_mode = v.u16("operating mode")
        elif aid == NOM_ATTR_VMS_MDS_STAT:
            status = v.u16("MDS status")
    attributes = tuple(Ava(aid, data[off : off + ln]) for aid, off, ln in avas)
    return MdsCreateEvent(
        invoke_id,
        event_time,
        mo,
        attributes,
        abs_time,
        rel_time,
        manufacturer,
        model,
        bed_label,
        op_mode,
        status,
    )


def _poll_request(c: Reader, invoke_id: int) -> PollRequest | None:
    mo = managed_object(c)
    scope = c.u32("scope")
    action_type = c.u16("action type")
    body = c.length_field("action length")
    if action_type not in POLL_ACTIONS:
        return None
    poll_number = body.u16("poll number")
    partition = body.u16("polled object partition")
    code = body.u16("polled object code")
    attr_group = body.u16("polled attribute group")
    options: tuple[Ava, ...] = ()
    if action_type == NOM_ACT_POLL_MDIB_DATA_EXT:
        avas = attribute_list(body, "poll options")
        options = tuple(Ava(aid, c.data[off : off + ln]) for aid, off, ln in avas)
    body.expect_end("poll request")
    return PollRequest(
        invoke_id, mo, scope, action_type, poll_number, partition, code, attr_group, options
    )


def _action_result(
    c: Reader,
    ro_type: RoType,
    invoke_id: int,
    linked_state: LinkedState | None,
    linked_count: int | None,
) -> PollResult | ActionResult:
    mo = managed_object(c)
    action_type = c.u16("action type")
    body = c.length_field("action result length")
    if action_type not in POLL_ACTIONS:
        payload = body.take(body.remaining, "action result")
        return ActionResult(ro_type, invoke_id, linked_state, mo, action_type, payload)
    poll_number = body.u16("poll number")
    extended = action_type == NOM_ACT_POLL_MDIB_DATA_EXT
    sequence_no = body.u16("sequence number") if extended else None
    rel_time = body.u32("relative time stamp")
    abs_time = absolute_time(body)
    partition = body.u16("polled object partition")
    code = body.u16("polled object code")
    attr_group = body.u16("polled attribute group")
    objects, observations = _poll_info_list(body, rel_time)
    return PollResult(
        ro_type,
        invoke_id,
        linked_state,
        linked_count,
        mo,
        action_type,
        poll_number,
        sequence_no,
        rel_time,
        abs_time,
        partition,
        code,
        attr_group,
        objects,
        tuple(observations),
    )


def _poll_info_list(c: Reader, rel_time: int) -> tuple[int, list[Observation]]:
    observations: list[Observation] = []
    objects = 0
    count = c.u16("poll info count")
    if count == 0 and c.remaining == 0:  # an empty list may omit its length
        return 0, observations
    body = c.length_field("poll info length")
    for _ in range(count):
        context_id = body.u16("context id")
        n_obj = body.u16("observation count")
        ctx = body.sub(body.u16("context poll length"), "context poll")
        for _ in range(n_obj):
            handle = ctx.u16("object handle")
            avas = attribute_list(ctx, "object attribute list")
            objects += 1
            observations.extend(decode_object(c.data, context_id, handle, avas, rel_time))
        ctx.expect_end("context poll")
    body.expect_end("poll info list")
    return objects, observations
