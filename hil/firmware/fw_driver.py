"""Scenario drivers: tick the engine and decide what the device sends (portable core).

:class:`BleDriver` returns ``(channel, payload, sequence)`` outputs for the wearable's
characteristics ("hr", "plx", "temp", "bp", "battery"; ``sequence`` is the stored record's
number for "bp", else 0). :class:`UartDriver` returns the bytes a bedside oximeter writes
(Nonin format 7 or 8, or Masimo ASCII). Both apply the scenario's events for their target:
``link_drop``/``stall`` silence the device, ``sensor_off`` sends "no value" frames,
``corrupt``/``truncate`` damage the next ``count`` notifications or frames, ``noisy_line``
garbles serial bytes. Times are scenario seconds; nothing here reads a clock.
"""

try:  # noqa: SIM105 - typing is absent on MicroPython (annotations are not evaluated)
    from typing import Any
except ImportError:  # pragma: no cover
    pass

from engine import Scenario, mix32, name_hash
from fw_frames import (
    MASIMO_NO_SENSOR,
    MASIMO_SENSOR_OFF,
    N7_GPRF,
    N7_SNSD,
    N8_SNSD,
    STAT2_SENSOR_FAULT,
    PlethWave,
    masimo_line,
    nonin7_packet,
    nonin8_record,
    nonin_rate,
    nonin_spo2,
    nonin_stat2,
)
from fw_gatt import (
    CONTACT_DETECTED,
    PLX_DSS_SENSOR_DISCONNECTED,
    PLX_MS_UNAVAILABLE,
    PLX_MS_VALIDATED,
    TEMP_TYPE_BODY,
    battery_level,
    blood_pressure_measurement,
    heart_rate_measurement,
    plx_continuous,
    temperature_measurement,
)
from fw_store import RecordStore

DEFAULT_EPOCH = (2026, 1, 1, 8, 0, 0)
UART_PROTOCOLS = ("nonin7", "nonin8", "masimo")
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def add_seconds(
    epoch: "tuple[int, int, int, int, int, int]", seconds: float
) -> "tuple[int, int, int, int, int, int]":
    """Device wall clock ``seconds`` (floored, >= 0) after ``epoch``."""
    y, mo, d, h, mi, s = epoch
    total = h * 3600 + mi * 60 + s + int(seconds)
    days, rest = total // 86400, total % 86400
    d += days
    while True:
        n = 29 if mo == 2 and _leap(y) else _DAYS[mo - 1]
        if d <= n:
            break
        d -= n
        mo += 1
        if mo > 12:
            mo = 1
            y += 1
    return (y, mo, d, rest // 3600, (rest // 60) % 60, rest % 60)


def damage(payload: bytes, kind: str, middle: bool = False) -> bytes:
    """``corrupt``: flip every bit of byte 0 (a BLE value's flags) or, with ``middle``, of the
    middle byte (a serial frame: breaks its checksum or ASCII); ``truncate``: drop the second
    half (a line keeps its CR LF so the next line survives)."""
    if not payload:
        return payload
    if kind == "corrupt":
        k = len(payload) // 2 if middle else 0
        out = bytearray(payload)
        out[k] ^= 0xFF
        return bytes(out)
    if payload.endswith(b"\r\n"):
        return payload[: (len(payload) - 2) // 2] + b"\r\n"
    return payload[: len(payload) // 2]


class _Faults:
    """Pending ``corrupt``/``truncate`` counts for one target."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.middle = target == "serial"
        self.corrupt = 0
        self.truncate = 0

    def take(self, events: "list[dict[str, Any]]") -> None:
        for e in events:
            if e["target"] not in ("all", self.target):
                continue
            if e["kind"] == "corrupt":
                self.corrupt += e["count"]
            elif e["kind"] == "truncate":
                self.truncate += e["count"]

    def apply(self, payload: bytes) -> bytes:
        if self.corrupt > 0:
            self.corrupt -= 1
            return damage(payload, "corrupt", self.middle)
        if self.truncate > 0:
            self.truncate -= 1
            return damage(payload, "truncate", self.middle)
        return payload


class _Every:
    """Due times ``0, p, 2p, ...``: :meth:`due` counts the ones reached since the last call."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.k = 0

    def due(self, t: float) -> "list[float]":
        out = []
        if self.period <= 0:
            return out
        while self.k * self.period <= t:
            out.append(self.k * self.period)
            self.k += 1
        return out


class BleDriver:
    """What the reference wearable notifies/indicates, tick by tick."""

    def __init__(
        self,
        scenario: "Scenario",
        epoch: "tuple[int, int, int, int, int, int]" = DEFAULT_EPOCH,
        hr_period_s: float = 1.0,
        plx_period_s: float = 1.0,
        temp_period_s: float = 10.0,
        bp_period_s: float = 60.0,
        battery_period_s: float = 10.0,
        store_capacity: int = 100,
    ) -> None:
        self.scenario = scenario
        self.epoch = epoch
        self.store = RecordStore(store_capacity)
        self.faults = _Faults("ble")
        self._hr = _Every(hr_period_s)
        self._plx = _Every(plx_period_s)
        self._temp = _Every(temp_period_s)
        self._bp = _Every(bp_period_s)
        self._batt = _Every(battery_period_s)
        self._t = 0.0
        self._last_battery = -1

    def produces(self, vital: str) -> bool:
        return vital in self.scenario.baseline

    def link_up(self, t: float) -> bool:
        """False while a ``link_drop`` aimed at BLE is in force (stop advertising, drop links)."""
        return not self.scenario.active("link_drop", t, "ble")

    def sending(self, t: float) -> bool:
        """True when the device sends: link up and no ``stall``."""
        return self.link_up(t) and not self.scenario.active("stall", t, "ble")

    def clock(self, t: float) -> "tuple[int, int, int, int, int, int]":
        return add_seconds(self.epoch, t)

    def tick(self, t: float) -> "list[tuple[str, bytes, int]]":
        """Outputs due in ``(previous tick, t]``; stored BP readings are taken even when silent."""
        sc = self.scenario
        self.faults.take(sc.events_between(self._t, t + 1e-9))
        self._t = t + 1e-9
        out: "list[tuple[str, bytes, int]]" = []  # noqa: UP037 - pyright (3.8 mode) needs it
        send = self.sending(t)
        for tb in self._bp.due(t):
            rec = self._bp_reading(tb)
            if rec is not None:
                seq = self.store.add(rec)
                if send:
                    out.append(("bp", rec, seq))
        hr_due = self._hr.due(t)
        plx_due = self._plx.due(t)
        temp_due = self._temp.due(t)
        batt_due = self._batt.due(t)
        if not send:
            return out
        if hr_due and self.produces("heart_rate"):
            hr = sc.value("heart_rate", t)
            if hr is not None:  # a strap without contact stays silent
                out.append(("hr", heart_rate_measurement(int(hr + 0.5), CONTACT_DETECTED), 0))
        if plx_due and (self.produces("spo2") or self.produces("pulse_rate")):
            out.append(("plx", self._plx_value(t), 0))
        if temp_due and self.produces("temperature"):
            temp = sc.value("temperature", t)
            if temp is not None:
                stamp = self.clock(t)
                out.append(("temp", temperature_measurement(temp, False, stamp, TEMP_TYPE_BODY), 0))
        if self.produces("battery"):
            level = battery_level(sc.battery(t))
            if batt_due and level[0] != self._last_battery:
                self._last_battery = level[0]
                out.append(("battery", level, 0))
        return [(ch, self.faults.apply(p), seq) for ch, p, seq in out]

    def _plx_value(self, t: float) -> bytes:
        sc = self.scenario
        spo2 = sc.value("spo2", t)
        pr = sc.value("pulse_rate", t) if self.produces("pulse_rate") else sc.value("heart_rate", t)
        if sc.active("sensor_off", t):
            return plx_continuous(None, None, PLX_MS_UNAVAILABLE, PLX_DSS_SENSOR_DISCONNECTED)
        return plx_continuous(spo2, pr, PLX_MS_VALIDATED, 0)

    def _bp_reading(self, t: float) -> "bytes | None":
        sc = self.scenario
        if not self.produces("systolic"):
            return None
        sys_ = sc.value("systolic", t)
        if sys_ is None:
            return None  # cuff off: no reading
        dia = sc.value("diastolic", t)
        mean = sc.value("mean", t)
        if mean is None and dia is not None:
            mean = dia + (sys_ - dia) / 3.0
        pulse = sc.value("pulse_rate", t)
        if pulse is None:
            pulse = sc.value("heart_rate", t)
        return blood_pressure_measurement(sys_, dia, mean, self.clock(t), pulse)

    def racp(self, data: bytes) -> "tuple[list[tuple[int, bytes]], bytes]":
        """Records to indicate and the final RACP indication for a client's RACP write."""
        return self.store.handle_racp(data)


class UartDriver:
    """The byte stream of an emulated bedside oximeter (Nonin 7/8 or Masimo)."""

    def __init__(
        self,
        scenario: "Scenario",
        protocol: str = "nonin8",
        epoch: "tuple[int, int, int, int, int, int]" = DEFAULT_EPOCH,
    ) -> None:
        if protocol not in UART_PROTOCOLS:
            raise ValueError("protocol must be one of " + ", ".join(UART_PROTOCOLS))
        self.scenario = scenario
        self.protocol = protocol
        self.epoch = epoch
        self.faults = _Faults("serial")
        self._units = _Every(1.0 / 3.0 if protocol == "nonin7" else 1.0)
        self._wave = PlethWave()
        self._t = 0.0
        self._byte_index = 0
        self._seed = int(scenario.seed)

    def tick(self, t: float) -> bytes:
        """Bytes written in ``(previous tick, t]``."""
        sc = self.scenario
        self.faults.take(sc.events_between(self._t, t + 1e-9))
        self._t = t + 1e-9
        out = bytearray()
        for tu in self._units.due(t):
            if sc.active("link_drop", tu, "serial") or sc.active("stall", tu, "serial"):
                continue
            unit = self.faults.apply(self.unit(tu))
            noisy = sc.active_event("noisy_line", tu, "serial")
            if noisy is not None:
                unit = self.garble(unit, noisy["error_rate"])
            out += unit
        return bytes(out)

    def unit(self, t: float) -> bytes:
        """One packet (Nonin 7), record (Nonin 8) or line (Masimo) for time ``t``."""
        sc = self.scenario
        off = sc.active("sensor_off", t)
        spo2 = sc.value("spo2", t)
        pr = sc.value("pulse_rate", t)
        if pr is None:
            pr = sc.value("heart_rate", t)
        battery = sc.battery(t)
        if self.protocol == "masimo":
            exc = MASIMO_SENSOR_OFF | MASIMO_NO_SENSOR if off else 0
            return masimo_line(add_seconds(self.epoch, t), spo2, pr, None if off else 2.5, exc=exc)
        stat2 = nonin_stat2(battery) | (STAT2_SENSOR_FAULT if off else 0)
        if self.protocol == "nonin8":
            return nonin8_record(nonin_rate(pr), nonin_spo2(spo2), N8_SNSD if off else 0, stat2)
        pleth = self._wave.samples(None if off else pr)
        status = N7_SNSD if off else N7_GPRF
        timer = int(t) & 0x3FFF
        return nonin7_packet(nonin_rate(pr), nonin_spo2(spo2), pleth, status, timer, stat2)

    def garble(self, data: bytes, error_rate: float) -> bytes:
        """Flip one bit of each byte with probability ``error_rate`` (deterministic)."""
        out = bytearray(data)
        threshold = int(error_rate * 65536)
        key = mix32(self._seed ^ name_hash("noisy_line"))
        for k in range(len(out)):
            h = mix32(key ^ (self._byte_index & 0xFFFFFFFF))
            self._byte_index += 1
            if (h >> 16) < threshold:
                out[k] ^= 1 << (h & 7)
        return bytes(out)
