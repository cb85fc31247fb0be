"""One IntelliVue frame to a JSON-able summary, for ``edgetwin decode`` style tooling."""

from __future__ import annotations

from drivers.intellivue import nomenclature
from drivers.intellivue.apdu import (
    ActionResult,
    Apdu,
    EventReport,
    EventReportResult,
    MdsCreateEvent,
    OtherOperation,
    PollRequest,
    PollResult,
    RemoteError,
    parse_apdu,
)
from drivers.intellivue.association import SessionPdu
from drivers.intellivue.attributes import (
    AbsoluteTime,
    AlarmEntry,
    AlertObservation,
    ManagedObject,
    NumericObservation,
    WaveObservation,
)
from drivers.intellivue.framing import (
    BOF,
    EOF,
    FCS_LEN,
    GOOD_RESIDUE,
    HEADER_LEN,
    HEADER_PROTOCOL_ID,
    MSG_TYPE,
    SOURCE,
    crc16_x25,
    fcs,
    unescape,
)
from gateway.errors import FramingError, ParseError


def decode_frame(data: bytes) -> dict[str, object]:
    """Decode one frame given with its BOF and EOF.

    The result names the header, the FCS (received, computed, ok) and the APDU summary; an
    APDU that does not parse gives ``"apdu": None`` and an ``"error"`` entry. Input that is
    not exactly one frame raises :class:`~gateway.errors.FramingError`.
    """
    raw = bytes(data)
    if len(raw) < 2 or raw[0] != BOF or raw[-1] != EOF:
        raise FramingError(SOURCE, 0, raw, "not one frame: must start with C0 and end with C1")
    inner = raw[1:-1]
    for delimiter in (b"\xc0", b"\xc1"):
        at = inner.find(delimiter)
        if at >= 0:
            raise FramingError(SOURCE, at + 1, raw, "more than one frame (inner C0 or C1)")
    body = unescape(inner)
    if len(body) < HEADER_LEN + FCS_LEN:
        raise FramingError(SOURCE, 1, raw, f"frame of {len(body)} bytes is shorter than 6")
    length = int.from_bytes(body[2:4], "big")
    received = int.from_bytes(body[-2:], "little")
    computed = fcs(body[:-2])
    user_data = body[HEADER_LEN:-FCS_LEN]
    header_ok = body[0] == HEADER_PROTOCOL_ID and body[1] == MSG_TYPE and length == len(user_data)
    result: dict[str, object] = {
        "protocol": SOURCE,
        "header": {
            "protocol_id": body[0],
            "msg_type": body[1],
            "length": length,
            "ok": header_ok,
        },
        "fcs": {
            "received": f"{received:#06x}",
            "computed": f"{computed:#06x}",
            "ok": crc16_x25(body) == GOOD_RESIDUE,
        },
        "apdu": None,
        "error": None,
    }
    try:
        result["apdu"] = summarize(parse_apdu(user_data))
    except ParseError as exc:
        result["error"] = {"type": type(exc).__name__, "offset": exc.offset, "reason": exc.reason}
    return result


def summarize(item: Apdu) -> dict[str, object]:
    """A JSON-able dict of one decoded APDU."""
    if isinstance(item, SessionPdu):
        out: dict[str, object] = {"kind": "session", "type": item.kind.name}
        if item.user_info is not None:
            profile = item.user_info.poll_profile
            out["user_info"] = {
                "protocol_version": f"{item.user_info.protocol_version:#010x}",
                "system_type": f"{item.user_info.system_type:#010x}",
                "poll_profile": None
                if profile is None
                else {
                    "min_poll_period": profile.min_poll_period,
                    "max_mtu_rx": profile.max_mtu_rx,
                    "max_mtu_tx": profile.max_mtu_tx,
                    "options": f"{profile.options:#010x}",
                    "ext_options": None
                    if profile.ext_options is None
                    else f"{profile.ext_options:#010x}",
                },
            }
        return out
    if isinstance(item, MdsCreateEvent):
        return {
            "kind": "mds_create_event",
            "invoke_id": item.invoke_id,
            "abs_time": _time(item.abs_time),
            "rel_time": item.rel_time,
            "manufacturer": item.manufacturer,
            "model": item.model,
            "bed_label": item.bed_label,
            "operating_mode": item.operating_mode,
            "attributes": [f"{a.attribute_id:#06x}" for a in item.attributes],
        }
    if isinstance(item, PollResult):
        return _poll_result(item)
    if isinstance(item, PollRequest):
        return {
            "kind": "poll_request",
            "invoke_id": item.invoke_id,
            "action_type": f"{item.action_type:#06x}",
            "poll_number": item.poll_number,
            "obj_type": [item.obj_partition, item.obj_code],
            "attr_group": f"{item.attr_group:#06x}",
            "options": {f"{a.attribute_id:#06x}": a.value.hex() for a in item.options},
        }
    if isinstance(item, EventReport):
        return {
            "kind": "event_report",
            "invoke_id": item.invoke_id,
            "event_type": f"{item.event_type:#06x}",
            "object": _mo(item.managed_object),
            "length": len(item.payload),
        }
    if isinstance(item, EventReportResult):
        return {
            "kind": "event_report_result",
            "invoke_id": item.invoke_id,
            "event_type": f"{item.event_type:#06x}",
            "object": _mo(item.managed_object),
        }
    if isinstance(item, ActionResult):
        return {
            "kind": "action_result",
            "invoke_id": item.invoke_id,
            "action_type": f"{item.action_type:#06x}",
            "length": len(item.payload),
        }
    if isinstance(item, RemoteError):
        return {"kind": "remote_error", "invoke_id": item.invoke_id, "error": item.error_value}
    assert isinstance(item, OtherOperation)
    return {
        "kind": "operation",
        "ro_type": item.ro_type.name,
        "invoke_id": item.invoke_id,
        "command": item.command,
        "length": len(item.payload),
    }


def _poll_result(item: PollResult) -> dict[str, object]:
    numerics: list[object] = []
    waves: list[object] = []
    alerts: list[object] = []
    for obs in item.observations:
        if isinstance(obs, NumericObservation):
            numerics.append(
                {
                    "handle": obs.handle,
                    "physio_id": obs.physio_id,
                    "label": nomenclature.physio_label(obs.metric_id),
                    "mdc": nomenclature.mdc_code(obs.metric_id),
                    "value": obs.value,
                    "reason": obs.reason.value,
                    "unit": nomenclature.ucum(obs.unit_code),
                    "state": f"{obs.state:#06x}",
                    "quality": obs.quality.names(),
                }
            )
        elif isinstance(obs, WaveObservation):
            waves.append(
                {
                    "handle": obs.handle,
                    "physio_id": obs.physio_id,
                    "label": nomenclature.physio_label(obs.metric_id),
                    "mdc": nomenclature.mdc_code(obs.metric_id),
                    "samples": len(obs.samples),
                    "sample_period": obs.sample_period,
                    "state": f"{obs.state:#06x}",
                }
            )
        elif isinstance(obs, AlertObservation):
            alerts.append(
                {
                    "handle": obs.handle,
                    "patient": [_alarm(a) for a in obs.patient_alarms],
                    "technical": [_alarm(a) for a in obs.technical_alarms],
                }
            )
    return {
        "kind": "poll_result",
        "ro_type": item.ro_type.name,
        "linked": None
        if item.linked_state is None
        else {"state": item.linked_state.name, "count": item.linked_count},
        "invoke_id": item.invoke_id,
        "action_type": f"{item.action_type:#06x}",
        "poll_number": item.poll_number,
        "sequence_no": item.sequence_no,
        "rel_time": item.rel_time,
        "abs_time": _time(item.abs_time),
        "obj_type": [item.obj_partition, item.obj_code],
        "attr_group": f"{item.attr_group:#06x}",
        "objects": item.object_count,
        "numerics": numerics,
        "waves": waves,
        "alerts": alerts,
    }


def _alarm(entry: AlarmEntry) -> dict[str, object]:
    return {
        "source": entry.source,
        "code": entry.code,
        "type": f"{entry.alert_type:#06x}",
        "state": f"{entry.alert_state:#06x}",
        "text": entry.string,
    }


def _mo(mo: ManagedObject) -> list[int]:
    return [mo.obj_class, mo.context_id, mo.handle]


def _time(stamp: AbsoluteTime | None) -> str | None:
    return None if stamp is None else stamp.to_datetime().isoformat()
