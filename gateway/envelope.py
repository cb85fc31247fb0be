"""The versioned upstream envelope: one message per stream per flush, JSON by default.

Topic: ``edgetwin/v1/{site}/{gateway}/{kind}/{stream}``. Body (``v`` = 1)::

    {"v": 1, "gateway": "...", "site": "...", "stream": "...", "device": "...",
     "patient": "<pseudonymous id>", "kind": "numeric", "seq": [first, last],
     "mdc": 150456, "unit": "%",
     "samples": [{"seq": 17, "t_rx_ns": ..., "t_dev_ns": ..., "value": 97.0, "quality": []}, ...]}

``value`` is ``null`` when missing, and ``quality`` then says why. Wave samples are carried
as chunks (start, period, gain, offset, integer samples). Sequence numbers are per stream,
gap-free and persistent; a receiver dedups on (gateway, stream, seq).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from gateway.model import Alarm, Checkpoint, DeviceEvent, Measurement, Record, WaveformChunk
from gateway.payload import decode_body, encode_body

VERSION = 1
CONTENT_TYPE = "application/json"


def topic(site: str, gateway: str, kind: str, stream: str) -> str:
    return f"edgetwin/v1/{site}/{gateway}/{kind}/{stream}"


def status_topic(site: str, gateway: str) -> str:
    return f"edgetwin/v1/{site}/{gateway}/status"


def encode_batch(
    records: Sequence[Record],
    *,
    gateway: str,
    site: str,
    patient: str,
    first_seq: int | None = None,
    encoding: str = "json",
    compression: str = "none",
) -> bytes:
    """Encode records of one stream as one envelope.

    Sample ``i`` gets sequence number ``first_seq + i``; without ``first_seq`` the records
    must already carry their numbers.
    """
    first = records[0]
    if first_seq is None:
        seqs = [r.seq for r in records]
    else:
        seqs = list(range(first_seq, first_seq + len(records)))
    body: dict[str, Any] = {
        "v": VERSION,
        "gateway": gateway,
        "site": site,
        "stream": first.stream_id,
        "device": getattr(first, "device_id", ""),
        "patient": patient,
        "kind": first.kind,
        "seq": [seqs[0], seqs[-1]],
    }
    if isinstance(first, Measurement):
        body["mdc"] = first.mdc_code
        body["unit"] = first.unit
    body["samples"] = [_sample(r, s) for r, s in zip(records, seqs, strict=True)]
    return encode_body(body, encoding, compression)


def encode_gap(
    *, gateway: str, site: str, stream: str, first: int, last: int, reason: str, t_ns: int
) -> bytes:
    """A gap report: sequence numbers ``first..last`` of ``stream`` will never be sent."""
    body = {
        "v": VERSION,
        "gateway": gateway,
        "site": site,
        "stream": stream,
        "kind": "gap",
        "seq": [first, last],
        "reason": reason,
        "t_ns": t_ns,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def decode(payload: bytes) -> dict[str, Any]:
    """Decode any envelope (JSON, CBOR, zstd-compressed) and check its version."""
    body = decode_body(payload)
    if body.get("v") != VERSION:
        raise ValueError(f"unsupported envelope version {body.get('v')!r}")
    return body


def _sample(r: Record, seq: int | None) -> dict[str, Any]:
    if isinstance(r, Measurement):
        return {
            "seq": seq,
            "t_rx_ns": r.received.wall_ns,
            "t_dev_ns": r.device_time_ns,
            "value": None if math.isnan(r.value) else r.value,
            "quality": r.quality.names(),
        }
    if isinstance(r, WaveformChunk):
        return {
            "seq": seq,
            "t_rx_ns": r.received.wall_ns,
            "start_ns": r.start_ns,
            "period_ns": r.sample_period_ns,
            "mdc": r.mdc_code,
            "unit": r.unit,
            "gain": r.gain,
            "offset": r.offset,
            "samples": r.samples.tolist(),
            "quality": r.quality.names(),
        }
    if isinstance(r, DeviceEvent):
        return {
            "seq": seq,
            "t_rx_ns": r.received.wall_ns,
            "event": r.event.value,
            "detail": r.detail,
            "value": r.value,
        }
    if isinstance(r, Alarm):
        return {
            "seq": seq,
            "t_rx_ns": r.received.wall_ns,
            "alarm_id": r.alarm_id,
            "priority": r.priority.name.lower(),
            "alarm_kind": r.alarm_kind.value,
            "condition": r.condition,
            "start_ns": r.start_ns,
            "end_ns": r.end_ns,
            "values": dict(r.values),
        }
    if isinstance(r, Checkpoint):
        raise TypeError("checkpoints are stored by the buffer, never sent upstream")
    return {"seq": seq, "t_rx_ns": r.received.wall_ns, "state": r.state}
