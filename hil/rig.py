"""HIL rig descriptions (``hil/rigs/*.toml``): what a bench is made of, validated.

A rig is either ``emulated`` (CI: bumble BLE devices on an in-process air, pty serial
simulators; nothing to plug in) or ``hardware`` (a bench: a BlueZ adapter, boards running
the companion firmware, USB-serial cables named by ``/dev/serial/by-id``). Targets are what
the gateway connects to; boards are what ``edgetwin hil flash`` programs. Errors raise
:class:`~gateway.errors.ConfigError` naming the file and key; :meth:`Rig.missing` lists
the hardware that is absent (the pytest plugin skips with those reasons).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config import ConfigReader
from hil.scenarios.loader import library_names, read_toml

RIGS = Path(__file__).resolve().parent / "rigs"
DEFAULT_RIG = RIGS / "emulated.toml"
KINDS = ("emulated", "hardware")
BLE_DEVICES = ("hr", "plx")
SERIAL_DEVICES = ("datex-s5", "nonin", "masimo")
BOARDS = ("esp32", "esp32-c3", "esp32-s3", "pico-w", "pico2-w")
PROFILES = ("ble", "uart")
_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


@dataclass(frozen=True, slots=True)
class Board:
    """A microcontroller running the companion firmware (flashed with mpremote)."""

    id: str
    board: str
    port: str  # mpremote port (by-id path) or "id:<usb serial>"
    profile: str  # ble | uart
    scenario: str
    protocol: str = ""  # uart profile: the bedside protocol the board speaks


@dataclass(frozen=True, slots=True)
class Target:
    """Something the gateway connects to: an emulator or a board."""

    id: str
    transport: str  # ble | serial
    device: str  # hr | plx (ble); datex-s5 | nonin | masimo (serial)
    address: str = ""  # ble: static address (emulated) or the board's address
    match_name: str = ""  # ble on a bench: advertised name regex instead of an address
    port: str = ""  # serial on a bench: the USB-serial cable wired to the board
    board: str = ""  # hardware: the board behind this target


@dataclass(frozen=True, slots=True)
class Rig:
    name: str
    kind: str
    description: str
    speed: float
    adapter: str
    scenarios: tuple[str, ...]
    targets: tuple[Target, ...]
    boards: tuple[Board, ...]
    source: str

    @property
    def emulated(self) -> bool:
        return self.kind == "emulated"

    def board(self, board_id: str) -> Board:
        for b in self.boards:
            if b.id == board_id:
                return b
        raise KeyError(board_id)

    def missing(self, exists: Callable[[str], bool] = lambda p: Path(p).exists()) -> list[str]:
        """Reasons this rig cannot run here (empty for an emulated rig or a complete bench)."""
        if self.emulated:
            return []
        out: list[str] = []
        ble = any(t.transport == "ble" for t in self.targets)
        if ble and not exists(f"/sys/class/bluetooth/{self.adapter}"):
            out.append(f"BLE adapter {self.adapter} is absent")
        for t in self.targets:
            if t.transport == "serial" and not exists(t.port):
                out.append(f"serial port {t.port} of target {t.id} is absent")
        for b in self.boards:
            if not b.port.startswith("id:") and not exists(b.port):
                out.append(f"board {b.id} ({b.board}) is not on {b.port}")
        if self.boards and shutil.which("mpremote") is None:
            out.append("mpremote is not installed (pip install mpremote)")
        return out


def load_rig(path: str | Path | None = None) -> Rig:
    """Read and validate a rig file (default: the emulated rig)."""
    path = Path(path) if path is not None else DEFAULT_RIG
    raw = read_toml(path)
    return parse_rig(raw, str(path))


def parse_rig(raw: Mapping[str, Any], source: str) -> Rig:
    r = _Reader(source)
    r.only(raw, "", {"rig", "ble", "targets", "boards"})
    head = r.table(raw, "rig")
    r.only(head, "rig", {"name", "kind", "description", "speed", "scenarios"})
    name = r.ident(head, "rig.name")
    kind = r.choice(head, "rig.kind", KINDS)
    emulated = kind == "emulated"
    speed = r.number(head, "rig.speed", 1.0, 0.1, 1000.0)
    if not emulated and speed != 1.0:
        raise r.fail("rig.speed", "1.0 on a hardware rig (boards run in real time)")
    known = library_names()
    scenarios = r.strings(head, "rig.scenarios", default=known)
    for i, s in enumerate(scenarios):
        if s not in known:
            raise r.fail(f"rig.scenarios[{i}]", f"a library scenario ({', '.join(known)})")
    ble = r.table(raw, "ble", required=False)
    r.only(ble, "ble", {"adapter"})
    adapter = r.ident(ble, "ble.adapter", default="emu" if emulated else "hci0")

    boards: list[Board] = []
    for i, b in enumerate(r.array_of_tables(raw, "boards")):
        key = f"boards[{i}]"
        if emulated:
            raise r.fail(key, "no boards on an emulated rig (kind = 'hardware' for a bench)")
        r.only(b, key, {"id", "board", "port", "profile", "scenario", "protocol"})
        profile = r.choice(b, f"{key}.profile", PROFILES)
        scenario = r.string(b, f"{key}.scenario")
        if scenario not in known:
            raise r.fail(f"{key}.scenario", f"a library scenario ({', '.join(known)})")
        protocol = ""
        if profile == "uart":
            protocol = r.choice(b, f"{key}.protocol", SERIAL_DEVICES)
        boards.append(
            Board(
                r.ident(b, f"{key}.id"),
                r.choice(b, f"{key}.board", BOARDS),
                r.string(b, f"{key}.port"),
                profile,
                scenario,
                protocol,
            )
        )
    r.unique([b.id for b in boards], "boards[].id")
    board_ids = {b.id: b for b in boards}

    targets: list[Target] = []
    for i, t in enumerate(r.array_of_tables(raw, "targets")):
        key = f"targets[{i}]"
        r.only(t, key, {"id", "transport", "device", "address", "match_name", "port", "board"})
        transport = r.choice(t, f"{key}.transport", ("ble", "serial"))
        devices = BLE_DEVICES if transport == "ble" else SERIAL_DEVICES
        target = Target(
            r.ident(t, f"{key}.id"),
            transport,
            r.choice(t, f"{key}.device", devices),
            address=r.string(t, f"{key}.address", default=""),
            match_name=r.string(t, f"{key}.match_name", default=""),
            port=r.string(t, f"{key}.port", default=""),
            board=r.string(t, f"{key}.board", default=""),
        )
        if target.address and not _ADDRESS.match(target.address):
            raise r.fail(f"{key}.address", f"AA:BB:CC:DD:EE:FF, got {target.address!r}")
        if transport == "ble" and emulated and not target.address:
            raise r.fail(f"{key}.address", "the emulated device's static address")
        if transport == "ble" and not (target.address or target.match_name):
            raise r.fail(f"{key}.address", "an address or a match_name")
        if emulated and (target.port or target.board):
            raise r.fail(f"{key}.port", "no port or board on an emulated rig (pty made per run)")
        if not emulated:
            if target.board not in board_ids:
                raise r.fail(f"{key}.board", f"the id of a [[boards]] entry, got {target.board!r}")
            if transport == "serial" and not target.port:
                raise r.fail(f"{key}.port", "the USB-serial cable (/dev/serial/by-id/...)")
            want = "ble" if transport == "ble" else "uart"
            if board_ids[target.board].profile != want:
                raise r.fail(f"{key}.board", f"a board with profile {want!r}")
        targets.append(target)
    r.unique([t.id for t in targets], "targets[].id")
    if not targets:
        raise r.fail("targets", "at least one [[targets]] entry")
    return Rig(
        name,
        kind,
        r.string(head, "rig.description", default=""),
        speed,
        adapter,
        tuple(scenarios),
        tuple(targets),
        tuple(boards),
        source,
    )


class _Reader(ConfigReader):
    """The gateway config reader plus required choices and lists of strings."""

    def choice(
        self, t: Mapping[str, Any], key: str, options: tuple[str, ...], default: str = ""
    ) -> str:
        self.string(t, key, default or None)
        return super().choice(t, key, options, default)

    def strings(self, t: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
        leaf = key.rsplit(".", 1)[-1]
        if leaf not in t:
            return default
        value = t[leaf]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"a non-empty list of strings, got {value!r}")
        return list(value)
