"""Failure risk of one device in [0, 1] with its reasons, and maintenance alerts with hysteresis.

Each indicator (battery time to empty, lost readings, weak or falling RSSI, reconnects, serial
errors, disagreement with another source) maps to a component score in [0, 1] by a ramp
between a "fine" and a "failing" level; the components combine as independent causes
(noisy-OR: ``1 - prod(1 - s_i)``). The reasons are the components scoring at least
:data:`REASON_MIN`, worst first, in words a nurse understands.

A maintenance alert per condition is raised when its "on" test holds and ended only after its
"off" test (a stricter one: hysteresis) has held for ``clear_s``; the health state
(ok / degraded / failing) moves up and down on separate thresholds. So nothing flaps.
All functions are pure; states are frozen dataclasses with JSON-able dicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from edge_models.battery import BatteryEstimate, format_duration
from edge_models.link import LinkSummary

REASON_MIN: Final = 0.2
HEALTH_LEVELS: Final = ("ok", "degraded", "failing")


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """Thresholds (engineering defaults, configurable)."""

    battery_alert_s: float = 2 * 3600.0  # alert when the battery is empty within 2 h
    battery_clear_factor: float = 1.25
    battery_fine_s: float = 8 * 3600.0  # component 0 at 8 h, 1 at 10 min
    battery_dead_s: float = 600.0
    loss_alert: float = 0.05  # Wilson lower bound of the lost fraction
    loss_clear: float = 0.02  # point estimate
    loss_min_readings: float = 30.0
    rssi_weak_dbm: float = -85.0
    rssi_clear_dbm: float = -80.0
    rssi_drop_dbm: float = -92.0  # where a BLE link usually goes (receiver sensitivity margin)
    rssi_horizon_s: float = 1800.0  # alert when the trend reaches the drop level within this
    reconnects_alert: int = 3  # per last hour
    reconnects_clear: int = 1
    errors_alert_per_1000: float = 10.0
    errors_clear_per_1000: float = 3.0
    errors_min_frames: float = 200.0
    clear_s: float = 120.0


@dataclass(frozen=True, slots=True)
class Inputs:
    """What is known about one device at one instant."""

    connected: bool | None  # None = not known yet
    battery: BatteryEstimate
    link: LinkSummary
    drift: tuple[str, ...] = ()  # texts of the disagreement alerts in force


@dataclass(frozen=True, slots=True)
class Risk:
    score: float
    reasons: tuple[str, ...]
    components: tuple[tuple[str, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 3),
            "reasons": list(self.reasons),
            "components": {k: round(v, 3) for k, v in self.components},
        }


def ramp(x: float, fine: float, failing: float) -> float:
    """0 at ``fine``, 1 at ``failing`` (either direction), linear between, clipped."""
    if fine == failing:
        return 1.0 if x == failing else 0.0
    return min(1.0, max(0.0, (x - fine) / (failing - fine)))


def rssi_time_to_drop_s(link: LinkSummary, drop_dbm: float) -> float | None:
    """Seconds until the smoothed RSSI reaches ``drop_dbm`` at the current trend, when the trend
    is falling with 90 % confidence; None otherwise."""
    if (
        link.rssi_dbm is None
        or link.rssi_slope_db_per_h is None
        or link.rssi_slope_high_db_per_h is None
        or link.rssi_slope_high_db_per_h >= 0
    ):
        return None
    margin = link.rssi_dbm - drop_dbm
    if margin <= 0:
        return 0.0
    return 3600.0 * margin / -link.rssi_slope_db_per_h


def failure_risk(inputs: Inputs, settings: RiskSettings = RiskSettings()) -> Risk:
    """Risk score and reasons (see module docstring)."""
    s = settings
    parts: list[tuple[str, float, str]] = []
    if inputs.connected is False:
        parts.append(("connection", 1.0, "not connected"))
    b = inputs.battery
    if b.tte_s is not None:
        tte = b.tte_low_s if b.tte_low_s is not None else b.tte_s
        score = ramp(
            math.log(max(tte, 1.0)), math.log(s.battery_fine_s), math.log(s.battery_dead_s)
        )
        parts.append(("battery", score, b.text()))
    elif b.level is not None and b.reason != "charging":
        parts.append(("battery", ramp(b.level, 25.0, 5.0), f"battery at {b.level:.0f} %"))
    link = inputs.link
    if link.loss_low is not None and link.readings >= s.loss_min_readings:
        loss = link.loss or 0.0
        parts.append(("loss", ramp(link.loss_low, 0.02, 0.25), _loss_text(loss)))
    if link.rssi_dbm is not None:
        weak = ramp(link.rssi_dbm, s.rssi_clear_dbm, s.rssi_drop_dbm)
        eta = rssi_time_to_drop_s(link, s.rssi_drop_dbm)
        falling = 0.0 if eta is None else ramp(eta, 4 * s.rssi_horizon_s, 300.0)
        parts.append(("rssi", max(weak, falling), _rssi_text(link.rssi_dbm, eta)))
    parts.append(
        (
            "reconnects",
            ramp(link.drops_last_hour, 1.0, 6.0),
            f"connection dropped {link.drops_last_hour} times in the last hour",
        )
    )
    if link.errors_per_1000 is not None and link.frames >= s.errors_min_frames:
        parts.append(
            (
                "serial_errors",
                ramp(link.errors_per_1000, 2.0, 50.0),
                _errors_text(link.errors_per_1000),
            )
        )
    for text in inputs.drift:
        parts.append(("drift", 0.6, text))
    keep = 1.0
    for _, score, _ in parts:
        keep *= 1.0 - score
    reasons = tuple(
        text for _, score, text in sorted(parts, key=lambda p: -p[1]) if score >= REASON_MIN
    )
    components: dict[str, float] = {}
    for name, score, _ in parts:
        components[name] = max(score, components.get(name, 0.0))
    return Risk(1.0 - keep, reasons, tuple(sorted(components.items())))


def health_step(previous: str, score: float) -> str:
    """ok -> degraded at 0.5 (back below 0.3); degraded -> failing at 0.8 (back below 0.6)."""
    level = HEALTH_LEVELS.index(previous) if previous in HEALTH_LEVELS else 0
    if score >= 0.8:
        level = 2
    elif score >= 0.5:
        level = max(level, 1)
    if level == 2 and score < 0.6:
        level = 1
    if level == 1 and score < 0.3:
        level = 0
    return HEALTH_LEVELS[level]


# --- maintenance alert conditions ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    """One alert condition now: raise when ``on``, may end when ``off`` (held ``clear_s``)."""

    name: str
    on: bool
    off: bool
    text: str
    value: float | None = None


def conditions(inputs: Inputs, settings: RiskSettings = RiskSettings()) -> tuple[Condition, ...]:
    """The device's alert conditions (battery, lost readings, signal, reconnects, errors)."""
    s = settings
    out: list[Condition] = []
    b = inputs.battery
    if b.tte_s is not None:
        out.append(
            Condition(
                "battery",
                b.tte_s < s.battery_alert_s,
                b.tte_s > s.battery_alert_s * s.battery_clear_factor,
                b.text(),
                round(b.tte_s / 60.0, 1),
            )
        )
    else:
        # charging or not draining ends an alert; "too little data" keeps it as it is
        settled = b.reason in ("charging", "not discharging")
        out.append(Condition("battery", False, settled, b.text()))
    link = inputs.link
    if link.loss is not None and link.loss_low is not None:
        enough = link.readings >= s.loss_min_readings
        out.append(
            Condition(
                "lost_readings",
                enough and link.loss_low > s.loss_alert,
                link.loss < s.loss_clear,
                _loss_text(link.loss),
                round(100.0 * link.loss, 2),
            )
        )
    if link.rssi_dbm is not None:
        eta = rssi_time_to_drop_s(link, s.rssi_drop_dbm)
        soon = eta is not None and eta < s.rssi_horizon_s
        out.append(
            Condition(
                "weak_signal",
                link.rssi_dbm < s.rssi_weak_dbm or soon,
                link.rssi_dbm > s.rssi_clear_dbm and eta is None,
                _rssi_text(link.rssi_dbm, eta),
                round(link.rssi_dbm, 1),
            )
        )
    out.append(
        Condition(
            "reconnects",
            link.drops_last_hour >= s.reconnects_alert,
            link.drops_last_hour <= s.reconnects_clear,
            f"connection dropped {link.drops_last_hour} times in the last hour",
            float(link.drops_last_hour),
        )
    )
    if link.errors_per_1000 is not None:
        enough = link.frames >= s.errors_min_frames
        out.append(
            Condition(
                "serial_errors",
                enough and link.errors_per_1000 > s.errors_alert_per_1000,
                link.errors_per_1000 < s.errors_clear_per_1000,
                _errors_text(link.errors_per_1000),
                round(link.errors_per_1000, 2),
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Latch:
    """One alert's state: in force since ``since`` with the text it was raised with."""

    active: bool = False
    since: float | None = None
    calm_since: float | None = None
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "since": self.since,
            "calm_since": self.calm_since,
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Latch:
        return cls(bool(data["active"]), data["since"], data["calm_since"], str(data["text"]))


def latch_step(latch: Latch, t: float, cond: Condition, clear_s: float) -> tuple[Latch, str]:
    """Advance one alert; returns the new latch and ``"start"``, ``"end"`` or ``""``."""
    if not latch.active:
        if cond.on:
            return Latch(True, t, None, cond.text), "start"
        return latch, ""
    if cond.on or not cond.off:
        return Latch(True, latch.since, None, latch.text), ""
    calm = t if latch.calm_since is None else latch.calm_since
    if t - calm >= clear_s:
        return Latch(), "end"
    return Latch(True, latch.since, calm, latch.text), ""


def _loss_text(loss: float) -> str:
    return f"{100.0 * loss:.0f} % of readings lost in the last minutes (check connection)"


def _rssi_text(dbm: float, eta_s: float | None) -> str:
    text = f"weak wireless signal ({dbm:.0f} dBm)"
    if eta_s is not None:
        text += f", falling: may drop out in about {format_duration(eta_s)}"
    return text


def _errors_text(per_1000: float) -> str:
    return f"{per_1000:.0f} garbled messages per 1000 (check the cable)"
