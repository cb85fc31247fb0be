"""Structured logs: one JSON object per line (``ts``, ``level``, ``logger``, ``msg`` and any
``extra=`` fields), for journald and log shippers.

Patient data stays out: extra fields whose name suggests patient identity are replaced by
``"[redacted]"``, and the MQTT client's wire trace (when enabled it names topics, which carry
pseudonymous patient ids) is kept at INFO or above even when the gateway logs at DEBUG.

``setup_logging(level, json=None)`` takes the format from ``EDGETWIN_LOG_FORMAT`` (``json``
or ``text``) when ``json`` is not given.
"""

from __future__ import annotations

import json as _json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

ENV_FORMAT = "EDGETWIN_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: ``extra=`` keys that are never written (patient identity has no place in logs).
REDACTED_KEYS = frozenset(
    {"patient", "patient_id", "patient_name", "name", "mrn", "dob", "birth_date", "address"}
)
#: Loggers kept at INFO or above whatever the level: their DEBUG output names MQTT topics.
WIRE_LOGGERS = ("mqtt",)
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_") or key in out:
                continue
            out[key] = "[redacted]" if key.lower() in REDACTED_KEYS else value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return _json.dumps(out, ensure_ascii=False, default=str)


def json_from_env() -> bool:
    """True when ``EDGETWIN_LOG_FORMAT=json`` (case-insensitive)."""
    return os.environ.get(ENV_FORMAT, "").strip().lower() == "json"


def setup_logging(
    level: int | str = logging.WARNING,
    json: bool | None = None,
    stream: TextIO | None = None,
    force: bool = False,
) -> bool:
    """Configure the root logger: JSON lines or text, on ``stream`` (default stderr).

    ``json=None`` reads ``EDGETWIN_LOG_FORMAT``. Like :func:`logging.basicConfig`, it does
    nothing when the root logger already has handlers (e.g. under pytest), unless ``force``;
    returns whether it configured anything. Raises ``ValueError`` for an unknown level.
    """
    if isinstance(level, str):
        resolved = logging.getLevelName(level.upper())
        if not isinstance(resolved, int):
            raise ValueError(f"unknown log level {level!r}")
        level = resolved
    root = logging.getLogger()
    if root.handlers and not force:
        return False
    use_json = json_from_env() if json is None else json
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else logging.Formatter(TEXT_FORMAT))
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    for name in WIRE_LOGGERS:
        wire = logging.getLogger(name)
        wire.setLevel(max(level, logging.INFO))
        if not any(isinstance(f, SocketResetAsWarning) for f in wire.filters):
            wire.addFilter(SocketResetAsWarning())
    return True


class SocketResetAsWarning(logging.Filter):
    """paho reports a broker going away as an *error* ("failed to receive on socket"); the
    uplink already logs the outage, once, with what to do. Keep paho's line, as a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and "on socket" in record.getMessage():
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
