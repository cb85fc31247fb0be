"""Device layer: the reference BLE wearable on aioble (MicroPython; ESP32, Pico W).

Services: Heart Rate (0x2A37 notify, 0x2A38 read), Pulse Oximeter (0x2A5F notify, 0x2A60
read), Health Thermometer (0x2A1C indicate, 0x2A1D read), Blood Pressure (0x2A35 indicate,
0x2A49 read, RACP 0x2A52 write + indicate), Battery (0x2A19 read + notify) and Device
Information. Which measurement services exist is set by the config's profile. Values come
from :class:`fw_driver.BleDriver`; this module only moves bytes. One central at a time, as
aioble's examples do; no advertising while connected or while a ``link_drop`` is in force.
"""

import asyncio

import aioble
import bluetooth
import fw_gatt as g
from fw_config import BLE_PROFILES, scenario_time
from fw_driver import BleDriver
from micropython import const

_ADV_INTERVAL_US = const(250_000)
_APPEARANCE_GENERIC_HEART_RATE = const(832)
_INDICATE_TIMEOUT_MS = const(1000)
_ADV_SLICE_MS = const(1000)


def _uuid(n: int) -> bluetooth.UUID:
    return bluetooth.UUID(n)


class Wearable:
    """GATT table, advertising loop, value feed and RACP handler for one central."""

    def __init__(self, driver: BleDriver, config: dict, now_ms, diff_ms) -> None:
        self.driver = driver
        self.config = config
        self._now_ms = now_ms
        self._diff_ms = diff_ms
        self._t0 = now_ms()
        self._tick_s = config["tick_ms"] / 1000.0
        self.connection = None
        self._bp_lock = asyncio.Lock()
        self._connected_at = 0.0
        self._backlog_sent = False
        enabled = BLE_PROFILES[config["profile"]]
        services = []
        self.chars = {}
        if "hr" in enabled:
            svc = aioble.Service(_uuid(g.HEART_RATE_SERVICE))
            self.chars["hr"] = aioble.Characteristic(
                svc, _uuid(g.HEART_RATE_MEASUREMENT), notify=True
            )
            aioble.Characteristic(
                svc, _uuid(g.BODY_SENSOR_LOCATION), read=True, initial=g.body_sensor_location(3)
            )
            services.append(svc)
        if "plx" in enabled:
            svc = aioble.Service(_uuid(g.PULSE_OXIMETER_SERVICE))
            self.chars["plx"] = aioble.Characteristic(svc, _uuid(g.PLX_CONTINUOUS), notify=True)
            features = g.plx_features(
                g.PLX_FEAT_MEASUREMENT_STATUS | g.PLX_FEAT_DEVICE_SENSOR_STATUS,
                g.PLX_MS_VALIDATED | g.PLX_MS_UNAVAILABLE,
                g.PLX_DSS_SENSOR_DISCONNECTED,
            )
            aioble.Characteristic(svc, _uuid(g.PLX_FEATURES), read=True, initial=features)
            services.append(svc)
        if "temp" in enabled:
            svc = aioble.Service(_uuid(g.HEALTH_THERMOMETER_SERVICE))
            self.chars["temp"] = aioble.Characteristic(
                svc, _uuid(g.TEMPERATURE_MEASUREMENT), indicate=True
            )
            aioble.Characteristic(
                svc,
                _uuid(g.TEMPERATURE_TYPE),
                read=True,
                initial=g.temperature_type(g.TEMP_TYPE_BODY),
            )
            services.append(svc)
        self.racp = None
        if "bp" in enabled:
            svc = aioble.Service(_uuid(g.BLOOD_PRESSURE_SERVICE))
            self.chars["bp"] = aioble.Characteristic(
                svc, _uuid(g.BLOOD_PRESSURE_MEASUREMENT), indicate=True
            )
            aioble.Characteristic(
                svc, _uuid(g.BLOOD_PRESSURE_FEATURE), read=True, initial=g.blood_pressure_feature(0)
            )
            self.racp = aioble.Characteristic(
                svc, _uuid(g.RECORD_ACCESS_CONTROL_POINT), write=True, indicate=True, capture=True
            )
            services.append(svc)
        svc = aioble.Service(_uuid(g.BATTERY_SERVICE))
        self.chars["battery"] = aioble.Characteristic(
            svc,
            _uuid(g.BATTERY_LEVEL),
            read=True,
            notify=True,
            initial=g.battery_level(driver.scenario.battery(0.0)),
        )
        services.append(svc)
        svc = aioble.Service(_uuid(g.DEVICE_INFORMATION_SERVICE))
        dev = config["device"]
        for uuid16, key in (
            (g.MANUFACTURER_NAME, "manufacturer"),
            (g.MODEL_NUMBER, "model"),
            (g.SERIAL_NUMBER, "serial"),
            (g.FIRMWARE_REVISION, "firmware"),
        ):
            aioble.Characteristic(svc, _uuid(uuid16), read=True, initial=g.utf8_string(dev[key]))
        services.append(svc)
        self.services = services
        aioble.register_services(*services)

    def now(self) -> float:
        """Scenario seconds since start."""
        return scenario_time(self._diff_ms(self._now_ms(), self._t0), self.config["speed"])

    async def advertise_loop(self) -> None:
        """Advertise while the link is up; serve one central until it or a link_drop ends it."""
        uuids = [s.uuid for s in self.services[:1]]
        while self.now() < self.driver.scenario.duration_s:
            if not self.driver.link_up(self.now()):
                await asyncio.sleep(self._tick_s)
                continue
            try:
                conn = await aioble.advertise(
                    _ADV_INTERVAL_US,
                    name=self.config["name"],
                    services=uuids,
                    appearance=_APPEARANCE_GENERIC_HEART_RATE,
                    timeout_ms=_ADV_SLICE_MS,
                )
            except TimeoutError:
                continue  # re-check link_drop between advertising slices
            self.connection = conn
            self._connected_at = self.now()
            self._backlog_sent = False
            print("connected")
            while conn.is_connected():
                if not self.driver.link_up(self.now()):
                    await conn.disconnect()
                    break
                await asyncio.sleep(self._tick_s)
            self.connection = None
            print("disconnected")

    async def feed_loop(self) -> None:
        """Tick the driver and send what it returns."""
        while True:
            t = self.now()
            if t >= self.driver.scenario.duration_s:
                print("scenario done")
                return
            for channel, payload, seq in self.driver.tick(t):
                await self._send(channel, payload, seq)
            conn = self.connection
            if (
                conn is not None
                and not self._backlog_sent
                and "bp" in self.chars
                and t - self._connected_at >= self.config["grace_s"]
            ):
                self._backlog_sent = True
                for seq, payload in self.driver.store.undelivered():
                    if not await self._indicate_bp(conn, payload, seq):
                        break
            await asyncio.sleep(self._tick_s)

    async def _send(self, channel: str, payload: bytes, seq: int) -> None:
        ch = self.chars.get(channel)
        if ch is None:
            return
        conn = self.connection
        if channel == "bp":
            if conn is not None and self._backlog_sent:
                await self._indicate_bp(conn, payload, seq)
            return
        # notify/indicate every subscribed client (conformant: honours the CCCD)
        ch.write(payload, send_update=conn is not None)

    async def _indicate_bp(self, conn, payload: bytes, seq: int) -> bool:
        """Indicate one stored record; it counts as delivered once the client confirms it."""
        async with self._bp_lock:
            try:
                await self.chars["bp"].indicate(conn, payload, timeout_ms=_INDICATE_TIMEOUT_MS)
            except (aioble.GattError, ValueError, OSError):
                return False
            self.driver.store.confirm(seq)
            return True

    async def racp_loop(self) -> None:
        """Answer RACP writes: indicate the selected records, then the RACP response."""
        if self.racp is None:
            return
        while True:
            conn, data = await self.racp.written()
            records, final = self.driver.racp(bytes(data))
            for seq, payload in records:
                if not await self._indicate_bp(conn, payload, seq):
                    break
            try:  # noqa: SIM105 - MicroPython has no contextlib
                await self.racp.indicate(conn, final, timeout_ms=_INDICATE_TIMEOUT_MS)
            except (aioble.GattError, ValueError, OSError):
                pass  # the client went away: it will ask again

    async def run(self) -> None:
        print("ready ble", self.config["profile"], self.driver.scenario.name)
        tasks = [
            asyncio.create_task(self.advertise_loop()),
            asyncio.create_task(self.racp_loop()),
        ]
        try:
            await self.feed_loop()
        finally:
            for task in tasks:
                task.cancel()


def build(scenario, config: dict, now_ms, diff_ms) -> Wearable:
    """A wearable for ``scenario`` (an ``engine.Scenario``) and a loaded config."""
    p = config["periods"]
    driver = BleDriver(
        scenario,
        config["epoch"],
        hr_period_s=p["hr"],
        plx_period_s=p["plx"],
        temp_period_s=p["temp"],
        bp_period_s=p["bp"],
        battery_period_s=p["battery"],
    )
    return Wearable(driver, config, now_ms, diff_ms)
