"""The edgetwin command line, run as a real process: decode, status, run, SIGTERM flush."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from support import wait_until

from drivers.registry import known_kinds
from hil.pty_port import PtyPort
from hil.sim.masimo_sim import MasimoSimulator

ROOT = Path(__file__).parent.parent
GOLDEN = (
    b"05/15/07 08:12:21 SN=0000070986 SPO2=098% BPM=072 PI=02.34% SPCO=--.-% "
    b"SPMET=--.-% DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000800\r\n"
)


def edgetwin(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
        check=False,
    )


def test_decode_serial_masimo_prints_json() -> None:
    out = edgetwin("decode", "serial", "masimo", GOLDEN.hex())
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["values"]["spo2"] == 98.0
    assert body["values"]["pvi"] is None
    assert body["exceptions"] == ["masimo_set"]


def test_decode_errors_are_one_line_and_exit_2() -> None:
    for args in (("masimo", "zz"), ("masimo", "00ff"), ("nosuch", "00")):
        out = edgetwin("decode", "serial", *args)
        assert out.returncode == 2, args
        assert out.stdout == ""
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert out.stderr.startswith("edgetwin: error: ")
        assert "Traceback" not in out.stderr


def test_run_refuses_an_invalid_config_with_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        '[gateway]\nid = "x"\n[[patients]]\nid = "p"\n'
        '[[devices]]\nid = "d"\nkind = "nope"\npatient = "p"\n'
    )
    out = edgetwin("run", "--config", str(cfg))
    assert out.returncode == 1
    assert out.stderr.strip() == (
        f"edgetwin: error: {cfg}: devices[0].kind: one of {', '.join(known_kinds())}, got 'nope'"
    )


def test_status_without_a_buffer_says_where_it_looked(tmp_path: Path) -> None:
    out = edgetwin("status", "--data-dir", str(tmp_path))
    assert out.returncode == 1
    assert "no gateway buffer at" in out.stderr


async def test_sigterm_flushes_everything_read_and_status_reads_it(tmp_path: Path) -> None:
    pty = PtyPort()
    data = tmp_path / "data"
    cfg = tmp_path / "gw.toml"
    cfg.write_text(
        f"""
[gateway]
id = "gw-sig"
data_dir = "{data}"
[mqtt]
enabled = false
[buffer]
flush_interval_ms = 60000   # nothing is flushed on time: only shutdown can store it
max_batch_records = 100000
[[patients]]
id = "p-1"
[[devices]]
id = "oxi"
kind = "masimo"
patient = "p-1"
port = "{pty.path}"
"""
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "--log-level",
        "info",
        "run",
        "--config",
        str(cfg),
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        db_path = data / "buffer.sqlite3"

        def device_connected() -> bool:
            if not db_path.exists():
                return False
            try:
                row = (
                    sqlite3.connect(db_path)
                    .execute("SELECT state FROM devices WHERE device_id='oxi'")
                    .fetchone()
                )
            except sqlite3.Error:
                return False
            return row is not None and row[0] == "connected"

        await wait_until(device_connected, what="gateway process connected to the pty")
        sim = MasimoSimulator(pty, seed=5, interval_s=0.001, count=150)
        await sim.run()
        # Let the driver read everything: the pty's input queue empties.
        import fcntl
        import termios

        def pty_drained() -> bool:
            buf = bytearray(4)
            fcntl.ioctl(pty.master_fd, termios.TIOCOUTQ, buf)
            return int.from_bytes(buf, sys.byteorder) == 0

        await wait_until(pty_drained, what="driver read all lines")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        pty.close()
    db = sqlite3.connect(db_path)
    (committed,) = db.execute(
        "SELECT committed FROM streams WHERE stream_id='oxi.150456'"
    ).fetchone()
    assert committed == 150
    out = edgetwin("status", "--data-dir", str(data), "--json")
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["running"] is False
    assert status["buffer"]["committed"] >= 150 * 3
    assert status["devices"][0]["state"] == "stopped"
