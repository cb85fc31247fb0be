"""sd_notify over a real unix datagram socket, and the systemd unit's settings."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.sdnotify import Notifier, notify, watchdog_interval_s

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "edgetwin.service"


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    folder = tempfile.mkdtemp(prefix="sdn-", dir="/tmp")  # short: AF_UNIX paths max 107 bytes
    path = os.path.join(folder, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    yield sock, path
    sock.close()
    shutil.rmtree(folder)


def test_ready_watchdog_stopping_reach_the_socket(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.ready("3 devices")
    assert sock.recv(4096) == b"READY=1\nSTATUS=3 devices"
    assert n.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert n.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_abstract_socket_names() -> None:
    name = f"edgetwin-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(10)
        assert notify("READY=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"READY=1"


def test_outside_systemd_everything_is_a_no_op(tmp_path: Path) -> None:
    assert notify("READY=1", {}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": "relative/path"}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False
    assert Notifier({}).watchdog() is False


def test_watchdog_interval_from_the_environment() -> None:
    me = str(os.getpid())
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": me}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "2000000"}) == 2.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_s({}) is None


async def test_watchdog_loop_pings_only_while_healthy(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    sock.setblocking(False)
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"}  # ping every 50 ms
    answers = iter([True, False, True, False, False, True])
    calls: list[bool] = []

    def healthy() -> bool:
        ok = next(answers, True)
        calls.append(ok)
        return ok

    loop = asyncio.create_task(Notifier(env).watchdog_loop(healthy))
    while len(calls) < 8:
        await asyncio.sleep(0.01)
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    pings = 0
    while True:
        try:
            assert sock.recv(100) == b"WATCHDOG=1"
        except BlockingIOError:
            break
        pings += 1
    assert pings == sum(calls) and pings < len(calls)


async def test_watchdog_loop_returns_when_systemd_wants_none() -> None:
    await asyncio.wait_for(Notifier({}).watchdog_loop(), 5)


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if re.match(r"^[A-Za-z]+=", line):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_unit_file_has_the_required_settings() -> None:
    s = unit_settings()
    expected = {
        "Type": "notify",
        "Restart": "on-failure",
        "User": "edgetwin",
        "StateDirectory": "edgetwin",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ReadWritePaths": "/var/lib/edgetwin",
        "DevicePolicy": "closed",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_BLUETOOTH",
    }
    for key, value in expected.items():
        assert s.get(key) == [value], key
    assert set(s["SupplementaryGroups"][0].split()) == {"bluetooth", "dialout"}
    assert re.fullmatch(r"\d+s", s["WatchdogSec"][0])
    allowed = {v.split()[0] for v in s["DeviceAllow"]}
    assert {"char-ttyUSB", "char-ttyACM", "char-ttyAMA"} <= allowed
    assert s["ExecStart"][0].split()[0].endswith("/edgetwin")
    assert s["WantedBy"] == ["multi-user.target"]
    assert "LD_PRELOAD=libjemalloc.so.2" in s["Environment"]  # gateway/allocator.py


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    text = re.sub(r"(?m)^ExecStart=\S+", "ExecStart=/bin/true", UNIT.read_text())
    unit = tmp_path / "edgetwin.service"
    unit.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "edgetwin.service" not in done.stderr, done.stderr  # no warnings about our unit
