"""Read a gateway's state from its SQLite buffer (running or stopped): no IPC needed."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from gateway import codes
from gateway.buffer import read_stats
from gateway.errors import BufferError_
from gateway.model import Quality
from gateway.runtime import BUFFER_FILE


def read_status(data_dir: Path) -> dict[str, Any]:
    path = data_dir / BUFFER_FILE
    if not path.exists():
        raise BufferError_(f"no gateway buffer at {path} (is --data-dir right?)")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BufferError_(f"cannot open {path}: {exc}") from exc
    try:
        return _read(db)
    except sqlite3.Error as exc:
        raise BufferError_(f"cannot read {path}: {exc}") from exc
    finally:
        db.close()


def _read(db: sqlite3.Connection) -> dict[str, Any]:
    now = time.time_ns()
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    counters = json.loads(meta.get("device_counters", "{}"))
    stats = read_stats(db)
    devices = []
    for device_id, kind, state, since_ns, last_seen_ns, detail in db.execute(
        "SELECT device_id, kind, state, since_ns, last_seen_ns, detail FROM devices "
        "ORDER BY device_id"
    ):
        c = counters.get(device_id, {})
        latest = [
            {
                "label": codes.label_for(mdc),
                "mdc": mdc,
                "value": value,
                "unit": unit,
                "quality": Quality(q).names(),
                "age_s": round((now - rx) / 1e9, 1),
            }
            for mdc, unit, value, q, rx in db.execute(
                "SELECT mdc_code, unit, value, quality, received_ns FROM latest "
                "WHERE device_id = ? ORDER BY mdc_code",
                (device_id,),
            )
        ]
        devices.append(
            {
                "device": device_id,
                "kind": kind,
                "state": state,
                "since_s": round((now - since_ns) / 1e9, 1),
                "last_seen_s": None
                if last_seen_ns is None
                else round((now - last_seen_ns) / 1e9, 1),
                "parse_errors": c.get("parse_errors", 0),
                "restarts": c.get("restarts", 0),
                "detail": detail,
                "latest": latest,
            }
        )
    heartbeat = int(meta.get("heartbeat_ns") or 0)
    running = bool(heartbeat) and not meta.get("stopped_ns") and now - heartbeat < 10e9
    return {
        "gateway": meta.get("gateway_id", "?"),
        "site": meta.get("site", "?"),
        "running": running,
        "uplink": meta.get("uplink_state", "unknown"),
        "uplink_error": meta.get("uplink_error", ""),
        "buffer": {
            "outbox_rows": stats.outbox_rows,
            "outbox_records": stats.outbox_records,
            "oldest_unsent_age_s": None
            if stats.oldest_unsent_ns is None
            else round((now - stats.oldest_unsent_ns) / 1e9, 1),
            "committed": sum(s.committed for s in stats.streams),
            "acked": sum(s.acked for s in stats.streams),
        },
        "devices": devices,
    }


def format_status(status: dict[str, Any]) -> str:
    buf = status["buffer"]
    lag = buf["oldest_unsent_age_s"]
    lines = [
        f"gateway {status['gateway']} at {status['site']}: "
        f"{'running' if status['running'] else 'not running'}; uplink {status['uplink']}"
        + (f" ({status['uplink_error']})" if status["uplink_error"] else ""),
        f"buffer: {buf['outbox_records']} records in {buf['outbox_rows']} batches waiting; "
        f"upstream lag {'none' if lag is None else f'{lag} s'}; "
        f"{buf['committed']} stored, {buf['acked']} acknowledged upstream",
        "",
    ]
    for d in status["devices"]:
        seen = "never" if d["last_seen_s"] is None else f"{d['last_seen_s']} s ago"
        lines.append(
            f"{d['device']:<16} {d['kind']:<10} {d['state']:<13} last seen {seen}; "
            f"parse errors {d['parse_errors']}, restarts {d['restarts']}"
        )
        for v in d["latest"]:
            value = "—" if v["value"] is None else f"{v['value']:g}"
            flags = f" [{', '.join(v['quality'])}]" if v["quality"] else ""
            lines.append(f"    {v['label']:<8} {value:>7} {v['unit']:<7}{flags}")
    return "\n".join(lines)
