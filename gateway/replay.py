"""``edgetwin replay``: feed a raw byte capture of a monitor through its driver's decoder.

The capture is what the device sent, byte for byte (e.g. recorded with ``cat /dev/ttyUSB0 >
capture.bin`` or a serial sniffer). Records come out as JSON lines (or a table), and parse
errors are counted and summarised on stderr, exactly as the live driver would count them.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from drivers.serial.session import SerialProtocol
from gateway import codes
from gateway.errors import ParseError
from gateway.model import DeviceEvent, Measurement, ReceiveTime, Record, WaveformChunk

#: protocol id -> (module, attribute) of its SerialProtocol
PROTOCOLS: dict[str, tuple[str, str]] = {
    "masimo": ("drivers.masimo.driver", "PROTOCOL"),
    "nonin": ("drivers.nonin.driver", "FORMAT7"),
    "nonin-8": ("drivers.nonin.driver", "FORMAT8"),
    "datex-s5": ("drivers.datex.driver", "PROTOCOL"),
    # Anchored at the capture's MDS Create event (see drivers.intellivue.driver).
    "intellivue": ("drivers.intellivue.driver", "PROTOCOL"),
}
CHUNK = 4096


def protocol_for(name: str) -> SerialProtocol[Any]:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown serial protocol {name!r}; known: {', '.join(PROTOCOLS)}")
    module, attr = PROTOCOLS[name]
    protocol: SerialProtocol[Any] = getattr(importlib.import_module(module), attr)
    return protocol


def replay(name: str, data: bytes, device_id: str = "capture") -> Iterator[Record | ParseError]:
    protocol = protocol_for(name)
    decoder = protocol.new_decoder()
    for start in range(0, len(data), CHUNK):
        received = ReceiveTime.now()
        for item in decoder.feed(data[start : start + CHUNK]):
            if isinstance(item, ParseError):
                yield item
            else:
                yield from protocol.to_records(item, device_id, received)


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


def as_json(record: Record) -> dict[str, Any]:
    if isinstance(record, Measurement):
        return {
            "type": "numeric",
            "stream": record.stream_id,
            "code": record.mdc_code,
            "label": codes.label_for(record.mdc_code),
            "value": None if math.isnan(record.value) else record.value,
            "unit": record.unit,
            "quality": record.quality.names(),
            "time": _iso(record.device_time_ns),
        }
    if isinstance(record, WaveformChunk):
        return {
            "type": "wave",
            "stream": record.stream_id,
            "code": record.mdc_code,
            "label": codes.label_for(record.mdc_code),
            "samples": len(record.samples),
            "rate_hz": round(1e9 / record.sample_period_ns, 3),
            "unit": record.unit,
            "gain": record.gain,
            "offset": record.offset,
            "quality": record.quality.names(),
        }
    if isinstance(record, DeviceEvent):
        return {"type": "event", "event": record.event.value, "detail": record.detail}
    return {"type": record.kind, "stream": record.stream_id}


def run_replay(name: str, path: Path, as_lines: bool, out: TextIO = sys.stdout) -> int:
    data = path.read_bytes()
    records = errors = 0
    for item in replay(name, data):
        if isinstance(item, ParseError):
            errors += 1
            print(f"edgetwin replay: {item}", file=sys.stderr)
            continue
        records += 1
        body = as_json(item)
        if as_lines:
            print(json.dumps(body), file=out)
        elif body["type"] == "numeric":
            value = "—" if body["value"] is None else f"{body['value']:g}"
            flags = f" [{', '.join(body['quality'])}]" if body["quality"] else ""
            print(
                f"{body['time'] or '':<26} {body['label']:<12} {value:>9} {body['unit']}{flags}",
                file=out,
            )
        elif body["type"] == "wave":
            print(
                f"{'':<26} {body['label']:<12} {body['samples']:>5} samples @ "
                f"{body['rate_hz']:g} Hz",
                file=out,
            )
    print(
        f"edgetwin replay: {len(data)} bytes, {records} records, {errors} parse errors",
        file=sys.stderr,
    )
    return 0
