"""The six emulated health devices, each driven by a scenario.

* :class:`HrStrap`: Heart Rate Service, notifies 0x2A37 every ``interval_s`` (HR and one
  RR interval from the scenario's ``hr``).
* :class:`PlxOximeter`: Pulse Oximeter Service, notifies PLX Continuous 0x2A5F (``spo2``,
  ``pr``, ``pai``).
* :class:`BpCuff`, :class:`Thermometer`, :class:`Scale`: spot-check devices that take a
  measurement at each time of a :class:`~hil.ble.scenario.Schedule`, store it, advertise
  while they hold unsent measurements, indicate them oldest first once the client has
  subscribed (a measurement counts as sent when its indication is confirmed), then close
  the link (reason 0x13) after ``linger_s``, the way typical cuffs and scales behave. A
  dropped link leaves the unconfirmed measurements for the next connection.
* :class:`GlucoseMeter`: Glucose Service with stored records and a Record Access Control
  Point (report stored records: all, <=, >=, range, first, last; report number of stored
  records; abort), every third record with a Glucose Measurement Context. It sends
  records only in answer to RACP requests, as GLS requires, ``record_interval_s`` apart.

Values go through :mod:`hil.ble.encoders` (written from the specs). The RACP request is
decoded here with :mod:`struct`, independently of the driver's encoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from dataclasses import dataclass
from datetime import datetime

from bumble import att, gatt
from bumble.device import Connection

from drivers.ble import uuids
from hil.ble import encoders
from hil.ble.peripheral import IND, EmulatedPeripheral, N, W, characteristic, uuid16
from hil.ble.scenario import Scenario, Schedule, SimClock

log = logging.getLogger(__name__)

GLUCOSE_FEATURE = 0x2A51
RACP_PROCEDURE_ALREADY_IN_PROGRESS = 0x80
RACP_CCCD_IMPROPERLY_CONFIGURED = 0x81


def _value(values: dict[str, float | None], key: str, default: float) -> float | None:
    return values.get(key, default)


class StreamingPeripheral(EmulatedPeripheral):
    """A device that notifies one measurement characteristic every ``interval_s`` of
    scenario time (subclasses: the service, a companion readable value, the encoding)."""

    service: int
    stream: int
    companion: int  # a readable characteristic of the same service

    def __init__(
        self,
        name: str,
        address: str,
        clock: SimClock,
        scenario: Scenario,
        *,
        interval_s: float = 1.0,
        **kwargs: object,
    ) -> None:
        super().__init__(name, address, clock, **kwargs)  # type: ignore[arg-type]
        self.scenario = scenario
        self.interval_s = interval_s
        self.stream_char = characteristic(self.stream, N)

    def profile_services(self) -> list[gatt.Service]:
        return [
            gatt.Service(uuid16(self.service), [self.stream_char, self.readable(self.companion)])
        ]

    def measurement(self, t: float) -> bytes:
        raise NotImplementedError

    async def run(self) -> None:
        k = 1
        while True:
            await self.clock.sleep_until(k * self.interval_s)
            t = k * self.interval_s
            k += 1
            if not self.stalled:
                await self.send(self.stream_char, self.stream, self.measurement(t))


class HrStrap(StreamingPeripheral):
    advertised_services = (uuids.HEART_RATE_SERVICE, uuids.BATTERY_SERVICE)
    service = uuids.HEART_RATE_SERVICE
    stream = uuids.HEART_RATE_MEASUREMENT
    companion = uuids.BODY_SENSOR_LOCATION

    @property
    def hrm(self) -> gatt.Characteristic[bytes]:
        return self.stream_char

    def read_value(self, char: int) -> bytes:
        if char == uuids.BODY_SENSOR_LOCATION:
            return encoders.body_sensor_location(1)  # chest
        return super().read_value(char)

    def measurement(self, t: float) -> bytes:
        hr = _value(self.scenario.at(t), "hr", 70.0)
        if hr is None:  # strap off the chest: the sensor-contact bit says so, no value
            return encoders.heart_rate_measurement(0, contact=False)
        bpm = max(1, min(255, round(hr)))
        return encoders.heart_rate_measurement(bpm, contact=True, rr_1024=[round(61440 / bpm)])


class PlxOximeter(StreamingPeripheral):
    advertised_services = (uuids.PULSE_OXIMETER_SERVICE, uuids.BATTERY_SERVICE)
    service = uuids.PULSE_OXIMETER_SERVICE
    stream = uuids.PLX_CONTINUOUS_MEASUREMENT
    companion = uuids.PLX_FEATURES

    @property
    def continuous(self) -> gatt.Characteristic[bytes]:
        return self.stream_char

    def read_value(self, char: int) -> bytes:
        if char == uuids.PLX_FEATURES:
            return encoders.plx_features(0)
        return super().read_value(char)

    def measurement(self, t: float) -> bytes:
        values = self.scenario.at(t)
        spo2 = _value(values, "spo2", 97.0)
        pr = _value(values, "pr", 72.0)
        pai = _value(values, "pai", 4.0)
        return encoders.plx_continuous(
            "nan" if spo2 is None else (round(spo2), 0),
            "nan" if pr is None else (round(pr), 0),
            pai=None if pai is None else (round(pai * 10), -1),
        )


@dataclass
class Stored:
    """A measurement kept on a spot-check device."""

    t: float
    stamp: datetime
    value: bytes
    sent: bool = False


class SpotCheckDevice(EmulatedPeripheral):
    """Stores measurements and indicates the unsent ones on each connection (see module)."""

    service_uuid: int = 0
    measurement_uuid: int = 0

    def __init__(
        self,
        name: str,
        address: str,
        clock: SimClock,
        scenario: Scenario,
        schedule: Schedule,
        *,
        linger_s: float = 0.5,
        subscribe_wait_s: float = 5.0,
        **kwargs: object,
    ) -> None:
        super().__init__(name, address, clock, **kwargs)  # type: ignore[arg-type]
        self.scenario = scenario
        self.schedule = schedule
        self.linger_s = linger_s
        self.subscribe_wait_s = subscribe_wait_s
        self.store: list[Stored] = []
        self.advertising_wanted = False
        self.char = characteristic(self.measurement_uuid, IND)
        self._subscribed = asyncio.Event()
        self.char.on(self.char.EVENT_SUBSCRIPTION, self._on_subscription)
        self._transfer: asyncio.Task[None] | None = None
        self._new_data = asyncio.Event()

    def _on_subscription(self, _bearer: object, _notify: bool, indicate: bool) -> None:
        if indicate:
            self._subscribed.set()
        else:
            self._subscribed.clear()

    def extra_characteristics(self) -> list[gatt.Characteristic[bytes]]:
        return []

    def profile_services(self) -> list[gatt.Service]:
        return [gatt.Service(uuid16(self.service_uuid), [self.char, *self.extra_characteristics()])]

    def make_measurement(self, t: float, stamp: datetime) -> bytes:
        raise NotImplementedError

    @property
    def unsent(self) -> list[Stored]:
        return [s for s in self.store if not s.sent]

    async def run(self) -> None:
        for t in self.schedule.times:
            await self.clock.sleep_until(t)
            stamp = self.clock.device_time(t, self.clock_offset_s)
            self.store.append(Stored(t, stamp, self.make_measurement(t, stamp)))
            self.advertising_wanted = True
            self._new_data.set()
            await self.update_advertising()

    def on_connected(self, connection: Connection) -> None:
        self._subscribed.clear()
        self._transfer = asyncio.get_running_loop().create_task(self._send_unsent(connection))

    def on_disconnected(self, reason: int) -> None:
        self.advertising_wanted = bool(self.unsent)

    async def _send_unsent(self, connection: Connection) -> None:
        try:
            async with asyncio.timeout(self.clock.wall(self.subscribe_wait_s)):
                await self._subscribed.wait()
        except TimeoutError:
            return
        while self.connection is connection:
            for item in self.unsent:
                if self.stalled or self.connection is not connection:
                    return
                entry = await self.send(self.char, self.measurement_uuid, item.value)
                if entry is None or not entry.confirmed:
                    return
                item.sent = True
            self.advertising_wanted = False
            self._new_data.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.clock.wall(self.linger_s)):
                    await self._new_data.wait()
            if not self.unsent:
                await self.terminate()
                return


class BpCuff(SpotCheckDevice):
    service_uuid = uuids.BLOOD_PRESSURE_SERVICE
    measurement_uuid = uuids.BLOOD_PRESSURE_MEASUREMENT
    advertised_services = (uuids.BLOOD_PRESSURE_SERVICE,)

    def extra_characteristics(self) -> list[gatt.Characteristic[bytes]]:
        return [self.readable(uuids.BLOOD_PRESSURE_FEATURE)]

    def read_value(self, char: int) -> bytes:
        if char == uuids.BLOOD_PRESSURE_FEATURE:
            return encoders.blood_pressure_feature(0x0004)  # irregular pulse detection
        return super().read_value(char)

    def make_measurement(self, t: float, stamp: datetime) -> bytes:
        values = self.scenario.at(t)
        sys_ = round(_value(values, "sys", 120.0) or 120.0)
        dia = round(_value(values, "dia", 80.0) or 80.0)
        return encoders.blood_pressure_measurement(
            (sys_, 0),
            (dia, 0),
            (round((sys_ + 2 * dia) / 3), 0),
            timestamp=stamp,
            pulse_rate=(round(_value(values, "pr", 70.0) or 70.0), 0),
            user_id=1,
            status=0,
        )


class Thermometer(SpotCheckDevice):
    service_uuid = uuids.HEALTH_THERMOMETER_SERVICE
    measurement_uuid = uuids.TEMPERATURE_MEASUREMENT
    advertised_services = (uuids.HEALTH_THERMOMETER_SERVICE,)

    def extra_characteristics(self) -> list[gatt.Characteristic[bytes]]:
        return [self.readable(uuids.TEMPERATURE_TYPE)]

    def read_value(self, char: int) -> bytes:
        if char == uuids.TEMPERATURE_TYPE:
            return encoders.temperature_type(6)  # mouth
        return super().read_value(char)

    def make_measurement(self, t: float, stamp: datetime) -> bytes:
        temp = _value(self.scenario.at(t), "temp", 37.0) or 37.0
        return encoders.temperature_measurement((round(temp * 100), -2), timestamp=stamp)


class Scale(SpotCheckDevice):
    service_uuid = uuids.WEIGHT_SCALE_SERVICE
    measurement_uuid = uuids.WEIGHT_MEASUREMENT
    advertised_services = (uuids.WEIGHT_SCALE_SERVICE,)

    def extra_characteristics(self) -> list[gatt.Characteristic[bytes]]:
        return [self.readable(uuids.WEIGHT_SCALE_FEATURE)]

    def read_value(self, char: int) -> bytes:
        if char == uuids.WEIGHT_SCALE_FEATURE:
            return encoders.weight_scale_feature(time_stamp=True, weight_resolution=7)
        return super().read_value(char)

    def make_measurement(self, t: float, stamp: datetime) -> bytes:
        kg = _value(self.scenario.at(t), "kg", 72.5) or 72.5
        return encoders.weight_measurement(encoders.kg_to_raw(kg), timestamp=stamp)


@dataclass
class GlucoseRecord:
    sequence_number: int
    t: float
    stamp: datetime
    mg_dl: int
    with_context: bool

    def measurement(self) -> bytes:
        return encoders.glucose_measurement(
            self.sequence_number,
            self.stamp,
            time_offset_min=0,
            concentration=(self.mg_dl, -5),  # kg/L: mg/dL x 10**-5
            glucose_type=1,
            sample_location=1,
            context_follows=self.with_context,
        )

    def context(self) -> bytes:
        return encoders.glucose_measurement_context(
            self.sequence_number, carbohydrate=(1, (30, -3)), meal=1
        )


@dataclass(frozen=True)
class RacpCommand:
    """A decoded RACP request (emulator side)."""

    op: int
    operator: int
    operand: bytes


class GlucoseMeter(EmulatedPeripheral):
    advertised_services = (uuids.GLUCOSE_SERVICE,)

    def __init__(
        self,
        name: str,
        address: str,
        clock: SimClock,
        scenario: Scenario,
        schedule: Schedule,
        *,
        first_sequence_number: int = 0,
        record_interval_s: float = 0.05,
        preloaded: int = 0,
        **kwargs: object,
    ) -> None:
        kwargs.setdefault("current_time", True)
        super().__init__(name, address, clock, **kwargs)  # type: ignore[arg-type]
        self.scenario = scenario
        self.schedule = schedule
        self.record_interval_s = record_interval_s
        self.records: list[GlucoseRecord] = []
        self._next_seq = first_sequence_number
        self.measurement_char = characteristic(uuids.GLUCOSE_MEASUREMENT, N)
        self.context_char = characteristic(uuids.GLUCOSE_MEASUREMENT_CONTEXT, N)
        self.racp_char = characteristic(
            uuids.RECORD_ACCESS_CONTROL_POINT, W | IND, write=self._on_racp_write
        )
        self.requests: list[RacpCommand] = []
        self._procedure: asyncio.Task[None] | None = None
        self._abort = False
        for _ in range(preloaded):
            self._take(0.0)

    def profile_services(self) -> list[gatt.Service]:
        return [
            gatt.Service(
                uuid16(uuids.GLUCOSE_SERVICE),
                [
                    self.measurement_char,
                    self.context_char,
                    self.readable(GLUCOSE_FEATURE),
                    self.racp_char,
                ],
            )
        ]

    def read_value(self, char: int) -> bytes:
        if char == GLUCOSE_FEATURE:
            return struct.pack("<H", 0)
        return super().read_value(char)

    def _take(self, t: float) -> None:
        mg_dl = round(_value(self.scenario.at(t), "glucose", 105.0) or 105.0)
        seq = self._next_seq
        self._next_seq = (self._next_seq + 1) & 0xFFFF
        stamp = self.clock.device_time(t, self.clock_offset_s) if t else self.clock.epoch
        self.records.append(GlucoseRecord(seq, t, stamp, mg_dl, seq % 3 == 0))

    async def run(self) -> None:
        for t in self.schedule.times:
            await self.clock.sleep_until(t)
            self._take(t)

    # --- RACP -----------------------------------------------------------------------------

    def _on_racp_write(self, _connection: Connection, value: bytes) -> None:
        if not self.subscribed(self.racp_char):
            raise att.ATT_Error(RACP_CCCD_IMPROPERLY_CONFIGURED)
        if len(value) < 2:
            raise att.ATT_Error(att.ATT_INVALID_ATTRIBUTE_LENGTH_ERROR)
        command = RacpCommand(value[0], value[1], bytes(value[2:]))
        busy = self._procedure is not None and not self._procedure.done()
        if command.op == 3:  # abort
            self.requests.append(command)
            self._abort = True
            asyncio.get_running_loop().create_task(self._respond(3, 1))
            return
        if busy:
            raise att.ATT_Error(RACP_PROCEDURE_ALREADY_IN_PROGRESS)
        self.requests.append(command)
        self._abort = False
        self._procedure = asyncio.get_running_loop().create_task(self._run_procedure(command))

    async def _respond(self, op: int, code: int) -> None:
        await self.send(self.racp_char, uuids.RECORD_ACCESS_CONTROL_POINT, bytes([6, 0, op, code]))

    def select(self, command: RacpCommand) -> list[GlucoseRecord] | int:
        """Records a request selects, or a response code value (3, 4, 5, 9) when invalid."""
        records = self.records
        match command.operator:
            case 1 | 5 | 6:
                if command.operand:
                    return 5
                if command.operator == 5:
                    return records[:1]
                if command.operator == 6:
                    return records[-1:]
                return list(records)
            case 2 | 3 | 4:
                if not command.operand:
                    return 5
                if command.operand[0] != 1:
                    return 9  # only the sequence-number filter is supported
                count = 2 if command.operator == 4 else 1
                if len(command.operand) != 1 + 2 * count:
                    return 5
                bounds = struct.unpack_from(f"<{count}H", command.operand, 1)
                if command.operator == 2:
                    return [r for r in records if r.sequence_number <= bounds[0]]
                if command.operator == 3:
                    return [r for r in records if r.sequence_number >= bounds[0]]
                return [r for r in records if bounds[0] <= r.sequence_number <= bounds[1]]
            case 0:
                return 3
            case _:
                return 4

    async def _run_procedure(self, command: RacpCommand) -> None:
        connection = self.connection
        if command.op not in (1, 4):
            await self._respond(command.op, 2)  # op code not supported
            return
        selected = self.select(command)
        if isinstance(selected, int):
            await self._respond(command.op, selected)
            return
        if command.op == 4:
            await self.send(
                self.racp_char,
                uuids.RECORD_ACCESS_CONTROL_POINT,
                encoders.racp_number_of_records(len(selected)),
            )
            return
        if not selected:
            await self._respond(1, 6)  # no records found
            return
        for record in selected:
            if self._abort or self.connection is not connection:
                return
            await self.running.wait()  # a stalled meter holds the transfer
            await self.send(self.measurement_char, uuids.GLUCOSE_MEASUREMENT, record.measurement())
            if record.with_context:
                await self.send(
                    self.context_char, uuids.GLUCOSE_MEASUREMENT_CONTEXT, record.context()
                )
            await self.clock.sleep(self.record_interval_s)
        if self.connection is connection:
            await self._respond(1, 1)

    def on_disconnected(self, reason: int) -> None:
        if self._procedure is not None and not self._procedure.done():
            self._procedure.cancel()


__all__ = [
    "BpCuff",
    "GlucoseMeter",
    "HrStrap",
    "PlxOximeter",
    "Scale",
    "Thermometer",
    "Scenario",
    "Schedule",
]
