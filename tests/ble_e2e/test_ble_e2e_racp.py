"""Stored records over the emulated stack: RACP resumes without duplicates or holes.

The link is cut at exact PDUs with an air tap: mid-transfer, between a glucose
measurement and its context, and between a cuff's indication and our confirmation (so
the cuff sends the measurement again). The RACP state travels as checkpoint records that a
real buffer commits with the readings, so a new driver on the same data directory asks only
for what it has not got.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from support import wait_until

from drivers.base import DriverCounters
from drivers.ble import uuids
from drivers.ble.driver import BleDriver
from drivers.ble.state import BUFFER_FILE, StateStore
from gateway import codes
from gateway.buffer import Buffer
from gateway.model import DeviceEvent, EventKind, Measurement, Record
from hil.ble.devices import BpCuff, GlucoseMeter
from hil.ble.harness import Ward
from hil.ble.peripheral import ATT_NOTIFY, EmulatedPeripheral
from hil.ble.scenario import Scenario, Schedule

GLUCOSE = codes.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD.mdc_code
CARBS = 128 << 16 | 29160  # MDC_CTXT_GLU_CARB_BREAKFAST
ATT_CONFIRM = 0x1E
FLAT = Scenario([(0, {"glucose": 100, "sys": 120, "dia": 80}), (100, {"glucose": 199})])


class Run:
    """A driver consuming into a list and committing into the buffer in ``data``, in a task."""

    def __init__(self, driver: BleDriver, data: Path) -> None:
        self.driver = driver
        self.data = data
        self.records: list[Record] = []
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        buffer = await Buffer.open(self.data / BUFFER_FILE, "gw", "site")
        try:
            async with self.driver:
                async for record in self.driver.records():
                    self.records.append(record)
                    await buffer.commit([record], lambda _device: "p1")
        finally:
            await buffer.close()

    async def stop(self) -> None:
        if self.task.done() and not self.task.cancelled():
            self.task.result()  # surface a driver crash
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def values(self, mdc: int) -> list[float]:
        return [r.value for r in self.records if isinstance(r, Measurement) and r.mdc_code == mdc]


async def checkpoint_committed(data: Path, run: Run, sequence: int) -> None:
    """Wait until the buffer in ``data`` holds a checkpoint at ``sequence``.

    A new store for every look: a StateStore remembers what it loaded once (a driver loads
    its state once per connection), so one store polled would keep answering its first read.
    """
    end = time.monotonic() + 20
    while (await StateStore.in_dir(data).load("meter")).last_sequence != sequence:
        if run.task.done():
            await run.stop()  # surfaces the driver's crash
            raise AssertionError(f"the driver ended before checkpoint {sequence} was committed")
        if time.monotonic() > end:
            raise AssertionError(f"checkpoint {sequence} was never committed")
        await asyncio.sleep(0.01)


def handles(meter: GlucoseMeter) -> dict[int, int]:
    return {
        uuids.GLUCOSE_MEASUREMENT: meter.measurement_char.handle,
        uuids.GLUCOSE_MEASUREMENT_CONTEXT: meter.context_char.handle,
    }


def cut_at(ward: Ward, device: EmulatedPeripheral, match: object) -> list[int]:
    """Make ``device`` leave range when a PDU satisfying ``match(sender, pdu)`` enters the air."""
    fired: list[int] = []

    def tap(sender: object, _receiver: object, pdu: bytes) -> None:
        if not fired and match(sender, pdu):  # type: ignore[operator]
            fired.append(1)
            device.leave_range()

    ward.air.taps.append(tap)
    return fired


async def test_racp_transfer_resumes_after_a_drop_without_duplicates_or_holes(
    tmp_path: Path,
) -> None:
    ward = await Ward.open(speed=10.0)
    meter = ward.add(
        GlucoseMeter("meter", "F2:00:00:00:00:01", ward.clock, FLAT, Schedule(), preloaded=40)
    )
    meter.record_interval_s = 0.2
    spec = ward.spec(
        meter, state_dir=str(tmp_path), racp_poll_s=ward.clock.wall(1), contact_interval_s=0.05
    )
    run: Run | None = None
    try:
        await ward.start()
        h = handles(meter)
        fired = cut_at(
            ward,
            meter,
            lambda s, p: (
                s is meter.controller
                and len(p) >= 10
                and p[4] == ATT_NOTIFY
                and int.from_bytes(p[5:7], "little") == h[uuids.GLUCOSE_MEASUREMENT]
                and int.from_bytes(p[8:10], "little") == 17
            ),
        )
        run = Run(BleDriver(spec, DriverCounters()), tmp_path)
        await wait_until(lambda: bool(fired) and not meter.connected, what="link cut mid-transfer")
        await meter.walk_back_in_range()
        await wait_until(lambda: len(run.values(GLUCOSE)) >= 40, what="all 40 records")
        await ward.clock.sleep(3)  # a few more polls: nothing new may arrive
    finally:
        if run is not None:
            await run.stop()
        await ward.close()

    assert run.values(GLUCOSE) == [float(r.mg_dl) for r in meter.records]
    assert len(run.values(CARBS)) == sum(r.with_context for r in meter.records)
    requests = [(c.op, c.operator, c.operand) for c in meter.requests]
    assert requests[0] == (1, 1, b"")  # all records on first contact
    resume = requests[1]
    assert resume[:2] == (1, 3) and resume[2][0] == 1  # ">=", sequence-number filter
    first = int.from_bytes(resume[2][1:3], "little")
    assert first == 17  # 0..16 were delivered before the cut: resume at last + 1
    lost = [
        e for e in run.records if isinstance(e, DeviceEvent) and e.event is EventKind.DISCONNECTED
    ]
    assert lost and "supervision timeout" in lost[0].detail
    assert not [
        e
        for e in run.records
        if isinstance(e, DeviceEvent) and e.event is EventKind.TECHNICAL_ALARM
    ]
    state = await StateStore.in_dir(tmp_path).load("meter")
    assert state.last_sequence == meter.records[-1].sequence_number
    # the state is a row of the buffer, written by the same commits as the readings
    db = sqlite3.connect(tmp_path / BUFFER_FILE)
    (stored,) = db.execute(
        "SELECT sum(committed) FROM streams WHERE stream_id LIKE 'meter.%'"
    ).fetchone()
    (cursors,) = db.execute("SELECT count(*) FROM cursors WHERE device_id='meter'").fetchone()
    db.close()
    assert stored == len([r for r in run.records if isinstance(r, Measurement | DeviceEvent)])
    assert cursors == 1


async def test_context_lost_after_its_measurement_is_fetched_once_more_without_a_duplicate(
    tmp_path: Path,
) -> None:
    ward = await Ward.open(speed=10.0)
    meter = ward.add(
        GlucoseMeter("meter", "F2:00:00:00:00:02", ward.clock, FLAT, Schedule(), preloaded=10)
    )
    meter.record_interval_s = 0.2
    spec = ward.spec(meter, state_dir=str(tmp_path), racp_poll_s=ward.clock.wall(1))
    run: Run | None = None
    try:
        await ward.start()
        h = handles(meter)
        fired = cut_at(  # record 6 carries a context: cut right before the context
            ward,
            meter,
            lambda s, p: (
                s is meter.controller
                and len(p) >= 10
                and int.from_bytes(p[5:7], "little") == h[uuids.GLUCOSE_MEASUREMENT_CONTEXT]
                and int.from_bytes(p[8:10], "little") == 6
            ),
        )
        run = Run(BleDriver(spec, DriverCounters()), tmp_path)
        await wait_until(lambda: bool(fired) and not meter.connected, what="context cut")
        await meter.walk_back_in_range()
        await wait_until(lambda: len(run.values(GLUCOSE)) >= 10, what="all records")
        await wait_until(lambda: len(run.values(CARBS)) >= 4, what="all contexts")
        await ward.clock.sleep(3)
    finally:
        if run is not None:
            await run.stop()
        await ward.close()
    assert run.values(GLUCOSE) == [float(r.mg_dl) for r in meter.records]
    assert len(run.values(CARBS)) == 4  # sequence numbers 0, 3, 6, 9
    resume = next(c for c in meter.requests if c.operator == 3)
    assert (
        int.from_bytes(resume.operand[1:3], "little") == 6
    )  # measurement 6 again, for its context
    assert run.driver.counters.counts["duplicates_skipped"] == 1


async def test_new_driver_after_restart_fetches_only_new_records(tmp_path: Path) -> None:
    ward = await Ward.open(speed=10.0)
    meter = ward.add(
        GlucoseMeter("meter", "F2:00:00:00:00:03", ward.clock, FLAT, Schedule(), preloaded=8)
    )
    spec = ward.spec(meter, state_dir=str(tmp_path), racp_poll_s=ward.clock.wall(1))
    runs: list[Run] = []
    try:
        await ward.start()
        runs.append(Run(BleDriver(spec, DriverCounters()), tmp_path))
        await wait_until(lambda: len(runs[0].values(GLUCOSE)) >= 8, what="first 8 records")
        # stop only once the checkpoint behind record 8 is durable (the driver yields it
        # after the record; a stop before its commit would rightly fetch record 8 again)
        await checkpoint_committed(tmp_path, runs[0], 7)
        await runs[0].stop()
        for _ in range(5):
            meter._take(ward.clock.now())
        asked = len(meter.requests)
        runs.append(Run(BleDriver(spec, DriverCounters()), tmp_path))
        await wait_until(lambda: len(runs[1].values(GLUCOSE)) >= 5, what="5 new records")
        await ward.clock.sleep(3)
        await checkpoint_committed(tmp_path, runs[1], 12)
    finally:
        for run in runs:
            await run.stop()
        await ward.close()
    first, second = (r.values(GLUCOSE) for r in runs)
    assert first + second == [float(r.mg_dl) for r in meter.records]
    second_contact = meter.requests[asked]
    assert second_contact.operator == 3
    assert int.from_bytes(second_contact.operand[1:3], "little") == 8
    state = await StateStore.in_dir(tmp_path).load("meter")
    assert state.last_sequence == state.last_measurement_sequence == 12


async def test_cuff_resending_a_measurement_whose_confirmation_was_lost_is_deduplicated(
    tmp_path: Path,
) -> None:
    ward = await Ward.open(speed=10.0)
    cuff = ward.add(
        BpCuff("cuff", "F2:00:00:00:00:04", ward.clock, FLAT, Schedule([1.0, 2.0, 3.0]))
    )
    spec = ward.spec(cuff, state_dir=str(tmp_path), idle_s=ward.clock.wall(3))
    run: Run | None = None
    try:
        await ward.start()
        fired = cut_at(  # our ATT confirmation of the first indication never reaches the cuff
            ward,
            cuff,
            lambda s, p: s is not cuff.controller and len(p) == 5 and p[4] == ATT_CONFIRM,
        )
        run = Run(BleDriver(spec, DriverCounters()), tmp_path)
        await wait_until(lambda: bool(fired) and not cuff.connected, what="confirmation cut")
        await cuff.walk_back_in_range()
        await wait_until(lambda: not cuff.unsent and len(cuff.store) == 3, what="cuff emptied")
        await ward.clock.sleep(2)
    finally:
        if run is not None:
            await run.stop()
        await ward.close()
    sys_values = run.values(codes.MDC_PRESS_BLD_NONINV_SYS.mdc_code)
    assert len(sys_values) == len(cuff.store) == 3
    stamps = [
        r.device_time_ns
        for r in run.records
        if isinstance(r, Measurement) and r.mdc_code == codes.MDC_PRESS_BLD_NONINV_SYS.mdc_code
    ]
    assert len(set(stamps)) == 3
    first = [s for s in cuff.sent if s.value == cuff.store[0].value]
    assert len(first) == 2 and not first[0].confirmed and first[1].confirmed  # sent twice
    assert run.driver.counters.counts["duplicates_skipped"] == 1
