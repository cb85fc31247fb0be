"""The board's ``config.json``: validated and completed with defaults (portable core).

Keys (all optional except ``mode``)::

    mode      "ble" (reference wearable) or "uart" (bedside oximeter)
    profile   ble: "wearable" (HR, PLX, thermometer, cuff), "heart_rate", "pulse_oximeter",
              "thermometer", "blood_pressure"; uart: "nonin7", "nonin8", "masimo"
    name      BLE device name (default "EdgeTwin-FW")
    speed     scenario seconds per wall second (default 1.0)
    tick_ms   scheduler period (default 100)
    epoch     device clock at scenario time 0, [y, m, d, h, min, s]
    periods   {"hr", "plx", "temp", "bp", "battery"}: seconds between values
    grace_s   seconds after a connection before stored records are indicated (default 2.0)
    uart      {"id": 1, "baudrate": 9600, "tx": null, "rx": null} (pin numbers)
    device    Device Information strings {"manufacturer", "model", "serial", "firmware"}
"""

BLE_PROFILES = {
    "wearable": ("hr", "plx", "temp", "bp"),
    "heart_rate": ("hr",),
    "pulse_oximeter": ("plx",),
    "thermometer": ("temp",),
    "blood_pressure": ("bp",),
}
UART_PROFILES = ("nonin7", "nonin8", "masimo")
FIRMWARE_VERSION = "0.1.0"

_DEFAULT_PERIODS = {"hr": 1.0, "plx": 1.0, "temp": 10.0, "bp": 60.0, "battery": 10.0}
_DEFAULT_DEVICE = {
    "manufacturer": "EdgeTwin",
    "model": "EdgeTwin reference wearable",
    "serial": "ETW-0001",
    "firmware": FIRMWARE_VERSION,
}
_KEYS = (
    "mode",
    "profile",
    "name",
    "speed",
    "tick_ms",
    "epoch",
    "periods",
    "grace_s",
    "uart",
    "device",
)


def _num(value: object, path: str, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise ValueError(path + ": must be a number >= " + str(low))
    return float(value)


def _pin(value: object, path: str) -> "int | None":
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(path + ": must be a pin number or null")
    return value


def load_config(raw: "dict[str, object]") -> "dict[str, object]":
    """A complete config from the parsed JSON; ValueError names the bad key."""
    if not isinstance(raw, dict):
        raise ValueError("config: must be an object")
    for key in raw:
        if key not in _KEYS:
            raise ValueError("config." + str(key) + ": unknown key")
    mode = raw.get("mode")
    if mode not in ("ble", "uart"):
        raise ValueError("config.mode: must be 'ble' or 'uart'")
    profile = raw.get("profile", "wearable" if mode == "ble" else "nonin8")
    allowed = tuple(BLE_PROFILES) if mode == "ble" else UART_PROFILES
    if profile not in allowed:
        raise ValueError("config.profile: must be one of " + ", ".join(allowed))
    name = raw.get("name", "EdgeTwin-FW")
    if not isinstance(name, str) or not 0 < len(name) <= 20:
        raise ValueError("config.name: must be a string of 1..20 characters")
    epoch = raw.get("epoch", [2026, 1, 1, 8, 0, 0])
    if not isinstance(epoch, list) or len(epoch) != 6 or not all(isinstance(v, int) for v in epoch):
        raise ValueError("config.epoch: must be [year, month, day, hour, minute, second]")
    y, mo, d, h, mi, s = epoch
    if not (1582 <= y <= 9999 and 1 <= mo <= 12 and 1 <= d <= 28 and h < 24 and mi < 60 and s < 60):
        raise ValueError("config.epoch: out of range (day must be 1..28)")
    periods = dict(_DEFAULT_PERIODS)
    given = raw.get("periods", {})
    if not isinstance(given, dict):
        raise ValueError("config.periods: must be an object")
    for key in given:
        if key not in periods:
            raise ValueError("config.periods." + str(key) + ": unknown key")
        periods[key] = _num(given[key], "config.periods." + key, 0.1)
    uart = {"id": 1, "baudrate": 9600, "tx": None, "rx": None}
    given = raw.get("uart", {})
    if not isinstance(given, dict):
        raise ValueError("config.uart: must be an object")
    for key in given:
        if key not in uart:
            raise ValueError("config.uart." + str(key) + ": unknown key")
    uart["id"] = int(_num(given.get("id", 1), "config.uart.id", 0))
    uart["baudrate"] = int(_num(given.get("baudrate", 9600), "config.uart.baudrate", 300))
    uart["tx"] = _pin(given.get("tx"), "config.uart.tx")
    uart["rx"] = _pin(given.get("rx"), "config.uart.rx")
    device = dict(_DEFAULT_DEVICE)
    given = raw.get("device", {})
    if not isinstance(given, dict):
        raise ValueError("config.device: must be an object")
    for key in given:
        if key not in device or not isinstance(given[key], str):
            raise ValueError("config.device." + str(key) + ": unknown key or not a string")
        device[key] = given[key]
    return {
        "mode": mode,
        "profile": profile,
        "name": name,
        "speed": _num(raw.get("speed", 1.0), "config.speed", 0.01),
        "tick_ms": int(_num(raw.get("tick_ms", 100), "config.tick_ms", 10)),
        "epoch": (y, mo, d, h, mi, s),
        "periods": periods,
        "grace_s": _num(raw.get("grace_s", 2.0), "config.grace_s", 0.0),
        "uart": uart,
        "device": device,
    }


def scenario_time(elapsed_ms: int, speed: float) -> float:
    """Scenario seconds after ``elapsed_ms`` wall milliseconds (from ``time.ticks_diff``)."""
    return elapsed_ms / 1000.0 * speed
