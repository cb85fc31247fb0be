"""Host-side IntelliVue messages: association, MDS Create result, polls, keep-alive, release.

Every ``*_apdu`` function returns user data; the plain-named functions return it framed for
the wire (:func:`~drivers.intellivue.framing.encode_frame`). Layouts follow the Philips Data
Export guide as reproduced in ``shared/reference/serial_protocols.md`` section 2.1.

The association request is built, not replayed: session header ``0x0D`` + LI, the session
parameters, presentation header ``0xC1`` + LI, the fixed BER preamble of the presentation
layer, the BER length and ``MDSEUserInfoStd`` (with a ``PollProfileSupport`` and its
``PollProfileExt``), then a 16-byte zero trailer. With VSCaptureMP's parameters it
reproduces that tool's working ``aarq_msg`` byte for byte (see the tests).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from drivers.intellivue import apdu
from drivers.intellivue.association import (
    NOM_ATTR_POLL_PROFILE_EXT,
    NOM_POLL_PROFILE_SUPPORT,
    SessionType,
)
from drivers.intellivue.attributes import ManagedObject
from drivers.intellivue.framing import encode_frame

#: Session parameters of CN/AC SPDUs (ids 0x05 and 0x14 with their values).
SESSION_PARAMETERS = bytes.fromhex("05 08 13 01 00 16 01 02 80 00 14 02 00 02")
#: BER preamble of the AARQ presentation data, up to the user-information tag 0x81.
AARQ_PRESENTATION_HEADER = bytes.fromhex(
    "31 80 a0 80 80 01 01 00 00 a2 80 a0 03 00 00 01 a4 80 30 80 02 01 01 06 04 52 01 00 01"
    " 30 80 06 02 51 01 00 00 00 00 30 80 02 01 02 06 0c 2a 86 48 ce 14 02 01 00 00 00 01 01"
    " 30 80 06 0c 2a 86 48 ce 14 02 01 00 00 00 02 01 00 00 00 00 00 00 61 80 30 80 02 01 01"
    " a0 80 60 80 a1 80 06 0c 2a 86 48 ce 14 02 01 00 00 00 03 01 00 00 be 80 28 80 06 0c 2a"
    " 86 48 ce 14 02 01 00 00 00 01 01 02 01 02 81"
)
PRESENTATION_TRAILER = bytes(16)
#: Release request (FN SPDU): fixed presentation data (A-RELEASE-RQ) and 4-byte trailer.
RELEASE_REQUEST_APDU = bytes.fromhex(
    "09 18 c1 16 61 80 30 80 02 01 01 a0 80 62 80 80 01 00 00 00 00 00 00 00 00 00"
)

MDDL_VERSION1 = 0x80000000
NOMEN_VERSION = 0x40000000
SYST_CLIENT = 0x80000000
HOT_START = 0x80000000
WARM_START = 0x40000000
COLD_START = 0x20000000
POLL_PROFILE_REV_0 = 0x80000000
P_OPT_DYN_CREATE_OBJECTS = 0x40000000
P_OPT_DYN_DELETE_OBJECTS = 0x20000000
# PollProfileExt options.
POLL_EXT_PERIOD_NU_1SEC = 0x80000000
POLL_EXT_PERIOD_NU_AVG_12SEC = 0x40000000
POLL_EXT_PERIOD_NU_AVG_60SEC = 0x20000000
POLL_EXT_PERIOD_NU_AVG_300SEC = 0x10000000
POLL_EXT_PERIOD_RTSA = 0x08000000
POLL_EXT_ENUM = 0x04000000
POLL_EXT_NU_PRIO_LIST = 0x02000000
POLL_EXT_DYN_MODALITIES = 0x01000000
# Attribute groups.
NOM_ATTR_GRP_AL_MON = 0x0801
NOM_ATTR_GRP_METRIC_VAL_OBS = 0x0803
NOM_ATTR_GRP_SYS_PROD = 0x080C
#: Period of an extended poll: the monitor keeps answering this long (1/8 ms ticks).
DEFAULT_POLL_PERIOD_TICKS = 30 * 8000

_MDS = ManagedObject(apdu.NOM_MOC_VMS_MDS, 0, 0)


def _li(n: int) -> bytes:
    return bytes((n,)) if n < 255 else b"\xff" + n.to_bytes(2, "big")


def _ber_length(n: int) -> bytes:
    return bytes((n,)) if n < 0x80 else b"\x82" + n.to_bytes(2, "big")


def attribute_list(items: Sequence[tuple[int, bytes]]) -> bytes:
    """AttributeList: count, total length, then (id, length, value) per attribute."""
    body = b"".join(struct.pack(">HH", aid, len(value)) + value for aid, value in items)
    return struct.pack(">HH", len(items), len(body)) + body


def aarq_apdu(
    *,
    min_poll_period: int = 4000,
    max_mtu_rx: int = 1456,
    max_mtu_tx: int = 1456,
    max_bw_tx: int = 0xFFFFFFFF,
    options: int = P_OPT_DYN_CREATE_OBJECTS | P_OPT_DYN_DELETE_OBJECTS,
    ext_options: int = POLL_EXT_PERIOD_NU_1SEC | POLL_EXT_PERIOD_RTSA,
    startup_mode: int = COLD_START,
) -> bytes:
    """Association request (CN SPDU). ``min_poll_period`` is in 1/8 ms (4000 = 500 ms)."""
    poll_ext = struct.pack(">I", ext_options) + attribute_list(())
    profile = struct.pack(
        ">6I", POLL_PROFILE_REV_0, min_poll_period, max_mtu_rx, max_mtu_tx, max_bw_tx, options
    ) + attribute_list(((NOM_ATTR_POLL_PROFILE_EXT, poll_ext),))
    user_info = (
        struct.pack(">5I", MDDL_VERSION1, NOMEN_VERSION, 0, SYST_CLIENT, startup_mode)
        + attribute_list(())
        + attribute_list(((NOM_POLL_PROFILE_SUPPORT, profile),))
    )
    presentation = (
        AARQ_PRESENTATION_HEADER + _ber_length(len(user_info)) + user_info + PRESENTATION_TRAILER
    )
    session = SESSION_PARAMETERS + b"\xc1" + _li(len(presentation)) + presentation
    return bytes((SessionType.CN,)) + _li(len(session)) + session


def _data_export(ro_type: int, invoke_id: int, command: int, body: bytes) -> bytes:
    operation = struct.pack(">HHH", invoke_id, command, len(body)) + body
    return struct.pack(">HHHH", 0xE100, 0x0002, ro_type, len(operation)) + operation


def _action(invoke_id: int, action_type: int, argument: bytes) -> bytes:
    body = struct.pack(
        ">HHHIHH", _MDS.obj_class, _MDS.context_id, _MDS.handle, 0, action_type, len(argument)
    )
    return _data_export(apdu.RoType.ROIV, invoke_id, apdu.Command.CONFIRMED_ACTION, body + argument)


def mds_create_result_apdu(
    invoke_id: int, managed_object: ManagedObject = _MDS, current_time: int = 0
) -> bytes:
    """Confirm the monitor's MDS Create event (echo its invoke id and managed object)."""
    body = struct.pack(
        ">HHHIHH",
        managed_object.obj_class,
        managed_object.context_id,
        managed_object.handle,
        current_time,
        apdu.NOM_NOTI_MDS_CREAT,
        0,
    )
    return _data_export(apdu.RoType.RORS, invoke_id, apdu.Command.CONFIRMED_EVENT_REPORT, body)


def poll_request_apdu(
    invoke_id: int, poll_number: int, obj_code: int, attr_group: int = 0
) -> bytes:
    """Single poll (NOM_ACT_POLL_MDIB_DATA) of one object class (partition NOM_PART_OBJ)."""
    argument = struct.pack(">HHHH", poll_number, apdu.NOM_PART_OBJ, obj_code, attr_group)
    return _action(invoke_id, apdu.NOM_ACT_POLL_MDIB_DATA, argument)


def extended_poll_request_apdu(
    invoke_id: int,
    poll_number: int,
    obj_code: int,
    attr_group: int = 0,
    period_ticks: int | None = DEFAULT_POLL_PERIOD_TICKS,
) -> bytes:
    """Extended poll (NOM_ACT_POLL_MDIB_DATA_EXT); the monitor answers periodically."""
    options: tuple[tuple[int, bytes], ...] = ()
    if period_ticks is not None:
        options = ((apdu.NOM_ATTR_TIME_PD_POLL, struct.pack(">I", period_ticks)),)
    argument = struct.pack(
        ">HHHH", poll_number, apdu.NOM_PART_OBJ, obj_code, attr_group
    ) + attribute_list(options)
    return _action(invoke_id, apdu.NOM_ACT_POLL_MDIB_DATA_EXT, argument)


def aarq(**kwargs: int) -> bytes:
    """Framed association request; keyword arguments as for :func:`aarq_apdu`."""
    return encode_frame(aarq_apdu(**kwargs))


def mds_create_result(event: apdu.MdsCreateEvent) -> bytes:
    """Framed answer to an MDS Create event."""
    return encode_frame(mds_create_result_apdu(event.invoke_id, event.managed_object))


def poll_numerics(
    invoke_id: int, poll_number: int, period_ticks: int | None = DEFAULT_POLL_PERIOD_TICKS
) -> bytes:
    """Framed extended poll of the numerics (object class 6), all attributes."""
    return encode_frame(
        extended_poll_request_apdu(
            invoke_id, poll_number, apdu.NOM_MOC_VMO_METRIC_NU, 0, period_ticks
        )
    )


def poll_waves(
    invoke_id: int, poll_number: int, period_ticks: int | None = DEFAULT_POLL_PERIOD_TICKS
) -> bytes:
    """Framed extended poll of the real-time sample arrays (object class 9)."""
    return encode_frame(
        extended_poll_request_apdu(
            invoke_id, poll_number, apdu.NOM_MOC_VMO_METRIC_SA_RT, 0, period_ticks
        )
    )


def poll_alerts(
    invoke_id: int, poll_number: int, period_ticks: int | None = DEFAULT_POLL_PERIOD_TICKS
) -> bytes:
    """Framed extended poll of the alert monitor (object class 54, alert group)."""
    return encode_frame(
        extended_poll_request_apdu(
            invoke_id, poll_number, apdu.NOM_MOC_VMO_AL_MON, NOM_ATTR_GRP_AL_MON, period_ticks
        )
    )


def keep_alive(invoke_id: int, poll_number: int) -> bytes:
    """Framed single poll of the MDS (system production group): keeps the link alive."""
    return encode_frame(
        poll_request_apdu(invoke_id, poll_number, apdu.NOM_MOC_VMS_MDS, NOM_ATTR_GRP_SYS_PROD)
    )


def release_request() -> bytes:
    """Framed release request (FN SPDU); the monitor answers with DN (0x0A)."""
    return encode_frame(RELEASE_REQUEST_APDU)
