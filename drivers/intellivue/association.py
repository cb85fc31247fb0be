"""IntelliVue association layer: CN/AC/RF/FN/DN/AB session PDUs and the user information.

A CN (request) or AC (accept) SPDU is: session byte, LI length, session parameters
(id, LI, value), presentation header 0xC1 + LI, BER-encoded presentation data with the
user information (tag 0x81, BER length, ``MDSEUserInfoStd``), and a 16-byte trailer. LI is
one byte below 255, else 0xFF and a u16. ``MDSEUserInfoStd`` holds five u32 (protocol
version, nomenclature version, functional units, system type, startup mode), an option
list and the supported profiles, among them ``PollProfileSupport`` (0x0001) whose optional
``PollProfileExt`` (0xF001) carries the extended-poll options.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from drivers.intellivue.attributes import Ava, attribute_list
from drivers.intellivue.reader import SOURCE, Reader
from gateway.errors import FieldError, FramingError

NOM_POLL_PROFILE_SUPPORT = 0x0001
NOM_ATTR_POLL_PROFILE_EXT = 0xF001


class SessionType(enum.IntEnum):
    """First byte of the user data."""

    CN = 0x0D  # association request
    AC = 0x0E  # association accept
    RF = 0x0C  # refuse
    FN = 0x09  # release request
    DN = 0x0A  # release response
    AB = 0x19  # abort
    DATA = 0xE1  # data export


@dataclass(frozen=True, slots=True)
class PollProfile:
    """PollProfileSupport of an association (min_poll_period in 1/8 ms ticks)."""

    revision: int
    min_poll_period: int
    max_mtu_rx: int
    max_mtu_tx: int
    max_bw_tx: int
    options: int
    ext_options: int | None


@dataclass(frozen=True, slots=True)
class UserInfo:
    """MDSEUserInfoStd carried in association request and accept."""

    protocol_version: int
    nomenclature_version: int
    functional_units: int
    system_type: int
    startup_mode: int
    options: tuple[Ava, ...]
    poll_profile: PollProfile | None


@dataclass(frozen=True, slots=True)
class SessionPdu:
    """An association-layer message (CN, AC, RF, FN, DN or AB)."""

    kind: SessionType
    user_info: UserInfo | None


def parse_session(data: bytes, kind: SessionType) -> SessionPdu:
    """Decode a session PDU; ``user_info`` only for CN/AC that carry one."""
    c = Reader(data, 1)
    at = c.pos
    length = _li(c, "session length")
    if length != c.remaining:
        raise FramingError(SOURCE, at, data, f"session length {length} but {c.remaining} follow")
    if kind not in (SessionType.CN, SessionType.AC):
        return SessionPdu(kind, None)
    while c.remaining and data[c.pos] != 0xC1:  # session parameters, then the presentation
        c.u8("parameter id")
        c.take(_li(c, "parameter length"), "session parameter")
    if not c.remaining:
        return SessionPdu(kind, None)
    c.u8("presentation header")
    at = c.pos
    plen = _li(c, "presentation length")
    if plen != c.remaining:
        raise FramingError(SOURCE, at, data, f"presentation length {plen} but {c.remaining} follow")
    return SessionPdu(kind, _user_info(c))


def _li(c: Reader, what: str) -> int:
    """LI length: one byte below 255, or 0xFF and a u16."""
    first = c.u8(what)
    return c.u16(what) if first == 0xFF else first


_USER_INFO_MARK = b"\xbe\x80\x28\x80"  # [30] user-information, EXTERNAL, indefinite lengths


def _user_info(c: Reader) -> UserInfo | None:
    """Find MDSEUserInfoStd in the BER presentation data and decode it."""
    data = c.data
    mark = data.find(_USER_INFO_MARK, c.pos, c.end)
    if mark < 0:
        return None
    p = Reader(data, mark + len(_USER_INFO_MARK), c.end)
    while p.remaining and data[p.pos] in (0x02, 0x06):  # indirect/direct reference: skip
        p.u8("BER tag")
        p.take(p.u8("BER length"), "BER value")
    at = p.pos
    tag = p.u8("user information tag")
    if tag != 0x81:
        raise FieldError(SOURCE, at, data, f"user information tag {tag:#04x} is not 0x81")
    u = p.sub(_ber_length(p), "user information")
    protocol, nomenclature_version, units, system, startup = (
        u.u32("user information field") for _ in range(5)
    )
    options = tuple(Ava(a, data[o : o + n]) for a, o, n in attribute_list(u, "option list"))
    profiles = attribute_list(u, "supported profiles")
    u.expect_end("user information")
    profile = None
    for aid, off, ln in profiles:
        if aid == NOM_POLL_PROFILE_SUPPORT:
            profile = _poll_profile(Reader(data, off, off + ln))
    return UserInfo(protocol, nomenclature_version, units, system, startup, options, profile)


def _ber_length(c: Reader) -> int:
    at = c.pos
    first = c.u8("BER length")
    if first < 0x80:
        return first
    n = first & 0x7F
    if not 1 <= n <= 2:
        raise FieldError(SOURCE, at, c.data, f"BER length of {n} bytes")
    return int.from_bytes(c.take(n, "BER length"), "big")


def _poll_profile(c: Reader) -> PollProfile:
    revision, period, mtu_rx, mtu_tx, bw_tx, options = (
        c.u32("poll profile field") for _ in range(6)
    )
    ext = None
    for aid, off, ln in attribute_list(c, "optional packages"):
        if aid == NOM_ATTR_POLL_PROFILE_EXT:
            ext = Reader(c.data, off, off + ln).u32("poll profile extension options")
    c.expect_end("poll profile")
    return PollProfile(revision, period, mtu_rx, mtu_tx, bw_tx, options, ext)
