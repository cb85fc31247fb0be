"""Emulated BLE devices through the real gateway runtime into the SQLite outbox.

``gateway.runtime.Gateway`` runs ``kind = "ble"`` devices (registered here for the test;
the registry line is the lead's to add) with the supervisor and pipeline: an HR strap that
walks out of range once, a glucose meter with stored records. Every heart-rate
notification that reached the air is in SQLite exactly once with gap-free sequence
numbers, the loss is an event with its time, and after a gateway restart the meter's
records are not stored again (the RACP state is in the data directory).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from support import wait_until

from drivers import registry
from drivers.ble import heart_rate, uuids
from gateway import codes, envelope
from gateway.config import parse_config
from gateway.runtime import BUFFER_FILE, Gateway
from hil.ble.devices import GlucoseMeter, HrStrap
from hil.ble.harness import Ward
from hil.ble.scenario import Scenario, Schedule

HR = codes.MDC_ECG_HEART_RATE.mdc_code
GLUCOSE = codes.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD.mdc_code


@pytest.fixture(autouse=True)
def ble_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.DRIVER_MODULES, "ble", "drivers.ble.driver")


def stored(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Samples per stream, in sequence order, read back from the outbox."""
    db = sqlite3.connect(data_dir / BUFFER_FILE)
    try:
        rows = db.execute("SELECT payload FROM outbox ORDER BY id").fetchall()
    finally:
        db.close()
    out: dict[str, list[dict[str, Any]]] = {}
    for (payload,) in rows:
        body = envelope.decode(payload)
        out.setdefault(body["stream"], []).extend(body["samples"])
    for samples in out.values():
        samples.sort(key=lambda s: s["seq"])
    return out


async def run_gateway(raw: dict[str, Any], *conditions: Any) -> None:
    """Run a gateway until each condition (callable, or coroutine to await) holds in turn."""
    gateway = Gateway(parse_config(raw, "<test>"))
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        for condition in conditions:
            if asyncio.iscoroutine(condition):
                await condition
            else:
                await wait_until(condition, deadline_s=30, what="gateway condition")
    finally:
        stop.set()
        await task


async def test_ble_devices_through_the_gateway_into_sqlite_exactly_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ward = await Ward.open(speed=10.0)
    clock = ward.clock
    strap = ward.add(
        HrStrap(
            "bed1-hr", "F4:00:00:00:00:01", clock, Scenario([(0, {"hr": 60}), (30, {"hr": 90})])
        )
    )
    meter = ward.add(
        GlucoseMeter(
            "bed1-glu",
            "F4:00:00:00:00:02",
            clock,
            Scenario([(0, {"glucose": 90}), (30, {"glucose": 150})]),
            Schedule.regular(start_s=1, every_s=3, until_s=20),
            preloaded=4,
        )
    )
    wall = clock.wall
    raw = {
        "gateway": {"id": "gw-ble", "site": "lab", "data_dir": str(data)},
        "mqtt": {"enabled": False},
        "buffer": {"flush_interval_ms": 20},
        "patients": [{"id": "p-1"}],
        "devices": [
            ward.config_entry(strap, "p-1", silence_timeout_s=wall(4)),
            ward.config_entry(
                meter,
                "p-1",
                state_dir=str(data),
                racp_poll_s=wall(1),
                contact_interval_s=wall(1),
            ),
        ],
    }
    try:
        await ward.start()

        async def walk() -> None:
            # out of range only once the strap's notifications reach the gateway: on a busy
            # machine connecting and subscribing can outlast the scenario's first seconds,
            # and an outage before that loses nothing (the test then proved nothing)
            await wait_until(
                lambda: any(not s.lost for s in strap.sent),
                deadline_s=30,
                what="the strap's first delivered notification",
            )
            start = max(8.0, math.ceil(clock.now()) + 1.0)
            await clock.sleep_until(start)
            await strap.walk_out_of_range()
            await clock.sleep_until(start + 4.0)  # longer than the 2 s supervision timeout
            await strap.walk_back_in_range()

        walker = asyncio.create_task(walk())

        def streams() -> dict[str, list[dict[str, Any]]]:
            return stored(data) if (data / BUFFER_FILE).exists() else {}

        def first_done() -> bool:
            if clock.now() < 22 or not walker.done():
                return False
            return len(streams().get(f"bed1-glu.{GLUCOSE}", [])) >= len(meter.records)

        def hr_flushed() -> bool:
            sent = [s for s in strap.sent if s.char == uuids.HEART_RATE_MEASUREMENT]
            return len(streams().get(f"bed1-hr.{HR}", [])) == sum(not s.lost for s in sent)

        await run_gateway(raw, first_done, strap.halt(), hr_flushed)
        first = stored(data)
        for _ in range(3):
            meter._take(clock.now())
        n_records = len(meter.records)

        def second_done() -> bool:
            return len(streams().get(f"bed1-glu.{GLUCOSE}", [])) >= n_records

        await run_gateway(raw, second_done)
        await asyncio.sleep(wall(3))  # one more RACP poll could only add duplicates
        final = stored(data)
    finally:
        await ward.close()

    # Heart rate: what reached the air during the first run, exactly once, gap-free seq.
    hr = first[f"bed1-hr.{HR}"]
    assert [s["seq"] for s in hr] == list(range(1, len(hr) + 1))
    sent = [s.value for s in strap.sent if s.char == uuids.HEART_RATE_MEASUREMENT and not s.lost]
    expected = [float(heart_rate.parse_heart_rate_measurement(v).heart_rate_bpm) for v in sent]
    assert [s["value"] for s in hr] == expected
    assert any(s.lost for s in strap.sent)

    # The loss is recorded with its time, inside the outage.
    events = first["bed1-hr.events"]
    kinds = [e["event"] for e in events]
    assert kinds.count("disconnected") == 1 and kinds.count("technical_alarm") == 1
    loss = next(e for e in events if e["event"] == "technical_alarm")
    t0_wall = next(e for e in events if e["event"] == "connected")["t_rx_ns"]
    assert "supervision timeout" in loss["detail"]
    assert loss["t_rx_ns"] > t0_wall

    # Glucose: every record once across the restart, in order, seq gap-free.
    glucose = final[f"bed1-glu.{GLUCOSE}"]
    assert [s["value"] for s in glucose] == [float(r.mg_dl) for r in meter.records]
    assert [s["seq"] for s in glucose] == list(range(1, len(glucose) + 1))
    assert all(s["t_dev_ns"] is not None for s in glucose)
