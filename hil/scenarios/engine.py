"""Portable scenario engine: vital values and events over scenario time.

Pure Python that runs unchanged under CPython and MicroPython (imports only ``math``; typing
only under a guarded import). The spec is the dict form of a scenario TOML file
(``/work/briefs/scenario_format.md``); :class:`Scenario` validates it and raises
``ValueError`` whose message starts with the key path (``event[2].duration_s: ...``).

Value of a vital at time ``t``: baseline, then ramps (and ``battery_sag`` events, which are
ramps of the battery) applied in time order, plus drift bias, plus noise, clamped to the
vital's physical range. Noise is a deterministic function of ``(seed, vital, floor(t))``
built from an own 32-bit integer hash, so every interpreter draws the same numbers.
"""

import math

try:  # noqa: SIM105 - no contextlib on MicroPython; typing is absent there too
    from typing import Any
except ImportError:  # pragma: no cover - MicroPython never evaluates annotations
    pass

VITALS = (
    "heart_rate",
    "pulse_rate",
    "spo2",
    "resp_rate",
    "systolic",
    "diastolic",
    "mean",
    "temperature",
    "weight",
    "glucose",
    "battery",
)
# vitals that are percentages: clamped to [0, 100]; every other vital to [0, inf)
PERCENT_VITALS = ("spo2", "battery")
STATE_KINDS = ("link_drop", "stall", "sensor_off", "drift", "noisy_line")
EVENT_KINDS = STATE_KINDS + ("battery_sag", "corrupt", "truncate")  # noqa: RUF005 - portable
TARGETS = ("all", "ble", "serial")
EXPECT_KINDS = (
    "alarm",
    "no_alarm",
    "news2_risk",
    "technical_alarm",
    "maintenance",
    "no_loss",
)

_SECTIONS = ("scenario", "vitals", "noise", "ramp", "event", "expect")
_SCENARIO_KEYS = ("name", "description", "duration_s", "seed")
_RAMP_KEYS = ("vital", "start_s", "end_s", "to")
_EVENT_COMMON = ("at_s", "kind", "target", "duration_s")
_EVENT_EXTRA = {
    "link_drop": (),
    "stall": (),
    "sensor_off": (),
    "drift": ("vital", "rate_per_h"),
    "noisy_line": ("error_rate",),
    "battery_sag": ("to", "over_s"),
    "corrupt": ("count",),
    "truncate": ("count",),
}
_EXPECT_KEYS = {
    "alarm": ("vital", "priority"),
    "no_alarm": ("vital",),
    "news2_risk": ("risk",),
    "technical_alarm": ("text",),
    "maintenance": ("text",),
    "no_loss": (),
}
_EXPECT_COMMON = ("kind", "after_s", "within_s")
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-"

_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


def mix32(x: int) -> int:
    """32-bit avalanche mix (xorshift-multiply finaliser); input and output in [0, 2**32)."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    x ^= x >> 16
    return x


def name_hash(text: str) -> int:
    """FNV-1a (32 bit) over the characters' code points (vital names are ASCII)."""
    h = 0x811C9DC5
    for ch in text:
        h ^= ord(ch) & 0xFF
        h = (h * 0x01000193) & _M32
    return h


def floor_int(t: float) -> int:
    """``floor(t)`` as an int, the same on every interpreter."""
    n = int(t)
    if n > t:
        n -= 1
    return n


def unit_normal(seed: int, vital: str, second: int) -> float:
    """Approximately standard-normal deviate for ``(seed, vital, second)``.

    The sum of twelve 16-bit uniforms, centred and scaled (Irwin-Hall); every step is integer
    arithmetic except the final division, so interpreters agree to float rounding.
    """
    h = mix32((seed % 4294967296) ^ 0x5BD1E995)
    h = mix32(h ^ name_hash(vital))
    h = mix32(h ^ (second % 4294967296))
    total = 0
    for i in range(12):
        total += mix32(h ^ (((i + 1) * _GOLDEN) & _M32)) >> 16
    # each uniform has mean 32767.5 and variance ~65536**2 / 12: the sum has sd ~65536
    return (2 * total - 786420) / 131072.0


def _error(path: str, why: str) -> ValueError:
    return ValueError(path + ": " + why)


def _number(table: "dict[str, Any]", key: str, path: str, default: "float | None" = None) -> float:
    if key not in table:
        if default is None:
            raise _error(path + "." + key, "required")
        return float(default)
    v = table[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _error(path + "." + key, "must be a number")
    f = float(v)
    if f != f or f in (math.inf, -math.inf):
        raise _error(path + "." + key, "must be finite")
    return f


def _text(
    table: "dict[str, Any]", key: str, path: str, choices: "tuple[str, ...] | None" = None
) -> str:
    if key not in table:
        raise _error(path + "." + key, "required")
    v = table[key]
    if not isinstance(v, str):
        raise _error(path + "." + key, "must be a string")
    if choices is not None and v not in choices:
        raise _error(path + "." + key, "must be one of " + ", ".join(choices))
    return str(v)


def _table(spec: "dict[str, Any]", key: str, path: str) -> "dict[str, Any]":
    v = spec.get(key, {})
    if not isinstance(v, dict):
        raise _error(path, "must be a table")
    return v


def _tables(spec: "dict[str, Any]", key: str) -> "list[dict[str, Any]]":
    v = spec.get(key, [])
    if not isinstance(v, list):
        raise _error(key, "must be an array of tables")
    for i, item in enumerate(v):
        if not isinstance(item, dict):
            raise _error(key + "[" + str(i) + "]", "must be a table")
    return v


def _only(table: "dict[str, Any]", allowed: "tuple[str, ...]", path: str) -> None:
    for key in table:
        if key not in allowed:
            raise _error(path + "." + str(key) if path else str(key), "unknown key")


class Scenario:
    """A validated scenario: query vitals, state events and point events at scenario time."""

    name: str
    description: str
    duration_s: float
    seed: int
    baseline: "dict[str, float]"
    noise: "dict[str, float]"
    events: "list[dict[str, Any]]"
    expects: "list[dict[str, Any]]"

    def __init__(self, spec: "dict[str, Any]") -> None:
        if not isinstance(spec, dict):
            raise ValueError("scenario spec must be a dict")
        _only(spec, _SECTIONS, "")
        head = _table(spec, "scenario", "scenario")
        _only(head, _SCENARIO_KEYS, "scenario")
        name = _text(head, "name", "scenario")
        if not name or not all(c in _NAME_CHARS for c in name):
            raise _error("scenario.name", "must match [a-z0-9_-]+")
        self.name = name
        self.description = _text(head, "description", "scenario") if "description" in head else ""
        self.duration_s = _number(head, "duration_s", "scenario")
        if self.duration_s <= 0:
            raise _error("scenario.duration_s", "must be positive")
        seed = head.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise _error("scenario.seed", "must be a non-negative integer")
        self.seed = int(seed)

        vitals = _table(spec, "vitals", "vitals")
        self.baseline = {}
        for key in vitals:
            if key not in VITALS:
                raise _error("vitals." + str(key), "unknown vital")
            self.baseline[key] = self._clamp(key, _number(vitals, key, "vitals"))
        self.noise = {}
        noise = _table(spec, "noise", "noise")
        for key in noise:
            if key not in self.baseline:
                raise _error("noise." + str(key), "vital not listed in [vitals]")
            sd = _number(noise, key, "noise")
            if sd < 0:
                raise _error("noise." + str(key), "must be >= 0")
            self.noise[key] = sd

        # per vital: sorted list of (start_s, end_s, to)
        self._ramps: "dict[str, list[tuple[float, float, float]]]" = {}  # noqa: UP037 - pyright (3.8 mode) needs it
        self._ramp_paths: "dict[str, list[str]]" = {}  # noqa: UP037 - pyright (3.8 mode) needs it
        for i, ramp in enumerate(_tables(spec, "ramp")):
            path = "ramp[" + str(i) + "]"
            _only(ramp, _RAMP_KEYS, path)
            vital = _text(ramp, "vital", path)
            if vital not in self.baseline:
                raise _error(path + ".vital", "vital not listed in [vitals]")
            start = _number(ramp, "start_s", path)
            end = _number(ramp, "end_s", path)
            if start < 0 or end < start:
                raise _error(path + ".end_s", "need 0 <= start_s <= end_s")
            self._add_ramp(vital, start, end, _number(ramp, "to", path), path)

        self.events = []
        self._drifts: "list[tuple[str, float, float, float]]" = []  # noqa: UP037 - pyright 3.8 mode
        for i, event in enumerate(_tables(spec, "event")):
            self.events.append(self._check_event(event, "event[" + str(i) + "]", i))
        self.events = [
            e for _, _, e in sorted((e["at_s"], i, e) for i, e in enumerate(self.events))
        ]
        for vital in self._ramps:
            self._check_overlap(vital)

        self.expects = []
        for i, exp in enumerate(_tables(spec, "expect")):
            self.expects.append(self._check_expect(exp, "expect[" + str(i) + "]"))

    # -- validation helpers -------------------------------------------------------------

    def _add_ramp(self, vital: str, start: float, end: float, to: float, path: str) -> None:
        self._ramps.setdefault(vital, []).append((start, end, self._clamp(vital, to)))
        self._ramp_paths.setdefault(vital, []).append(path)

    def _check_overlap(self, vital: str) -> None:
        order = sorted(range(len(self._ramps[vital])), key=lambda k: self._ramps[vital][k][0])
        ramps = [self._ramps[vital][k] for k in order]
        paths = [self._ramp_paths[vital][k] for k in order]
        for k in range(1, len(ramps)):
            if ramps[k][0] < ramps[k - 1][1]:
                raise _error(paths[k], "overlaps " + paths[k - 1] + " for vital " + vital)
        self._ramps[vital] = ramps

    def _check_event(self, event: "dict[str, Any]", path: str, index: int) -> "dict[str, Any]":
        kind = _text(event, "kind", path, EVENT_KINDS)
        _only(event, _EVENT_COMMON + _EVENT_EXTRA[kind], path)
        at = _number(event, "at_s", path)
        if at < 0:
            raise _error(path + ".at_s", "must be >= 0")
        out: "dict[str, Any]" = {"at_s": at, "kind": kind}  # noqa: UP037 - pyright (3.8 mode) needs it
        out["target"] = _text(event, "target", path, TARGETS) if "target" in event else "all"
        if kind in STATE_KINDS:
            dur = _number(event, "duration_s", path)
            if dur <= 0:
                raise _error(path + ".duration_s", "must be positive")
            out["duration_s"] = dur
        elif "duration_s" in event:
            raise _error(path + ".duration_s", "not used by " + kind)
        if kind == "drift":
            vital = _text(event, "vital", path)
            if vital not in self.baseline:
                raise _error(path + ".vital", "vital not listed in [vitals]")
            rate = _number(event, "rate_per_h", path)
            out["vital"] = vital
            out["rate_per_h"] = rate
            self._drifts.append((vital, at, at + out["duration_s"], rate / 3600.0))
        elif kind == "noisy_line":
            rate = _number(event, "error_rate", path)
            if not 0.0 <= rate <= 1.0:
                raise _error(path + ".error_rate", "must be within [0, 1]")
            out["error_rate"] = rate
        elif kind == "battery_sag":
            if "battery" not in self.baseline:
                raise _error(path, "battery_sag needs vitals.battery")
            to = _number(event, "to", path)
            over = _number(event, "over_s", path)
            if not 0.0 <= to <= 100.0:
                raise _error(path + ".to", "must be within [0, 100]")
            if over < 0:
                raise _error(path + ".over_s", "must be >= 0")
            out["to"] = to
            out["over_s"] = over
            self._add_ramp("battery", at, at + over, to, path)
        elif kind in ("corrupt", "truncate"):
            count = event.get("count")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise _error(path + ".count", "must be a positive integer")
            out["count"] = count
        return out

    def _check_expect(self, exp: "dict[str, Any]", path: str) -> "dict[str, Any]":
        kind = _text(exp, "kind", path, EXPECT_KINDS)
        _only(exp, _EXPECT_COMMON + _EXPECT_KEYS[kind], path)
        out: "dict[str, Any]" = {"kind": kind}  # noqa: UP037 - pyright (3.8 mode) needs it
        out["after_s"] = _number(exp, "after_s", path, 0.0)
        out["within_s"] = _number(exp, "within_s", path, self.duration_s)
        if out["after_s"] < 0 or out["within_s"] < 0:
            raise _error(path, "after_s and within_s must be >= 0")
        for key in _EXPECT_KEYS[kind]:
            if key == "priority" and key not in exp:
                continue
            out[key] = _text(exp, key, path)
        if "vital" in out and out["vital"] not in VITALS:
            raise _error(path + ".vital", "unknown vital")
        return out

    @staticmethod
    def _clamp(vital: str, v: float) -> float:
        if v < 0.0:
            return 0.0
        if vital in PERCENT_VITALS and v > 100.0:
            return 100.0
        return v

    # -- queries -------------------------------------------------------------------------

    @property
    def produced(self) -> "list[str]":
        """The vitals this scenario produces, in the canonical order of ``VITALS``."""
        return [v for v in VITALS if v in self.baseline]

    def level(self, vital: str, t: float) -> "float | None":
        """Baseline and ramps only (no drift, no noise, no sensor_off); None if absent."""
        if vital not in self.baseline:
            return None
        v = self.baseline[vital]
        for start, end, to in self._ramps.get(vital, ()):
            if t < start:
                break
            v = to if t >= end else v + (to - v) * (t - start) / (end - start)
        return v

    def drift(self, vital: str, t: float) -> float:
        """Sensor bias of ``vital`` at ``t``: grows while a drift is active, then stays."""
        bias = 0.0
        for name, start, end, rate in self._drifts:
            if name == vital and t > start:
                bias += rate * ((t if t < end else end) - start)
        return bias

    def _true_value(self, vital: str, t: float) -> "float | None":
        v = self.level(vital, t)
        if v is None:
            return None
        v += self.drift(vital, t)
        sd = self.noise.get(vital, 0.0)
        if sd:
            v += sd * unit_normal(self.seed, vital, floor_int(t))
        return self._clamp(vital, v)

    def value(self, vital: str, t: float) -> "float | None":
        """Reading of ``vital`` at ``t``; None while ``sensor_off`` or if not produced."""
        if self.active("sensor_off", t):
            return None
        return self._true_value(vital, t)

    def vitals(self, t: float) -> "dict[str, float | None]":
        """Every produced vital mapped to its reading (None while the sensor is off)."""
        return {v: self.value(v, t) for v in self.produced}

    def battery(self, t: float) -> "float | None":
        """Battery of the emulated device (not affected by ``sensor_off``); None if absent."""
        return self._true_value("battery", t)

    def active(self, kind: str, t: float, target: str = "all") -> bool:
        """True when a state event of ``kind`` is in force at ``t`` for ``target``.

        An event aimed at ``"all"`` applies to every target; asking for ``"all"`` matches an
        event aimed at any target. In force means ``at_s <= t < at_s + duration_s``.
        """
        return self._in_force(kind, t, target) is not None

    def active_event(self, kind: str, t: float, target: str = "all") -> "dict[str, Any] | None":
        """The first state event of ``kind`` in force at ``t`` for ``target`` (a copy), or None."""
        e = self._in_force(kind, t, target)
        return None if e is None else dict(e)

    def _in_force(self, kind: str, t: float, target: str) -> "dict[str, Any] | None":
        if kind not in EVENT_KINDS:
            raise ValueError("kind: unknown event kind " + str(kind))
        if target not in TARGETS:
            raise ValueError("target: must be one of " + ", ".join(TARGETS))
        for e in self.events:
            if e["kind"] != kind or "duration_s" not in e:
                continue
            if target != "all" and e["target"] not in ("all", target):
                continue
            if e["at_s"] <= t < e["at_s"] + e["duration_s"]:
                return e
        return None

    def events_between(self, t0: float, t1: float) -> "list[dict[str, Any]]":
        """Copies of the events with ``t0 <= at_s < t1``, in time order (file order on ties)."""
        return [dict(e) for e in self.events if t0 <= e["at_s"] < t1]
