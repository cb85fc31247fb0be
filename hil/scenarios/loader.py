"""Scenario TOML -> validated spec dict (the structure the engine and firmware read).

Every problem raises :class:`~gateway.errors.ConfigError` naming the file, the dotted key
(``event[2].duration_s``) and what was expected. The format is in
``docs/hil.md`` / the scenario format note; the engine then checks the spec once more when
it is built (:func:`load_scenario`).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.config import ConfigReader
from gateway.errors import ConfigError
from hil.scenarios.engine import TARGETS, VITALS, Scenario

LIBRARY = Path(__file__).resolve().parent / "library"

#: Event kind -> (has a duration, required extra keys, optional extra keys).
EVENT_KINDS: dict[str, tuple[bool, tuple[str, ...], tuple[str, ...]]] = {
    "link_drop": (True, (), ()),
    "stall": (True, (), ()),
    "sensor_off": (True, (), ()),
    "battery_sag": (False, ("to", "over_s"), ()),
    "drift": (True, ("vital", "rate_per_h"), ()),
    "corrupt": (False, ("count",), ()),
    "truncate": (False, ("count",), ()),
    "noisy_line": (True, ("error_rate",), ()),
}
#: Expectation kind -> (required keys, optional keys) besides kind/after_s/within_s.
EXPECT_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "alarm": (("vital",), ("priority",)),
    "no_alarm": (("vital",), ()),
    "news2_risk": (("risk",), ()),
    "technical_alarm": (("text",), ()),
    "maintenance": (("text",), ()),
    "no_loss": ((), ()),
}
PRIORITIES = ("high", "medium", "low")
RISKS = ("low", "low-medium", "medium", "high")
_NAME = re.compile(r"^[a-z0-9_-]+$")


def library_names() -> list[str]:
    """Names of the scenarios in the library, sorted."""
    return sorted(p.stem for p in LIBRARY.glob("*.toml"))


def library_path(name: str) -> Path:
    if not _NAME.match(name):
        raise ConfigError(name, "scenario.name", "a name of [a-z0-9_-]")
    path = LIBRARY / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(
            str(path), "(file)", f"a library scenario, one of {', '.join(library_names())}"
        )
    return path


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; an unreadable or invalid file is a :class:`ConfigError`."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", "file does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "(syntax)", f"valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "(file)", f"a readable UTF-8 file ({exc})") from None


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read and validate one scenario file; returns the spec dict."""
    path = Path(path)
    spec = validate(read_toml(path), str(path), stem=path.stem)
    build(spec, str(path))
    return spec


def build(spec: Mapping[str, Any], source: str) -> Scenario:
    """The engine's view of a validated spec; its own checks (ramp overlaps) name the key."""
    try:
        return Scenario(dict(spec))
    except ValueError as exc:
        key, _, why = str(exc).partition(": ")
        raise ConfigError(source, key or "(spec)", why or str(exc)) from None


def load_scenario(path: str | Path) -> Scenario:
    """The scenario in ``path`` as an engine :class:`~hil.scenarios.engine.Scenario`."""
    return build(load_spec(path), str(path))


def load_library(name: str) -> dict[str, Any]:
    return load_spec(library_path(name))


def library_scenario(name: str) -> Scenario:
    return load_scenario(library_path(name))


def to_json(spec: Mapping[str, Any]) -> str:
    """The spec as the JSON the firmware reads (same structure)."""
    return json.dumps(spec, indent=1, sort_keys=True)


def validate(raw: Mapping[str, Any], source: str, stem: str | None = None) -> dict[str, Any]:
    """Check a parsed scenario document; ``stem`` (file name) must equal scenario.name."""
    c = _Checker(source)
    c.only(raw, "", {"scenario", "vitals", "noise", "ramp", "event", "expect"})
    sc = c.table(raw, "scenario")
    c.only(sc, "scenario", {"name", "description", "duration_s", "seed"})
    name = c.string(sc, "scenario.name")
    if not _NAME.match(name):
        raise c.fail("scenario.name", f"[a-z0-9_-]+, got {name!r}")
    if stem is not None and name != stem:
        raise c.fail("scenario.name", f"the file stem {stem!r}, got {name!r}")
    if "description" in sc:
        c.string(sc, "scenario.description")
    duration = c.number(sc, "scenario.duration_s", lo=1.0, hi=7 * 86400.0)
    c.integer(sc, "scenario.seed", 0, lo=0, hi=2**31 - 1)

    vitals = c.table(raw, "vitals")
    if not vitals:
        raise c.fail("vitals", "at least one vital")
    c.only(vitals, "vitals", set(VITALS))
    for key in vitals:
        c.number(vitals, f"vitals.{key}", lo=0.0, hi=1000.0)
    noise = c.table(raw, "noise", required=False)
    c.only(noise, "noise", set(vitals))
    for key in noise:
        c.number(noise, f"noise.{key}", lo=0.0, hi=100.0)

    for i, ramp in enumerate(c.array_of_tables(raw, "ramp")):
        key = f"ramp[{i}]"
        c.only(ramp, key, {"vital", "start_s", "end_s", "to"})
        vital = c.string(ramp, f"{key}.vital")
        if vital not in vitals:
            raise c.fail(f"{key}.vital", f"a vital listed in [vitals], got {vital!r}")
        start = c.number(ramp, f"{key}.start_s", lo=0.0, hi=duration)
        end = c.number(ramp, f"{key}.end_s", lo=0.0, hi=duration)
        if end < start:
            raise c.fail(f"{key}.end_s", f"at least start_s ({start:g}), got {end:g}")
        c.number(ramp, f"{key}.to", lo=0.0, hi=1000.0)

    for i, event in enumerate(c.array_of_tables(raw, "event")):
        _event(c, event, f"event[{i}]", duration, set(vitals))

    for i, expect in enumerate(c.array_of_tables(raw, "expect")):
        _expect(c, expect, f"expect[{i}]", duration, set(vitals))
    plain: dict[str, Any] = json.loads(json.dumps(raw))  # dicts/lists, as the firmware gets them
    return plain


def _event(c: _Checker, ev: Mapping[str, Any], key: str, duration: float, vitals: set[str]) -> None:
    kind = c.string(ev, f"{key}.kind")
    if kind not in EVENT_KINDS:
        raise c.fail(f"{key}.kind", f"one of {', '.join(EVENT_KINDS)}, got {kind!r}")
    timed, required, optional = EVENT_KINDS[kind]
    allowed = {"at_s", "kind", "target", *required, *optional}
    if timed:
        allowed.add("duration_s")
    c.only(ev, key, allowed)
    at = c.number(ev, f"{key}.at_s", lo=0.0, hi=duration)
    if timed:
        c.number(ev, f"{key}.duration_s", lo=0.0, hi=duration - at)
    target = ev.get("target", "all")
    if target not in TARGETS:
        raise c.fail(f"{key}.target", f"one of {', '.join(TARGETS)}, got {target!r}")
    for extra in required:
        path = f"{key}.{extra}"
        if extra not in ev:
            raise c.fail(path, "a value, but it is missing")
        if extra == "vital":
            vital = c.string(ev, path)
            if vital not in vitals:
                raise c.fail(path, f"a vital listed in [vitals], got {vital!r}")
        elif extra == "count":
            c.integer(ev, path, 0, lo=1, hi=100_000)
        elif extra == "error_rate":
            c.number(ev, path, lo=0.0, hi=1.0)
        elif extra == "to":
            c.number(ev, path, lo=0.0, hi=100.0)
        elif extra == "over_s":
            c.number(ev, path, lo=0.0, hi=duration)
        else:  # rate_per_h
            c.number(ev, path, lo=-1000.0, hi=1000.0)
    if kind == "battery_sag" and "battery" not in vitals:
        raise c.fail(f"{key}.kind", "battery_sag needs vitals.battery")


def _expect(
    c: _Checker, ex: Mapping[str, Any], key: str, duration: float, vitals: set[str]
) -> None:
    kind = c.string(ex, f"{key}.kind")
    if kind not in EXPECT_KINDS:
        raise c.fail(f"{key}.kind", f"one of {', '.join(EXPECT_KINDS)}, got {kind!r}")
    required, optional = EXPECT_KINDS[kind]
    c.only(ex, key, {"kind", "after_s", "within_s", *required, *optional})
    after = c.number(ex, f"{key}.after_s", lo=0.0, hi=duration, default=0.0)
    c.number(ex, f"{key}.within_s", lo=0.0, hi=7 * 86400.0, default=duration - after)
    for extra in (*required, *(o for o in optional if o in ex)):
        path = f"{key}.{extra}"
        if extra == "vital":
            vital = c.string(ex, path)
            if vital not in vitals:
                raise c.fail(path, f"a vital listed in [vitals], got {vital!r}")
        elif extra == "priority":
            c.choice(ex, path, PRIORITIES)
        elif extra == "risk":
            c.choice(ex, path, RISKS)
        else:  # text
            c.string(ex, path)


class _Checker(ConfigReader):
    """The gateway config reader, strict about present-but-empty tables, finite numbers."""

    def table(self, raw: Mapping[str, Any], key: str, required: bool = True) -> Mapping[str, Any]:
        if key not in raw:
            if required:
                raise self.fail(f"[{key}]", "a table, but it is missing")
            return {}
        value = raw[key]
        if not isinstance(value, dict):
            raise self.fail(key, "a table")
        return value

    def choice(
        self, t: Mapping[str, Any], key: str, options: tuple[str, ...], default: str = ""
    ) -> str:
        self.string(t, key, default or None)
        return super().choice(t, key, options, default)

    def number(  # type: ignore[override]
        self, t: Mapping[str, Any], key: str, lo: float, hi: float, default: float | None = None
    ) -> float:
        if default is None and key.rsplit(".", 1)[-1] not in t:
            raise self.fail(key, "a number, but it is missing")
        value = super().number(t, key, math.nan if default is None else default, lo, hi)
        if not math.isfinite(value):
            raise self.fail(key, f"a finite number, got {value!r}")
        return value
