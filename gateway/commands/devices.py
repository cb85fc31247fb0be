"""``edgetwin devices scan|bind``: what is around, and bind a device to a patient.

``scan`` listens for BLE advertisements (bleak) and lists address, name, RSSI and the SIG
health services each device advertises. ``bind`` edits the TOML configuration: it replaces
the keys of an existing ``[[devices]]`` entry in place, or adds a new entry (and a new
``[[patients]]`` entry when the patient is new) after the last one of its kind, leaving every
other line, comments included, as it was. The result is validated with the gateway's own
loader before it atomically replaces the file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.ble import uuids
from gateway.commands.buffer import Progress
from gateway.config import load_config
from gateway.errors import ConfigError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
BLUETOOTH_SYSFS = Path("/sys/class/bluetooth")
#: SIG services shown by name (16-bit UUID -> name): health profiles, battery, device info.
SERVICE_NAMES: dict[int, str] = {
    uuids.HEART_RATE_SERVICE: "Heart Rate",
    uuids.BLOOD_PRESSURE_SERVICE: "Blood Pressure",
    uuids.HEALTH_THERMOMETER_SERVICE: "Health Thermometer",
    uuids.PULSE_OXIMETER_SERVICE: "Pulse Oximeter",
    uuids.WEIGHT_SCALE_SERVICE: "Weight Scale",
    uuids.GLUCOSE_SERVICE: "Glucose",
    uuids.CGM_SERVICE: "Continuous Glucose Monitoring",
    0x181B: "Body Composition",
    uuids.BATTERY_SERVICE: "Battery",
    uuids.DEVICE_INFORMATION_SERVICE: "Device Information",
    uuids.CURRENT_TIME_SERVICE: "Current Time",
}
HEALTH_SERVICES = frozenset(SERVICE_NAMES) - {
    uuids.BATTERY_SERVICE,
    uuids.DEVICE_INFORMATION_SERVICE,
    uuids.CURRENT_TIME_SERVICE,
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``devices scan`` and ``devices bind``."""
    parser = subparsers.add_parser("devices", help="scan for BLE devices, bind devices to patients")
    sub = parser.add_subparsers(dest="devices_command", required=True, metavar="ACTION")
    scan = sub.add_parser("scan", help="list BLE devices around and the health services they offer")
    scan.add_argument("--seconds", type=float, default=8.0, help="how long to listen (default 8)")
    scan.add_argument("--all", action="store_true", help="also list devices with no health service")
    scan.add_argument("--json", action="store_true", help="print JSON")
    scan.set_defaults(func=run_scan)
    bind = sub.add_parser("bind", help="bind a device to a patient in the configuration file")
    bind.add_argument("--config", required=True, type=Path, help="configuration file (TOML)")
    bind.add_argument("--device", required=True, help="device id, e.g. bed04-spo2")
    bind.add_argument("--patient", required=True, help="pseudonymous patient id")
    bind.add_argument("--bed", help="bed label for the patient (added or changed)")
    bind.add_argument("--kind", help="driver kind (required for a new device)")
    where = bind.add_mutually_exclusive_group()
    where.add_argument("--port", help="serial port, best a /dev/serial/by-id/... path")
    where.add_argument("--address", help="BLE address")
    bind.set_defaults(func=run_bind)


# -- scan ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seen:
    address: str
    name: str
    rssi: int | None
    services: tuple[str, ...]  # SIG names, health services first
    other_services: int
    health: bool


def adapters(sysfs: Path | None = None) -> list[str]:
    folder = BLUETOOTH_SYSFS if sysfs is None else sysfs
    try:
        return sorted(p.name for p in folder.iterdir() if re.fullmatch(r"hci\d+", p.name))
    except OSError:
        return []


def describe_services(service_uuids: Sequence[str]) -> tuple[tuple[str, ...], int, bool]:
    """SIG names of the advertised services (health first), how many others, any health."""
    named: list[tuple[int, str]] = []
    other = 0
    for text in service_uuids:
        try:
            short = uuids.parse_uuid16(text)
        except ValueError:
            other += 1
            continue
        if short in SERVICE_NAMES:
            named.append((0 if short in HEALTH_SERVICES else 1, SERVICE_NAMES[short]))
        else:
            other += 1
    named.sort()
    health = any(rank == 0 for rank, _ in named)
    return tuple(name for _, name in named), other, health


async def scan(seconds: float, progress: Progress | None = None) -> list[Seen]:
    from bleak import BleakScanner

    async with BleakScanner() as scanner:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            if progress is not None:
                progress.set(min(int(seconds), int(seconds - left)))
            await asyncio.sleep(min(0.2, left))
        if progress is not None:
            progress.set(int(seconds))
    found = []
    for address, (device, adv) in scanner.discovered_devices_and_advertisement_data.items():
        names, other, health = describe_services(adv.service_uuids)
        found.append(
            Seen(address, adv.local_name or device.name or "", adv.rssi, names, other, health)
        )
    found.sort(key=lambda s: (not s.health, -(s.rssi if s.rssi is not None else -999)))
    return found


def run_scan(args: argparse.Namespace) -> int:
    if args.seconds <= 0 or args.seconds > 600:
        print("edgetwin devices scan: --seconds must be above 0 and at most 600", file=sys.stderr)
        return EXIT_USAGE
    if sys.platform.startswith("linux") and not adapters():
        print(
            f"edgetwin devices scan: no Bluetooth adapter found ({BLUETOOTH_SYSFS} has no hci "
            "device); plug one in or enable the onboard one, then check with edgetwin doctor",
            file=sys.stderr,
        )
        return EXIT_FAIL
    from bleak.exc import BleakError

    try:
        with Progress(int(args.seconds), "scanning", unit=" s") as progress:
            found = asyncio.run(scan(args.seconds, progress))
    except (BleakError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        print(
            f"edgetwin devices scan: Bluetooth is not available ({reason}); is bluetoothd "
            "running? check with edgetwin doctor",
            file=sys.stderr,
        )
        return EXIT_FAIL
    shown = [s for s in found if s.health or args.all]
    if args.json:
        print(json.dumps([_seen_dict(s) for s in shown], indent=2))
    else:
        print(format_scan(shown, len(found)))
    return EXIT_OK


def _seen_dict(s: Seen) -> dict[str, Any]:
    return {
        "address": s.address,
        "name": s.name,
        "rssi": s.rssi,
        "services": list(s.services),
        "other_services": s.other_services,
        "health": s.health,
    }


def format_scan(shown: Sequence[Seen], total: int) -> str:
    lines = [f"{'address':<18} {'rssi':>5}  {'name':<24} services"]
    for s in shown:
        services = ", ".join(s.services) or "—"
        if s.other_services:
            services += f" (+{s.other_services} other)"
        rssi = "" if s.rssi is None else str(s.rssi)
        lines.append(f"{s.address:<18} {rssi:>5}  {s.name[:24]:<24} {services}")
    hidden = total - len(shown)
    lines.append(
        f"{len(shown)} shown"
        + (f", {hidden} without a health service hidden (--all shows them)" if hidden else "")
    )
    return "\n".join(lines)


# -- bind ------------------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*(\]\]?)\s*(#.*)?$")
_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_-]+)\s*=\s*(?P<rest>.*)$")
_STRING_VALUE = re.compile(r"""^(?P<val>"(?:[^"\\]|\\.)*"|'[^']*')(?P<tail>\s*#.*)?\s*$""")


@dataclass(frozen=True, slots=True)
class Block:
    """One table header and its own lines: ``start`` is the header, ``end`` is exclusive
    and stops before the comments and blank lines that lead into the next header."""

    name: str
    array: bool
    start: int
    end: int


def blocks(lines: Sequence[str]) -> list[Block]:
    """Table headers of a TOML text, skipping lines inside multi-line strings."""
    heads: list[tuple[int, str, bool]] = []
    in_string: str | None = None
    for i, line in enumerate(lines):
        if in_string is not None:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        match = _HEADER.match(line)
        if match and (match.group(1) == "[[") == (match.group(3) == "]]"):
            heads.append((i, match.group(2).replace(" ", ""), match.group(1) == "[["))
            continue
        for quote in ('"""', "'''"):
            if line.count(quote) % 2 == 1:
                in_string = quote
                break
    out = []
    for n, (start, name, array) in enumerate(heads):
        end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        while end - 1 > start and (not lines[end - 1].strip() or lines[end - 1].lstrip()[0] == "#"):
            end -= 1
        out.append(Block(name, array, start, end))
    return out


def toml_string(value: str) -> str:
    """A TOML basic string (JSON escaping is a subset of TOML's, plus DEL)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007F")


def render_table(name: str, values: dict[str, str]) -> list[str]:
    return [f"[[{name}]]", *(f"{k} = {toml_string(v)}" for k, v in values.items())]


def edit_block(lines: list[str], block: Block, changes: dict[str, str | None]) -> list[str]:
    """The block's lines with keys set (``str``) or removed (``None``), comments kept."""
    body = lines[block.start : block.end]
    done: set[str] = set()
    out: list[str] = []
    last_key = 0
    for line in body:
        match = _KEY_LINE.match(line)
        if match is None or match.group("key") not in changes:
            out.append(line)
            if match is not None:
                last_key = len(out)
            continue
        key = match.group("key")
        done.add(key)
        value = changes[key]
        if value is None:
            continue
        tail = ""
        string = _STRING_VALUE.match(match.group("rest"))
        if string is not None and string.group("tail"):
            tail = string.group("tail")
        out.append(f"{match.group('indent')}{key} = {toml_string(value)}{tail}")
        last_key = len(out)
    new = [f"{k} = {toml_string(v)}" for k, v in changes.items() if v is not None and k not in done]
    out[last_key if last_key else 1 : last_key if last_key else 1] = new
    return out


@dataclass(frozen=True, slots=True)
class BindResult:
    text: str
    created_device: bool
    created_patient: bool


def bind_text(
    text: str,
    source: str,
    device: str,
    patient: str,
    *,
    kind: str | None = None,
    port: str | None = None,
    address: str | None = None,
    bed: str | None = None,
) -> BindResult:
    """The configuration text with ``device`` bound to ``patient`` (pure: text in, text out).

    Raises :class:`ConfigError` when the request cannot be written (e.g. a new device without
    ``kind``) or when the edit would change anything but the entries it targets.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "(syntax)", f"valid TOML before editing ({exc})") from None
    lines = text.splitlines()
    found = blocks(lines)
    dev_blocks = [b for b in found if b.array and b.name == "devices"]
    pat_blocks = [b for b in found if b.array and b.name == "patients"]
    devices = list(raw.get("devices", []))
    patients = list(raw.get("patients", []))
    if len(dev_blocks) != len(devices) or len(pat_blocks) != len(patients):
        raise ConfigError(
            source,
            "devices",
            "[[devices]] and [[patients]] written as [[...]] tables (inline arrays cannot be "
            "edited; edit the file by hand)",
        )
    expected = dict(raw)
    edits: list[tuple[int, int, list[str]]] = []  # (start, end, new lines), applied bottom-up

    # the patient
    p_index = next((i for i, p in enumerate(patients) if p.get("id") == patient), None)
    created_patient = p_index is None
    if p_index is None:
        entry: dict[str, str] = {"id": patient} | ({"bed": bed} if bed else {})
        patients.append(entry)
        at = pat_blocks[-1].end if pat_blocks else _first_devices_line(dev_blocks, lines)
        edits.append((at, at, _spaced(render_table("patients", entry), lines, at)))
    elif bed is not None and patients[p_index].get("bed") != bed:
        patients[p_index] = dict(patients[p_index]) | {"bed": bed}
        b = pat_blocks[p_index]
        edits.append((b.start, b.end, edit_block(lines, b, {"bed": bed})))
    expected["patients"] = patients

    # the device
    d_index = next((i for i, d in enumerate(devices) if d.get("id") == device), None)
    created_device = d_index is None
    changes: dict[str, str | None] = {"patient": patient}
    if kind is not None:
        changes["kind"] = kind
    if port is not None:
        changes |= {"port": port, "address": None}
    if address is not None:
        changes |= {"address": address, "port": None}
    if d_index is None:
        if kind is None or (port is None and address is None):
            raise ConfigError(
                source,
                f"devices (id {device!r})",
                "a new device needs --kind and --port or --address",
            )
        values = {"id": device, "kind": kind, "patient": patient}
        values |= {"port": port} if port is not None else {"address": address or ""}
        devices.append(values)
        at = dev_blocks[-1].end if dev_blocks else len(lines)
        edits.append((at, at, _spaced(render_table("devices", values), lines, at)))
    else:
        updated = dict(devices[d_index])
        for key, value in changes.items():
            if value is None:
                updated.pop(key, None)
            else:
                updated[key] = value
        devices[d_index] = updated
        b = dev_blocks[d_index]
        edits.append((b.start, b.end, edit_block(lines, b, changes)))
    expected["devices"] = devices

    for start, end, new in sorted(edits, key=lambda e: e[0], reverse=True):
        lines[start:end] = new
    result = "\n".join(lines) + "\n"
    try:
        check = tomllib.loads(result)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "(edit)", f"an edit that keeps valid TOML ({exc})") from None
    if check != expected:
        raise ConfigError(
            source, "(edit)", "an edit that changes only the bound entries; edit the file by hand"
        )
    return BindResult(result, created_device, created_patient)


def _first_devices_line(dev_blocks: Sequence[Block], lines: Sequence[str]) -> int:
    """Where a first [[patients]] goes: before the first [[devices]] (and its comments)."""
    if not dev_blocks:
        return len(lines)
    at = dev_blocks[0].start
    while at > 0 and lines[at - 1].lstrip().startswith("#"):
        at -= 1
    return at


def _spaced(table: list[str], lines: Sequence[str], at: int) -> list[str]:
    """A new table with one blank line before it, and after it when text follows."""
    before = [""] if at > 0 and lines[at - 1].strip() else []
    after = [""] if at < len(lines) and lines[at].strip() else []
    return before + table + after


def write_config_atomically(path: Path, text: str) -> None:
    """Validate ``text`` with the gateway's loader, then replace ``path`` in one step."""
    tmp = path.with_name(f".{path.name}.edit-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):
            st = path.stat()
            os.chmod(tmp, st.st_mode & 0o7777)
            if hasattr(os, "chown"):
                with contextlib.suppress(PermissionError):
                    os.chown(tmp, st.st_uid, st.st_gid)
        try:
            load_config(tmp)
        except ConfigError as exc:
            raise ConfigError(str(path), exc.key, exc.expected) from None
        tmp.replace(path)
        with contextlib.suppress(OSError):
            _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run_bind(args: argparse.Namespace) -> int:
    path: Path = args.config
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "(file)", f"a readable file ({exc})") from None
    result = bind_text(
        text,
        str(path),
        args.device,
        args.patient,
        kind=args.kind,
        port=args.port,
        address=args.address,
        bed=args.bed,
    )
    write_config_atomically(path, result.text)
    what = "added" if result.created_device else "rebound"
    new_patient = " (new patient entry)" if result.created_patient else ""
    print(
        f"{what} device {args.device} -> patient {args.patient}{new_patient} in {path}; "
        "restart the gateway to apply (sudo systemctl restart edgetwin)"
    )
    return EXIT_OK
