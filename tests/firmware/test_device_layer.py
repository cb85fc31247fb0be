"""The device layer (aioble wearable, UART monitor, main) on CPython with fake hardware.

``aioble``, ``bluetooth``, ``micropython`` and ``machine`` are replaced by small fakes, so
the glue (GATT table, feed loop, stored-record backlog, RACP, link_drop handling, UART
writes, config and scenario files) runs without a board. Scenario time runs 100x faster.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest
from engine import Scenario
from fw_config import load_config

from drivers.ble import blood_pressure, heart_rate, racp


class FakeUUID:
    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FakeUUID) and other.value == self.value

    def __hash__(self) -> int:
        return self.value


class GattError(Exception):
    pass


class FakeService:
    def __init__(self, uuid: FakeUUID) -> None:
        self.uuid = uuid
        self.chars: list[FakeChar] = []


class FakeChar:
    def __init__(self, service: FakeService, uuid: FakeUUID, **props: Any) -> None:
        self.uuid = uuid
        self.props = props
        self.value = props.get("initial")
        self.updates: list[bytes] = []
        self.indications: list[bytes] = []
        self.writes: asyncio.Queue[tuple[Any, bytes]] = asyncio.Queue()
        service.chars.append(self)

    def write(self, data: bytes, send_update: bool = False) -> None:
        self.value = data
        if send_update:
            self.updates.append(data)

    async def indicate(self, connection: Any, data: bytes, timeout_ms: int = 1000) -> None:
        if not connection.is_connected():
            raise GattError("not connected")
        self.indications.append(data)

    async def written(self, timeout_ms: int | None = None) -> tuple[Any, bytes]:
        return await self.writes.get()


class FakeConnection:
    def __init__(self) -> None:
        self.connected = True
        self.disconnects = 0

    def is_connected(self) -> bool:
        return self.connected

    async def disconnect(self, timeout_ms: int = 2000) -> None:
        self.connected = False
        self.disconnects += 1


class FakeAioble(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("aioble")
        self.Service = FakeService
        self.Characteristic = FakeChar
        self.GattError = GattError
        self.registered: list[FakeService] = []
        self.connections: list[FakeConnection] = []
        self.adverts = 0

    def register_services(self, *services: FakeService) -> None:
        self.registered = list(services)

    async def advertise(self, interval_us: int, **kw: Any) -> FakeConnection:
        self.adverts += 1
        await asyncio.sleep(0.001)
        conn = FakeConnection()
        self.connections.append(conn)
        return conn

    def char(self, uuid16: int) -> FakeChar:
        for svc in self.registered:
            for ch in svc.chars:
                if ch.uuid.value == uuid16:
                    return ch
        raise KeyError(hex(uuid16))


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> FakeAioble:
    aioble = FakeAioble()
    bluetooth = types.ModuleType("bluetooth")
    bluetooth.UUID = FakeUUID  # type: ignore[attr-defined]
    micropython = types.ModuleType("micropython")
    micropython.const = lambda x: x  # type: ignore[attr-defined]
    for name, mod in (("aioble", aioble), ("bluetooth", bluetooth), ("micropython", micropython)):
        monkeypatch.setitem(sys.modules, name, mod)
    for name in ("ble_peripheral", "uart_monitor", "main"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return aioble


def clock() -> tuple[Any, Any]:
    loop = asyncio.get_running_loop()
    return (lambda: int(loop.time() * 1000)), (lambda a, b: a - b)


def scenario(events: list[dict[str, Any]] | None = None, duration: float = 40.0) -> Scenario:
    return Scenario(
        {
            "scenario": {"name": "dev", "duration_s": duration, "seed": 1},
            "vitals": {
                "heart_rate": 70.0,
                "spo2": 97.0,
                "systolic": 118.0,
                "diastolic": 78.0,
                "battery": 90.0,
            },
            "event": events or [],
        }
    )


CONFIG = {"mode": "ble", "speed": 100, "tick_ms": 10, "grace_s": 1.0, "periods": {"bp": 10.0}}


async def test_wearable_streams_and_answers_racp(fakes: FakeAioble) -> None:
    ble_peripheral = importlib.import_module("ble_peripheral")
    now_ms, diff = clock()
    dev = ble_peripheral.build(scenario(), load_config(CONFIG), now_ms, diff)
    uuids = {svc.uuid.value for svc in fakes.registered}
    assert uuids == {0x180D, 0x1822, 0x1809, 0x1810, 0x180F, 0x180A}
    assert fakes.char(0x2A29).value == b"EdgeTwin"
    assert fakes.char(0x2A19).value == b"\x5a"

    async def ask_racp() -> None:
        while not fakes.connections:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.25)  # 25 scenario seconds: records 1..3 exist
        fakes.char(0x2A52).writes.put_nowait((fakes.connections[0], b"\x01\x03\x01\x02\x00"))

    await asyncio.wait_for(asyncio.gather(dev.run(), ask_racp()), timeout=10)
    hr = [
        heart_rate.parse_heart_rate_measurement(v).heart_rate_bpm
        for v in fakes.char(0x2A37).updates
    ]
    assert len(hr) >= 5 and set(hr) == {70}  # (tick count depends on the machine load)
    bp = [
        blood_pressure.parse_blood_pressure_measurement(v) for v in fakes.char(0x2A35).indications
    ]
    assert len(bp) >= 3 + 2  # live records 1..3 at least, and the RACP report of records 2, 3
    assert all(m.systolic.value == 118 for m in bp)
    answers = [racp.parse_racp_response(v) for v in fakes.char(0x2A52).indications]
    assert answers == [racp.RacpResponse(1, racp.RacpResponseCode.SUCCESS)]
    assert dev.driver.store.delivered == dev.driver.store.sequence_numbers()[-1]


async def test_link_drop_disconnects_and_backlog_is_sent_on_reconnect(fakes: FakeAioble) -> None:
    ble_peripheral = importlib.import_module("ble_peripheral")
    now_ms, diff = clock()
    events = [{"at_s": 5.0, "kind": "link_drop", "duration_s": 20.0, "target": "ble"}]
    dev = ble_peripheral.build(scenario(events, 60.0), load_config(CONFIG), now_ms, diff)
    await asyncio.wait_for(dev.run(), timeout=10)
    assert fakes.connections[0].disconnects == 1
    assert len(fakes.connections) >= 2
    seqs = dev.driver.store.sequence_numbers()
    assert seqs == [1, 2, 3, 4, 5, 6]  # taken every 10 s, also while the link was down
    assert dev.driver.store.delivered == 6
    assert len(fakes.char(0x2A35).indications) == 6  # 10 s and 20 s arrive after reconnect


async def test_uart_monitor_writes_the_driver_bytes(
    fakes: FakeAioble, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = bytearray()
    machine = types.ModuleType("machine")
    machine.Pin = lambda n: ("pin", n)  # type: ignore[attr-defined]
    uarts: list[tuple[int, dict[str, Any]]] = []

    def uart(uid: int, **kw: Any) -> object:
        uarts.append((uid, kw))
        return object()

    machine.UART = uart  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "machine", machine)
    uart_monitor = importlib.import_module("uart_monitor")

    class Writer:
        def __init__(self, stream: object, extra: dict[str, Any]) -> None:
            pass

        def write(self, data: bytes) -> None:
            written.extend(data)

        async def drain(self) -> None:
            await asyncio.sleep(0)

    monkeypatch.setattr(
        uart_monitor, "asyncio", types.SimpleNamespace(StreamWriter=Writer, sleep=asyncio.sleep)
    )
    cfg = load_config(
        {"mode": "uart", "profile": "nonin8", "speed": 100, "tick_ms": 10, "uart": {"tx": 17}}
    )
    now_ms, diff = clock()
    await asyncio.wait_for(
        uart_monitor.build(scenario(duration=20.0), cfg, now_ms, diff).run(), timeout=10
    )
    assert uarts == [
        (1, {"baudrate": 9600, "bits": 8, "parity": None, "stop": 1, "tx": ("pin", 17)})
    ]
    assert len(written) % 4 == 0 and 4 <= len(written) <= 20 * 4  # one record per second
    assert written[:4] == bytes((0x80, 70, 97, 0))


async def test_main_reads_json_files(
    fakes: FakeAioble, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = {"scenario": {"name": "m", "duration_s": 3.0}, "vitals": {"heart_rate": 60.0}}
    (tmp_path / "scenario.json").write_text(json.dumps(spec))
    (tmp_path / "config.json").write_text(
        json.dumps({"mode": "ble", "profile": "heart_rate", "speed": 100, "tick_ms": 10})
    )
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(time, "ticks_ms", lambda: int(loop.time() * 1000), raising=False)
    monkeypatch.setattr(time, "ticks_diff", lambda a, b: a - b, raising=False)
    main = importlib.import_module("main")
    await asyncio.wait_for(main._main(), timeout=10)
    assert {svc.uuid.value for svc in fakes.registered} == {0x180D, 0x180F, 0x180A}
    assert fakes.char(0x2A37).updates
