"""Host requests, byte for byte against layouts written by hand and public test vectors."""

from __future__ import annotations

from datetime import datetime

import pytest

from drivers.intellivue import requests
from drivers.intellivue.apdu import MdsCreateEvent, PollRequest, parse_apdu
from drivers.intellivue.association import SessionPdu, SessionType
from drivers.intellivue.attributes import ManagedObject
from drivers.intellivue.framing import Deframer, Frame, encode_frame
from hil.intellivue_sim import encoder


def hexb(text: str) -> bytes:
    return bytes.fromhex("".join(line.split("#")[0] for line in text.splitlines()))


# VSCaptureMP's aarq_msg (xeonfusion/VSCaptureMP:Class2.cs), a request monitors accept.
VSCAPTURE_AARQ = hexb("""
    0d ec                                   # CN SPDU, 236 bytes
    05 08 13 01 00 16 01 02 80 00 14 02 00 02   # session parameters
    c1 dc                                   # presentation header, 220 bytes
    31 80 a0 80 80 01 01 00 00 a2 80 a0 03 00 00 01 a4 80 30 80 02 01 01 06 04 52 01 00 01
    30 80 06 02 51 01 00 00 00 00 30 80 02 01 02 06 0c 2a 86 48 ce 14 02 01 00 00 00 01 01
    30 80 06 0c 2a 86 48 ce 14 02 01 00 00 00 02 01 00 00 00 00 00 00 61 80 30 80 02 01 01
    a0 80 60 80 a1 80 06 0c 2a 86 48 ce 14 02 01 00 00 00 03 01 00 00 be 80 28 80 06 0c 2a
    86 48 ce 14 02 01 00 00 00 01 01 02 01 02 81
    48                                      # user information: 72 bytes
    80 00 00 00 40 00 00 00 00 00 00 00     # MDDL_VERSION1, NOMEN_VERSION, no units
    80 00 00 00 20 00 00 00                 # SYST_CLIENT, COLD_START
    00 00 00 00                             # option list: empty
    00 01 00 2c                             # supported profiles: 1, 44 bytes
    00 01 00 28                             # NOM_POLL_PROFILE_SUPPORT, 40 bytes
    80 00 00 00 00 00 09 c4 00 00 09 c4     # revision 0, min poll 2500, mtu rx 2500
    00 00 03 e8 ff ff ff ff 60 00 00 00     # mtu tx 1000, bandwidth, dyn create/delete
    00 01 00 0c f0 01 00 08                 # optional packages: POLL_PROFILE_EXT, 8 bytes
    8c 00 00 00 00 00 00 00                 # 1 s numerics, RTSA, enumerations; no attrs
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00   # presentation trailer
""")


def test_aarq_reproduces_a_working_request():
    built = requests.aarq_apdu(
        min_poll_period=2500, max_mtu_rx=2500, max_mtu_tx=1000, ext_options=0x8C000000
    )
    assert built == VSCAPTURE_AARQ


def test_default_aarq_parses_back():
    pdu = parse_apdu(requests.aarq_apdu())
    assert isinstance(pdu, SessionPdu)
    assert pdu.kind is SessionType.CN
    assert pdu.user_info is not None
    profile = pdu.user_info.poll_profile
    assert profile is not None
    assert (profile.min_poll_period, profile.max_mtu_rx, profile.max_mtu_tx) == (4000, 1456, 1456)
    assert profile.ext_options == requests.POLL_EXT_PERIOD_NU_1SEC | requests.POLL_EXT_PERIOD_RTSA


def test_long_length_forms_parse():
    # The same request with LI long forms (FF + u16) and a two-byte BER length (82 + u16),
    # as used by requests over 254 bytes: 236 + 2 + 2 = 240 session bytes, 222 presentation.
    long_form = (
        bytes.fromhex("0d ff 00 f0")
        + VSCAPTURE_AARQ[2:16]
        + bytes.fromhex("c1 ff 00 de")
        + VSCAPTURE_AARQ[18:149]
        + bytes.fromhex("82 00 48")
        + VSCAPTURE_AARQ[150:]
    )
    assert VSCAPTURE_AARQ[148:150] == b"\x81\x48"
    short, long = parse_apdu(VSCAPTURE_AARQ), parse_apdu(long_form)
    assert isinstance(long, SessionPdu)
    assert long == short
    assert long.user_info is not None
    assert long.user_info.poll_profile is not None
    assert long.user_info.poll_profile.ext_options == 0x8C000000


def test_extended_poll_request_bytes():
    expected = hexb("""
        e1 00 00 02             # SPpdu
        00 01 00 28             # ROIV, 40 bytes
        00 04 00 07 00 22       # invoke 4, CONFIRMED_ACTION, 34 bytes
        00 21 00 00 00 00       # MDS
        00 00 00 00             # scope
        f1 3b 00 14             # NOM_ACT_POLL_MDIB_DATA_EXT, 20 bytes
        00 03 00 01 00 09 00 00 # poll 3, NOM_PART_OBJ, waves (9), all attributes
        00 01 00 08             # options: 1 attribute, 8 bytes
        f1 3e 00 04 00 49 3e 00 # NOM_ATTR_TIME_PD_POLL 4800000 (600 s)
    """)
    assert requests.extended_poll_request_apdu(4, 3, 9, 0, 4_800_000) == expected


def test_keep_alive_bytes():
    expected = hexb("""
        e1 00 00 02 00 01 00 1c # SPpdu, ROIV, 28 bytes
        00 01 00 07 00 16       # invoke 1, CONFIRMED_ACTION, 22 bytes
        00 21 00 00 00 00       # MDS
        00 00 00 00             # scope
        0c 16 00 08             # NOM_ACT_POLL_MDIB_DATA, 8 bytes
        00 01 00 01 00 21 08 0c # poll 1, NOM_PART_OBJ, MDS (33), NOM_ATTR_GRP_SYS_PROD
    """)
    assert requests.keep_alive(1, 1) == encode_frame(expected)


def test_mds_create_result_echoes_the_event():
    event_apdu = encoder.mds_create_event(
        invoke_id=0x1234,
        when=datetime(2021, 4, 22, 11, 47, 26),  # noqa: DTZ001
        rel_time=1950208,
    )
    event = parse_apdu(event_apdu)
    assert isinstance(event, MdsCreateEvent)
    expected = hexb("""
        e1 00 00 02 00 02 00 14 # SPpdu, RORS, 20 bytes
        12 34 00 01 00 0e       # the event's invoke id, CONFIRMED_EVENT_REPORT, 14 bytes
        00 21 00 00 00 00       # MDS
        00 00 00 00             # current time
        0d 06 00 00             # NOM_NOTI_MDS_CREAT, no data
    """)
    assert requests.mds_create_result(event) == encode_frame(expected)


def test_release_request_bytes():
    assert requests.release_request() == encode_frame(
        hexb("09 18 c1 16 61 80 30 80 02 01 01 a0 80 62 80 80 01 00 00 00 00 00 00 00 00 00")
    )
    pdu = parse_apdu(requests.RELEASE_REQUEST_APDU)
    assert pdu == SessionPdu(SessionType.FN, None)


@pytest.mark.parametrize(
    ("build", "code", "group"),
    [
        (requests.poll_numerics, 6, 0),
        (requests.poll_waves, 9, 0),
        (requests.poll_alerts, 54, 0x0801),
    ],
)
def test_framed_polls_decode(build, code, group):
    [frame] = Deframer().feed(build(7, 2))
    assert isinstance(frame, Frame)
    request = parse_apdu(frame.user_data)
    assert request == PollRequest(
        invoke_id=7,
        managed_object=ManagedObject(33, 0, 0),
        scope=0,
        action_type=0xF13B,
        poll_number=2,
        obj_partition=1,
        obj_code=code,
        attr_group=group,
        options=(parse_apdu(requests.extended_poll_request_apdu(7, 2, code)).options),
    )
    assert request.options[0].value == requests.DEFAULT_POLL_PERIOD_TICKS.to_bytes(4, "big")
