"""Decode one Datex-Ohmeda S/5 frame into a JSON-able dict (for CLI and debugging).

Accepts a wire frame with its flags (``7E ... 7E``) or the escaped bytes between them.
A checksum mismatch is reported (``checksum.ok``), not raised, so a captured frame can be
inspected; bad escaping, a wrong ``r_len`` or subrecords that do not fit raise ParseError.
"""

from __future__ import annotations

from drivers.datex.framing import FLAG, SOURCE, checksum, unescape
from drivers.datex.records import (
    AlarmRequest,
    Group,
    MainType,
    PhdbClass,
    PhdbRequest,
    PhdbSubrecord,
    PhdbType,
    RawSubrecord,
    Special,
    WaveRequest,
    WaveSubrecord,
    WaveType,
    parse_record,
)
from gateway.errors import FramingError


def _name(enum_type: type[MainType | PhdbType | PhdbClass | WaveType], value: int) -> str:
    try:
        return enum_type(value).name.lower()
    except ValueError:
        return f"unknown({value})"


def _group(g: Group) -> dict[str, object]:
    specials = {}
    for field, raw in zip(g.names, g.values, strict=True):
        if raw <= -32001:
            try:
                specials[field] = Special(raw).name.lower()
            except ValueError:
                specials[field] = "invalid"
    return {
        "status": g.status,
        "exists": g.exists,
        "active": g.active,
        "label": g.label,
        "values": dict(zip(g.names, g.values, strict=True)),
        "special": specials,
    }


def _subrecord(
    sub: PhdbSubrecord | PhdbRequest | WaveSubrecord | WaveRequest | AlarmRequest | RawSubrecord,
) -> dict[str, object]:
    if isinstance(sub, PhdbSubrecord):
        out: dict[str, object] = {
            "kind": _name(PhdbType, sub.sr_type),
            "time": sub.time,
            "class": _name(PhdbClass, sub.phdb_class),
            "marker": sub.marker,
            "cl_drilvl_subt": sub.cl_drilvl_subt,
        }
        if sub.basic is not None:
            out["groups"] = {g.name: _group(g) for g in sub.basic.groups}
        else:
            out["data"] = sub.data.hex()
        return out
    if isinstance(sub, PhdbRequest):
        return {
            "kind": "phdb_request",
            "record_type": _name(PhdbType, sub.record_type),
            "tx_ival": sub.tx_ival,
            "class_bf": sub.class_bf,
        }
    if isinstance(sub, WaveSubrecord):
        return {
            "kind": "wave",
            "wave_type": _name(WaveType, sub.wave_type),
            "status": [f.name.lower() for f in type(sub.status) if f in sub.status and f.name],
            "label": sub.label,
            "samples": sub.samples.tolist(),
        }
    if isinstance(sub, WaveRequest):
        return {
            "kind": "wave_request",
            "req_type": {0: "start", 1: "stop"}.get(sub.req_type, str(sub.req_type)),
            "types": [_name(WaveType, t) for t in sub.types],
        }
    if isinstance(sub, AlarmRequest):
        return {"kind": "alarm_request", "cmd": sub.cmd}
    return {"kind": "raw", "sr_type": sub.sr_type, "data": sub.data.hex()}


def decode_frame(data: bytes) -> dict[str, object]:
    """Decode one frame; see the module docstring for what is raised and what is reported."""
    content = data
    if content[:1] == bytes([FLAG]):
        content = content[1:]
    if content[-1:] == bytes([FLAG]):
        content = content[:-1]
    if FLAG in content:
        raise FramingError(SOURCE, content.index(FLAG), data, "more than one frame")
    body = unescape(content)
    if len(body) < 2:
        raise FramingError(SOURCE, 0, data, "frame too short for a record and checksum")
    record, received = body[:-1], body[-1]
    computed = checksum(record)
    parsed = parse_record(record)
    h = parsed.header
    subs = [_subrecord(s) for s in parsed.subrecords]
    return {
        "protocol": SOURCE,
        "checksum": {"received": received, "computed": computed, "ok": received == computed},
        "header": {
            "r_len": h.r_len,
            "r_nbr": h.r_nbr,
            "dri_level": h.dri_level,
            "plug_id": h.plug_id,
            "r_time": h.r_time,
            "n_subnet": h.n_subnet,
            "r_maintype": _name(MainType, h.r_maintype),
            "subrecords": [{"offset": d.offset, "sr_type": d.sr_type} for d in h.subrecords],
        },
        "subrecords": subs,
    }
