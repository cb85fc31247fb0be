"""JSON logs: one object per line with ts/level/logger/msg and extras, no patient data; a
whole demo run logged as JSON never names a configured patient."""

from __future__ import annotations

import io
import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.logging_json import JsonFormatter, setup_logging

ROOT = Path(__file__).resolve().parents[2]
DEMO_PATIENTS = ("p-0001", "p-0002", "p-0003", "p-0004")


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("gateway.sync", logging.WARNING, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_one_json_object_per_line_with_the_standard_fields() -> None:
    line = JsonFormatter().format(record("uplink to %s down: %s", "b:8883", "refused\nby peer"))
    assert "\n" not in line
    body = json.loads(line)
    assert body["level"] == "warning" and body["logger"] == "gateway.sync"
    assert body["msg"] == "uplink to b:8883 down: refused\nby peer"
    assert body["ts"].endswith("+00:00") and "T" in body["ts"]
    assert set(body) == {"ts", "level", "logger", "msg"}


def test_extras_are_fields_and_patient_keys_are_redacted() -> None:
    body = json.loads(
        JsonFormatter().format(
            record("x", device="bed01-spo2", rows=3, patient="p-0001", patient_id="p-0002")
        )
    )
    assert body["device"] == "bed01-spo2" and body["rows"] == 3
    assert body["patient"] == "[redacted]" and body["patient_id"] == "[redacted]"
    assert "p-000" not in json.dumps(body)


def test_exceptions_are_kept_in_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.LogRecord("g", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exc"]


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    mqtt_level = logging.getLogger("mqtt").level
    yield
    for h in root.handlers[:]:
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    logging.getLogger("mqtt").setLevel(mqtt_level)


@pytest.mark.usefixtures("restore_root")
def test_setup_logging_reads_the_format_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setenv("EDGETWIN_LOG_FORMAT", "json")
    assert setup_logging("debug", stream=out) is False  # pytest's handlers are there
    assert setup_logging("debug", stream=out, force=True)
    logging.getLogger("gateway.test").info("hello %d", 7)
    logging.getLogger("mqtt").debug("Sending PUBLISH ... p-0001.twin")  # wire trace stays off
    (line,) = out.getvalue().splitlines()
    assert json.loads(line)["msg"] == "hello 7"
    out2 = io.StringIO()
    monkeypatch.setenv("EDGETWIN_LOG_FORMAT", "text")
    setup_logging("info", stream=out2, force=True)
    logging.getLogger("gateway.test").info("plain")
    assert out2.getvalue().rstrip().endswith("INFO gateway.test: plain")
    with pytest.raises(ValueError, match="unknown log level"):
        setup_logging("chatty", json=True, stream=out2, force=True)


def test_a_demo_run_with_json_logs_names_no_patient(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), EDGETWIN_LOG_FORMAT="json")
    data = tmp_path / "demo"
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("json_log_main.py")),
            "debug",
            "demo",
            "--seconds",
            "8",
            "--data-dir",
            str(data),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    json_lines = [json.loads(x) for x in done.stderr.splitlines() if x.startswith("{")]
    assert json_lines, "no JSON log line at all"
    for body in json_lines:
        assert {"ts", "level", "logger", "msg"} <= set(body)
    assert any(b["logger"].startswith("gateway.") for b in json_lines)
    # the run really handled these patients: the buffer holds their streams
    db = sqlite3.connect(data / "buffer.sqlite3")
    patients = {p for (p,) in db.execute("SELECT DISTINCT patient FROM streams")}
    db.close()
    assert set(DEMO_PATIENTS) <= patients
    assert "bed01-spo2" in done.stdout  # the summary was printed
    for pid in DEMO_PATIENTS:
        assert pid not in done.stdout, f"{pid} on stdout"
        assert pid not in done.stderr, f"{pid} in the logs"


@pytest.mark.usefixtures("restore_root")
def test_a_broker_going_away_is_a_warning_from_paho_not_an_error() -> None:
    stream = io.StringIO()
    setup_logging("warning", json=True, stream=stream, force=True)
    wire = logging.getLogger("mqtt")
    wire.error("failed to receive on socket: [Errno 104] Connection reset by peer")
    wire.error("protocol violation")
    levels = [json.loads(line)["level"] for line in stream.getvalue().splitlines()]
    assert levels == ["warning", "error"]  # other paho errors stay errors
