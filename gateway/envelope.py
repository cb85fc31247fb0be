"""The versioned upstream envelope: one message per stream per flush, JSON by default.

Topic: ``edgetwin/v1/{site}/{gateway}/{kind}/{stream}``. Body (``v`` = 1)::

    {"v": 1, "gateway": "...", "site": "...", "stream": "...", "device": "...",
     "patient": "<pseudonymous id>", "kind": "numeric", "seq": [first, last],
     "mdc": 150456, "unit": "%",
     "samples": [{"seq": 17, "t_rx_ns": ..., "t_dev_ns": ..., "value": 97.0, "quality": []}, ...]}

``value`` is ``null`` when missing, and ``quality`` then says why. Wave samples are carried
as chunks (start, period, gain, offset, and the samples: integers packed little-endian in
base64 as ``samples_b64`` with their ``dtype``, or a JSON list). Sequence numbers are per stream,
gap-free and persistent; a receiver dedups on (gateway, stream, seq).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.model import Alarm, Checkpoint, DeviceEvent, Measurement, Record, WaveformChunk
from gateway.payload import compress, decode_body, encode_body
from gateway.wave_json import chunk_texts

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
    if encoding == "json" and first_seq is not None and isinstance(first, WaveformChunk):
        texts = _wave_texts(records, seqs)
        if texts is not None:  # the same bytes as below, without a dict per chunk
            head = json.dumps(body, separators=(",", ":"), allow_nan=False)
            raw = f'{head[:-1]},"samples":[{",".join(texts)}]}}'.encode()
            return compress(raw, compression)
    body["samples"] = [_sample(r, s) for r, s in zip(records, seqs, strict=True)]
    return encode_body(body, encoding, compression)


def _wave_texts(records: Sequence[Record], seqs: Sequence[int | None]) -> list[str] | None:
    chunks = [r for r in records if isinstance(r, WaveformChunk)]
    if len(chunks) != len(records):
        return None
    return chunk_texts(chunks, [s for s in seqs if s is not None])


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


#: Integer wave samples travel packed: little-endian, base64 (RFC 4648), smallest of these.
_PACKED = (("i2", np.int16), ("i4", np.int32))
_LE_I2 = np.dtype(np.int16).newbyteorder("<")


def wave_data(
    samples: npt.NDArray[np.int16] | npt.NDArray[np.int32] | npt.NDArray[np.float64],
) -> dict[str, Any]:
    """The samples of a wave chunk for the envelope.

    Integer samples (what monitors send: ADC counts) are packed as ``samples_b64`` with
    their ``dtype`` (``i2`` or ``i4``, little-endian): about 2.7 bytes a sample instead
    of 4-6 as JSON numbers, and encoded without a Python object per sample. Other samples
    stay a JSON list ``samples``. :func:`wave_samples` reads either.
    """
    if samples.dtype.itemsize <= 2 and samples.dtype.kind in "iu" and samples.dtype != np.uint16:
        # 8/16-bit counts fit i2 whatever their values: no range check (a hot path)
        packed = samples.astype(_LE_I2, copy=False).tobytes()
        return {"dtype": "i2", "samples_b64": base64.b64encode(packed).decode("ascii")}
    if samples.dtype.kind in "iu" and len(samples):
        lo, hi = int(samples.min()), int(samples.max())
        for name, dtype in _PACKED:
            info = np.iinfo(dtype)
            if info.min <= lo and hi <= info.max:
                packed = samples.astype(np.dtype(dtype).newbyteorder("<"), copy=False).tobytes()
                return {"dtype": name, "samples_b64": base64.b64encode(packed).decode("ascii")}
    return {"samples": samples.tolist()}


def wave_samples(sample: Mapping[str, Any]) -> list[float] | list[int]:
    """The samples of a wave sample from an envelope (packed or a JSON list).

    Raises ``ValueError`` naming the problem for a malformed one.
    """
    if "samples_b64" in sample:
        dtype = dict(_PACKED).get(str(sample.get("dtype")))
        text = sample["samples_b64"]
        if dtype is None or not isinstance(text, str):
            raise ValueError("packed wave samples need dtype 'i2' or 'i4' and a base64 string")
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"wave samples_b64 is not base64: {exc}") from None
        width = np.dtype(dtype).itemsize
        if len(raw) % width:
            raise ValueError(f"wave samples_b64 holds {len(raw)} bytes, not a multiple of {width}")
        values: list[int] = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).tolist()
        return values
    data = sample.get("samples")
    if not isinstance(data, list):
        raise ValueError("wave sample needs 'samples' (a list) or 'samples_b64'")
    return data


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
            **wave_data(r.samples),
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
