"""Six emulated BLE devices at once through bleak + the bumble backend into driver records.

60 s of scenario time at 5x: an HR strap and an oximeter stream, a cuff, a thermometer and
a scale take spot measurements, a glucose meter stores records fetched over RACP. Every
device walks out of range every few seconds, alternating short outages (the link survives
its supervision timeout, held packets arrive late) and long ones (the link times out), and
a few notifications are corrupted or truncated on purpose.

Checked: every notification sent while connected lands exactly once and in order (the
ones a timed-out link swallowed and the faulty ones do not, and the faulty ones are
counted as parse errors); every link loss of a streaming device is recorded (a
DISCONNECTED event and a technical alarm, detected after the device left and before it
came back); every stored measurement and glucose record arrives exactly once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest
from support import wait_until

from drivers.base import DriverCounters
from drivers.ble import heart_rate, plx, uuids
from drivers.ble.driver import BleDriver
from drivers.ble.metrics import MDC_ECG_TIME_PD_RR_GL
from gateway import codes
from gateway.model import DeviceEvent, EventKind, Measurement, Record
from hil.ble.devices import BpCuff, GlucoseMeter, HrStrap, PlxOximeter, Scale, Thermometer
from hil.ble.harness import Ward
from hil.ble.peripheral import EmulatedPeripheral
from hil.ble.scenario import LinkPlan, Scenario, Schedule

DURATION_S = 60.0
SPEED = 5.0
SUPERVISION_S = 3.0


def alternating_plan(seed: int, first_s: float) -> LinkPlan:
    """Outages every 2.5-4 s, alternately short (link survives) and long (link times out)."""
    rng = random.Random(seed)
    outages: list[tuple[float, float]] = []
    t = first_s
    short = True
    while t < DURATION_S - 6:
        length = rng.uniform(0.5, 1.0) if short else rng.uniform(5.0, 6.5)
        outages.append((t, t + length))
        t += length + rng.uniform(2.5, 4.0)
        short = not short
    return LinkPlan(tuple(outages))


class Collector:
    def __init__(self, driver: BleDriver) -> None:
        self.driver = driver
        self.records: list[Record] = []
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with self.driver:
            async for record in self.driver.records():
                self.records.append(record)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        assert self.task is not None
        if self.task.done():
            self.task.result()  # surface a driver crash
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def values(self, mdc: int) -> list[float]:
        return [r.value for r in self.records if isinstance(r, Measurement) and r.mdc_code == mdc]

    def events(self, kind: EventKind) -> list[DeviceEvent]:
        return [r for r in self.records if isinstance(r, DeviceEvent) and r.event is kind]


def expected_notifications(device: EmulatedPeripheral, uuid16: int) -> list[bytes]:
    return [s.value for s in device.sent if s.char == uuid16 and s.valid and not s.lost]


def delivered_faults(device: EmulatedPeripheral) -> int:
    return sum(1 for s in device.sent if not s.valid and not s.lost)


def decoded(values: list[bytes], parse: Callable[[bytes], object], field: str) -> list[float]:
    out: list[float] = []
    for value in values:
        item = getattr(parse(value), field)
        out.append(float(getattr(item, "value", item)))
    return out


async def test_six_devices_with_link_drops_every_notification_once_and_every_gap_recorded() -> None:
    ward = await Ward.open(speed=SPEED, supervision_timeout_s=SUPERVISION_S)
    clock = ward.clock
    ramp = Scenario(
        [
            (0, {"hr": 62, "spo2": 98, "pr": 64, "pai": 5.0, "sys": 118, "dia": 76}),
            (30, {"hr": 110, "spo2": 91, "pr": 108, "pai": 2.0, "sys": 150, "dia": 95}),
            (60, {"hr": 70, "spo2": 96, "pr": 71, "pai": 4.5, "sys": 125, "dia": 80}),
        ]
    )
    home = Scenario(
        [
            (0, {"temp": 36.6, "kg": 80.0, "glucose": 95}),
            (60, {"temp": 38.9, "kg": 79.2, "glucose": 180}),
        ]
    )
    spots = Schedule.regular(start_s=3, every_s=7, until_s=DURATION_S)
    hr = ward.add(HrStrap("strap", "F1:00:00:00:00:01", clock, ramp))
    oxi = ward.add(PlxOximeter("oxi", "F1:00:00:00:00:02", clock, ramp))
    cuff = ward.add(BpCuff("cuff", "F1:00:00:00:00:03", clock, ramp, spots, current_time=True))
    thermo = ward.add(Thermometer("thermo", "F1:00:00:00:00:04", clock, home, spots))
    scale = ward.add(
        Scale(
            "scale",
            "F1:00:00:00:00:05",
            clock,
            home,
            Schedule.regular(start_s=5, every_s=11, until_s=DURATION_S),
        )
    )
    meter = ward.add(
        GlucoseMeter(
            "glucose",
            "F1:00:00:00:00:06",
            clock,
            home,
            Schedule.regular(start_s=2, every_s=4, until_s=DURATION_S),
            preloaded=6,
        )
    )
    wall = clock.wall
    common = {"battery_interval_s": wall(20)}
    collectors = {
        hr: Collector(
            BleDriver(ward.spec(hr, silence_timeout_s=wall(6), **common), DriverCounters())
        ),
        oxi: Collector(
            BleDriver(ward.spec(oxi, silence_timeout_s=wall(6), **common), DriverCounters())
        ),
        cuff: Collector(BleDriver(ward.spec(cuff, idle_s=wall(3), **common), DriverCounters())),
        thermo: Collector(BleDriver(ward.spec(thermo, idle_s=wall(3), **common), DriverCounters())),
        scale: Collector(BleDriver(ward.spec(scale, idle_s=wall(3), **common), DriverCounters())),
        meter: Collector(
            BleDriver(
                ward.spec(
                    meter,
                    racp_poll_s=wall(2),
                    racp_timeout_s=wall(10),
                    idle_s=wall(3),
                    contact_interval_s=wall(1),
                    **common,
                ),
                DriverCounters(),
            )
        ),
    }
    plans = {
        device: alternating_plan(seed, 4.0 + i)
        for i, (seed, device) in enumerate(zip(range(6), collectors, strict=True))
    }
    try:
        await ward.start()
        for device, plan in plans.items():
            ward.run_plan(device, plan)
        for collector in collectors.values():
            collector.start()
        for t in (9.0, 23.0, 41.0):  # faults on the streaming devices, away from outages
            await clock.sleep_until(t)
            hr.corrupt_next()
            oxi.truncate_next()
        await clock.sleep_until(DURATION_S)

        def settled() -> bool:
            stored_ok = all(not d.unsent for d in (cuff, thermo, scale))
            got = collectors[meter].values(codes.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD.mdc_code)
            return stored_ok and len(got) >= len(meter.records)

        await wait_until(settled, deadline_s=30, what="stored records transferred")
        await hr.halt()
        await oxi.halt()

        def streamed() -> bool:
            return all(
                len(collectors[d].values(mdc)) == len(expected_notifications(d, u))
                for d, u, mdc in (
                    (hr, uuids.HEART_RATE_MEASUREMENT, codes.MDC_ECG_HEART_RATE.mdc_code),
                    (oxi, uuids.PLX_CONTINUOUS_MEASUREMENT, codes.MDC_PULS_OXIM_SAT_O2.mdc_code),
                )
            )

        await wait_until(streamed, deadline_s=10, what="last notifications in flight")
    finally:
        for collector in collectors.values():
            await collector.stop()
        await ward.close()

    # --- streaming devices: exactly the notifications that reached the air, in order ---
    for device, uuid16, parse, pairs in (
        (
            hr,
            uuids.HEART_RATE_MEASUREMENT,
            heart_rate.parse_heart_rate_measurement,
            [("heart_rate_bpm", codes.MDC_ECG_HEART_RATE.mdc_code)],
        ),
        (
            oxi,
            uuids.PLX_CONTINUOUS_MEASUREMENT,
            plx.parse_plx_continuous,
            [
                ("spo2_percent", codes.MDC_PULS_OXIM_SAT_O2.mdc_code),
                ("pulse_rate_bpm", codes.MDC_PULS_OXIM_PULS_RATE.mdc_code),
                ("pulse_amplitude_index_percent", codes.MDC_PULS_OXIM_PERF_REL.mdc_code),
            ],
        ),
    ):
        collector = collectors[device]
        sent = expected_notifications(device, uuid16)
        assert len(sent) > 15
        for field, mdc in pairs:
            assert collector.values(mdc) == pytest.approx(decoded(sent, parse, field)), (
                device.name,
                field,
            )
        assert collector.driver.counters.counts["parse_errors"] == delivered_faults(device) >= 1
        assert any(s.lost for s in device.sent), (
            f"{device.name}: no notification was lost in the air"
        )
    rr = collectors[hr].values(MDC_ECG_TIME_PD_RR_GL.mdc_code)
    assert len(rr) == len(expected_notifications(hr, uuids.HEART_RATE_MEASUREMENT))

    # --- every link loss of a streaming device is recorded, with a time inside the outage ---
    t0 = clock._t0
    assert t0 is not None
    for device in (hr, oxi):
        collector = collectors[device]
        timeouts = device.disconnect_reasons.count(0x08)
        assert timeouts >= 3, f"{device.name}: expected several supervision timeouts"
        lost = [
            e for e in collector.events(EventKind.DISCONNECTED) if "supervision timeout" in e.detail
        ]
        alarms = collector.events(EventKind.TECHNICAL_ALARM)
        assert len(lost) == timeouts == len(alarms)
        long_outages = [(a, b) for a, b in plans[device].outages if b - a > SUPERVISION_S]
        for event in lost:
            t = (event.received.mono_ns / 1e9 - t0) * SPEED
            assert any(a <= t <= b for a, b in long_outages), (device.name, t, long_outages)
        assert len(collector.events(EventKind.CONNECTED)) == timeouts + 1

    # --- spot-check devices: every stored measurement exactly once, oldest first ---
    for device, mdc in (
        (cuff, codes.MDC_PRESS_BLD_NONINV_SYS.mdc_code),
        (thermo, None),
        (scale, codes.MDC_MASS_BODY_ACTUAL.mdc_code),
    ):
        collector = collectors[device]
        stored = [
            r
            for r in collector.records
            if isinstance(r, Measurement)
            and r.device_time_ns is not None
            and r.mdc_code != 67109152
            and (mdc is None or r.mdc_code == mdc)
        ]
        stamps = [r.device_time_ns for r in stored]
        assert len(stamps) == len(device.store) == len(set(stamps)), device.name
        assert stamps == sorted(stamps)
    assert collectors[cuff].values(codes.MDC_PRESS_BLD_NONINV_SYS.mdc_code) == [
        float(round(ramp.at(s.t)["sys"] or 0)) for s in cuff.store
    ]

    # --- glucose: every record exactly once, contexts too, over interrupted transfers ---
    collector = collectors[meter]
    got = collector.values(codes.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD.mdc_code)
    assert got == [float(r.mg_dl) for r in meter.records]
    carbs = [r for r in collector.records if isinstance(r, Measurement) and r.mdc_code == 8417768]
    assert len(carbs) == sum(r.with_context for r in meter.records)
    requests = [(c.op, c.operator) for c in meter.requests]
    assert requests[0] == (1, 1)  # all records on first contact
    assert (1, 3) in requests  # then ">= last + 1"
