"""``edgetwin doctor``: check this machine for running EdgeTwin and say exactly what to fix.

Each check prints one line, ``OK``, ``WARN`` or ``FAIL``, and for anything not OK the fix on
the next line. Exit code 0 when nothing failed, 1 otherwise. ``--json`` prints the same as
JSON. Without ``--config`` only the machine is checked (Python, BlueZ, adapter, disk, clock,
mosquitto); with it also the configured serial ports, the broker and the disk budget.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import json
import os
import pwd
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from gateway import allocator
from gateway.broker import find_mosquitto
from gateway.config import GatewayConfig, load_config
from gateway.errors import ConfigError

EXIT_OK, EXIT_FAIL = 0, 1
OK, WARN, FAIL = "OK", "WARN", "FAIL"
MIN_PYTHON = (3, 11)
MIN_BLUEZ = (5, 55)  # bleak's minimum
BLUETOOTH_SYSFS = Path("/sys/class/bluetooth")
RFKILL_SYSFS = Path("/sys/class/rfkill")
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
PROC_MOUNTS = Path("/proc/mounts")
VOLATILE_FS = {"tmpfs", "ramfs", "overlay", "squashfs"}
DEFAULT_DATA_DIR = Path("edgetwin-data")
COMMAND_TIMEOUT_S = 5.0
NETWORK_TIMEOUT_S = 5.0


Runner = Callable[[Sequence[str]], "tuple[int, str] | None"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``doctor`` sub-command."""
    parser = subparsers.add_parser(
        "doctor",
        help="check this machine (BlueZ, serial ports, broker, disk, clock) and say what to fix",
        description="Check the environment EdgeTwin runs in. Each line is OK, WARN or FAIL; "
        "the exit code is 1 if anything failed.",
    )
    parser.add_argument("--config", type=Path, help="configuration file (TOML) to check against")
    parser.add_argument(
        "--data-dir", type=Path, help="data directory to check when no --config is given"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checks = run_checks(args.config, args.data_dir)
    failed = any(c.status == FAIL for c in checks)
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        print(format_checks(checks))
    return EXIT_FAIL if failed else EXIT_OK


def format_checks(checks: Sequence[Check]) -> str:
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        lines.append(f"{c.status:<4}  {c.name:<{width}}  {c.detail}")
        if c.fix and c.status != OK:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
    fails = sum(c.status == FAIL for c in checks)
    warns = sum(c.status == WARN for c in checks)
    lines.append("")
    lines.append(
        f"{fails} failed, {warns} warnings: "
        + ("fix the FAIL lines above before starting the gateway" if fails else "ready to run")
    )
    return "\n".join(lines)


def run_checks(config_path: Path | None, data_dir: Path | None = None) -> list[Check]:
    checks = [check_python()]
    config: GatewayConfig | None = None
    if config_path is not None:
        try:
            config = load_config(config_path)
            checks.append(
                Check(
                    "config",
                    OK,
                    f"{config_path}: {len(config.devices)} devices, "
                    f"{len(config.patients)} patients",
                )
            )
        except ConfigError as exc:
            checks.append(
                Check("config", FAIL, str(exc), "edit the key named above, then run doctor again")
            )
    ble_needed = config is not None and any(_is_ble(d.kind, d.options) for d in config.devices)
    checks.append(check_bluez(ble_needed))
    checks.append(check_adapter(ble_needed))
    if config is not None:
        checks.extend(check_serial_ports(config))
        checks.extend(check_broker(config))
    target = config.data_dir if config is not None else (data_dir or DEFAULT_DATA_DIR)
    checks.extend(check_disk(target, config))
    checks.append(check_clock())
    checks.append(check_mosquitto())
    checks.append(check_allocator())
    return checks


# -- individual checks -----------------------------------------------------------------------


def check_python(version: tuple[int, int] | None = None) -> Check:
    major, minor = version or (sys.version_info.major, sys.version_info.minor)
    text = f"Python {major}.{minor} ({sys.executable})"
    if (major, minor) >= MIN_PYTHON:
        return Check("python", OK, text)
    return Check(
        "python",
        FAIL,
        f"{text} is too old; EdgeTwin needs {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer",
        "use Raspberry Pi OS / Debian 12 (bookworm) or newer, whose python3 is 3.11",
    )


def _run(cmd: Sequence[str]) -> tuple[int, str] | None:
    """(exit code, stdout+stderr) of a command, or None if it is not installed."""
    try:
        done = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        return None
    except (OSError, subprocess.SubprocessError) as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def check_bluez(needed: bool, runner: Runner | None = None) -> Check:
    runner = runner or _run
    bad = FAIL if needed else WARN
    why = "" if needed else " (needed only for BLE devices)"
    result = runner(["bluetoothctl", "--version"])
    if result is None or result[0] != 0:
        return Check(
            "bluez",
            bad,
            f"BlueZ not found: bluetoothctl is not installed{why}",
            "sudo apt install bluez && sudo systemctl enable --now bluetooth",
        )
    match = re.search(r"(\d+)\.(\d+)", result[1])
    if match is None:
        return Check("bluez", WARN, f"cannot read the BlueZ version from {result[1]!r}")
    version = (int(match.group(1)), int(match.group(2)))
    text = f"BlueZ {version[0]}.{version[1]}"
    if version < MIN_BLUEZ:
        return Check(
            "bluez",
            bad,
            f"{text} is too old; BLE needs {MIN_BLUEZ[0]}.{MIN_BLUEZ[1]} or newer{why}",
            "upgrade to Raspberry Pi OS / Debian 12 (bookworm) or newer (BlueZ 5.66)",
        )
    bus = runner(["busctl", "--system", "--no-pager", "--no-legend", "list"])
    if bus is not None and bus[0] == 0 and "org.bluez" not in bus[1]:
        return Check(
            "bluez",
            bad,
            f"{text} installed, but bluetoothd is not on the system bus{why}",
            "sudo systemctl enable --now bluetooth",
        )
    return Check("bluez", OK, text + ("" if bus is None or bus[0] else ", bluetoothd running"))


def check_adapter(needed: bool, sysfs: Path | None = None, rfkill: Path | None = None) -> Check:
    sysfs = BLUETOOTH_SYSFS if sysfs is None else sysfs
    rfkill = RFKILL_SYSFS if rfkill is None else rfkill
    bad = FAIL if needed else WARN
    why = "" if needed else " (needed only for BLE devices)"
    try:
        adapters = sorted(p.name for p in sysfs.iterdir() if re.fullmatch(r"hci\d+", p.name))
    except OSError:
        adapters = []
    if not adapters:
        return Check(
            "bluetooth adapter",
            bad,
            f"no Bluetooth adapter in {sysfs}{why}",
            "plug in a USB Bluetooth adapter, or on a Pi remove dtoverlay=disable-bt from "
            "/boot/firmware/config.txt and reboot",
        )
    blocked = _rfkill_blocked(rfkill)
    if blocked:
        return Check(
            "bluetooth adapter",
            bad,
            f"{', '.join(adapters)} present but blocked by rfkill ({', '.join(blocked)})",
            "sudo rfkill unblock bluetooth",
        )
    return Check("bluetooth adapter", OK, ", ".join(adapters))


def _rfkill_blocked(rfkill: Path) -> list[str]:
    blocked = []
    with contextlib.suppress(OSError):
        for entry in sorted(rfkill.iterdir()):
            try:
                if (entry / "type").read_text().strip() != "bluetooth":
                    continue
                soft = (entry / "soft").read_text().strip() == "1"
                hard = (entry / "hard").read_text().strip() == "1"
            except OSError:
                continue
            if soft or hard:
                blocked.append(f"{entry.name}: {'hard' if hard else 'soft'} block")
    return blocked


def _is_ble(kind: str, options: object) -> bool:
    return kind.startswith("ble") or (isinstance(options, dict) and "address" in options)


def check_serial_ports(config: GatewayConfig) -> list[Check]:
    checks = []
    for device in config.devices:
        port = device.options.get("port")
        if not isinstance(port, str):
            continue
        checks.append(check_serial_port(device.id, Path(port)))
    if not checks:
        checks.append(Check("serial ports", OK, "no serial devices configured"))
    return checks


def check_serial_port(device_id: str, path: Path) -> Check:
    name = f"serial {device_id}"
    try:
        st = path.stat()
    except FileNotFoundError:
        hint = (
            "plug the USB-serial adapter in; list candidates with ls -l /dev/serial/by-id/ "
            "and put that stable path in the device's port"
        )
        return Check(name, FAIL, f"{path} does not exist", hint)
    except OSError as exc:
        return Check(name, FAIL, f"{path}: {exc}", "check the path in the device's port")
    if not stat.S_ISCHR(st.st_mode):
        return Check(name, FAIL, f"{path} is not a serial device", "point port at /dev/tty*")
    if os.access(path, os.R_OK | os.W_OK):
        return Check(name, OK, f"{path} readable and writable")
    group = _group_name(st.st_gid)
    user = _user_name()
    member = st.st_gid in os.getgroups()
    fix = (
        f"sudo usermod -aG {group} {user}, then log in again (or restart the service)"
        if not member
        else f"the group {group} lacks rw on {path}: check udev rules (MODE=0660)"
    )
    return Check(
        name, FAIL, f"{path} is not readable and writable by {user} (owned by group {group})", fix
    )


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def check_broker(config: GatewayConfig, timeout_s: float = NETWORK_TIMEOUT_S) -> list[Check]:
    mq = config.mqtt
    if not mq.enabled:
        return [Check("broker", OK, "uplink disabled ([mqtt] enabled = false): buffer only")]
    where = f"{mq.host}:{mq.port}"
    try:
        sock = socket.create_connection((mq.host, mq.port), timeout=timeout_s)
    except OSError as exc:
        return [
            Check(
                "broker",
                FAIL,
                f"cannot reach {where}: {exc.strerror or exc}",
                "check [mqtt] host and port, the network and firewall, and that the broker runs",
            )
        ]
    with sock:
        checks = [Check("broker", OK, f"TCP connect to {where}")]
        if mq.tls:
            checks.append(_tls_check(config, sock, timeout_s))
        elif mq.port == 8883:
            checks.append(
                Check(
                    "broker tls",
                    WARN,
                    f"port 8883 is the MQTT-over-TLS port but [mqtt] tls is false ({where})",
                    "set tls = true and ca_file in [mqtt], or use the broker's plain port",
                )
            )
    return checks


def _tls_check(config: GatewayConfig, sock: socket.socket, timeout_s: float) -> Check:
    mq = config.mqtt
    for key in ("ca_file", "cert_file", "key_file"):
        value = getattr(mq, key)
        if value is not None and not os.access(value, os.R_OK):
            return Check(
                "broker tls",
                FAIL,
                f"[mqtt] {key} {value} is missing or not readable by {_user_name()}",
                f"copy the file there and make it readable (chgrp edgetwin {value}; chmod 640)",
            )
    try:
        context = ssl.create_default_context(cafile=mq.ca_file)
        if mq.cert_file and mq.key_file:
            context.load_cert_chain(mq.cert_file, mq.key_file)
    except (ssl.SSLError, OSError) as exc:
        return Check(
            "broker tls",
            FAIL,
            f"cannot load the TLS files: {exc}",
            "check ca_file is a PEM CA certificate and cert_file/key_file a matching PEM pair",
        )
    sock.settimeout(timeout_s)
    try:
        with context.wrap_socket(sock, server_hostname=mq.host) as tls:
            version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        return Check(
            "broker tls",
            FAIL,
            f"the broker's certificate was refused: {exc.verify_message}",
            "set ca_file to the CA that signed the broker's certificate, and use the host name "
            "written in that certificate as [mqtt] host",
        )
    except (ssl.SSLError, OSError) as exc:
        return Check(
            "broker tls",
            FAIL,
            f"TLS handshake with {mq.host}:{mq.port} failed: {exc}",
            "check the port speaks TLS (usually 8883) and the client certificate is accepted",
        )
    return Check("broker tls", OK, f"{version} handshake, certificate verified for {mq.host}")


def check_disk(data_dir: Path, config: GatewayConfig | None) -> list[Check]:
    existing = data_dir.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    checks: list[Check] = []
    if not os.access(existing, os.W_OK | os.X_OK):
        checks.append(
            Check(
                "data dir",
                FAIL,
                f"{data_dir} is not writable by {_user_name()} ({existing} is the nearest "
                "existing folder)",
                f"sudo install -d -o {_user_name()} -m 0750 {data_dir}",
            )
        )
    fs_type = _fs_type(existing)
    if fs_type in VOLATILE_FS:
        checks.append(
            Check(
                "data dir",
                WARN,
                f"{data_dir} is on {fs_type}: buffered records would be lost at reboot",
                "put data_dir on persistent storage (SD card or SSD), e.g. /var/lib/edgetwin",
            )
        )
    elif not checks:
        checks.append(Check("data dir", OK, f"{data_dir} writable ({fs_type or 'unknown fs'})"))
    usage = shutil.disk_usage(existing)
    buffer_bytes = _buffer_bytes(data_dir)
    if config is None:
        checks.append(Check("disk", OK, f"{_size(usage.free)} free of {_size(usage.total)}"))
        return checks
    budget, floor = config.buffer.max_bytes, config.buffer.min_free_bytes
    room = usage.free + buffer_bytes - floor  # what the buffer may grow to before the floor
    text = (
        f"{_size(usage.free)} free; buffer {_size(buffer_bytes)} of a {_size(budget)} budget; "
        f"{_size(floor)} kept free"
    )
    if usage.free < floor:
        checks.append(
            Check(
                "disk",
                FAIL,
                f"{text}: already below the free-space floor, old data is being evicted",
                f"free space on {existing} or lower [buffer] min_free_bytes",
            )
        )
    elif room < budget:
        checks.append(
            Check(
                "disk",
                WARN,
                f"{text}: the budget does not fit, eviction starts at {_size(max(room, 0))}",
                f"lower [buffer] max_bytes to {max(room, 1 << 20) // (1 << 20)} MiB or free space",
            )
        )
    else:
        checks.append(Check("disk", OK, text))
    return checks


def _buffer_bytes(data_dir: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += (data_dir / f"buffer.sqlite3{suffix}").stat().st_size
    return total


def _fs_type(path: Path, mounts: Path | None = None) -> str:
    """The file system type of the mount holding ``path`` (longest mount-point prefix)."""
    best, fs = "", ""
    try:
        lines = (PROC_MOUNTS if mounts is None else mounts).read_text().splitlines()
    except OSError:
        return ""
    resolved = str(path.resolve())
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fs = point, parts[2]
    return fs


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def check_clock(runner: Runner | None = None, flag: Path | None = None) -> Check:
    runner = runner or _run
    flag = TIMESYNC_FLAG if flag is None else flag
    result = runner(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if result is not None and result[0] == 0 and result[1] in ("yes", "no"):
        if result[1] == "yes":
            return Check("clock", OK, "synchronised (timedatectl NTPSynchronized=yes)")
        return Check(
            "clock",
            FAIL,
            "not synchronised: timestamps sent upstream would be wrong (a Pi has no RTC)",
            "sudo timedatectl set-ntp true, and let systemd-timesyncd (or chrony) reach an NTP "
            "server: check with timedatectl timesync-status",
        )
    if flag.exists():
        return Check("clock", OK, f"synchronised ({flag} exists)")
    return Check(
        "clock",
        WARN,
        f"cannot tell whether the clock is synchronised (no timedatectl answer, no {flag})",
        "enable time sync: sudo timedatectl set-ntp true (or install chrony)",
    )


def check_allocator(installed: bool | None = None) -> Check:
    """jemalloc for the service (deploy/edgetwin.service preloads it; gateway/allocator.py)."""
    if allocator.jemalloc_installed() if installed is None else installed:
        return Check("allocator", OK, f"{allocator.JEMALLOC} (the service unit preloads it)")
    return Check(
        "allocator",
        WARN,
        f"{allocator.JEMALLOC} not installed: the gateway runs on glibc malloc, whose resident "
        "size creeps up for its first half hour (docs/performance.md)",
        "sudo apt install libjemalloc2",
    )


def check_mosquitto() -> Check:
    found = find_mosquitto()
    if found:
        return Check("mosquitto", OK, f"{found} (for edgetwin demo and the tests)")
    return Check(
        "mosquitto",
        WARN,
        "mosquitto not installed: edgetwin demo runs buffer-only without it",
        "sudo apt install mosquitto (then sudo systemctl disable --now mosquitto if you do "
        "not want a system-wide broker)",
    )
