"""Scenario loader: the library is valid, and every mistake names the file and the key."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import ConfigError
from hil.scenarios import loader
from hil.scenarios.engine import Scenario

LIBRARY_NAMES = (
    "stable",
    "deteriorating",
    "desaturation",
    "flaky_link",
    "dying_battery",
    "drifting_sensor",
    "noisy_serial",
)

GOOD: dict[str, Any] = {
    "scenario": {"name": "tiny", "duration_s": 100.0, "seed": 3},
    "vitals": {"spo2": 97.0, "heart_rate": 70.0, "battery": 80.0},
    "noise": {"spo2": 0.5},
    "ramp": [{"vital": "spo2", "start_s": 10.0, "end_s": 40.0, "to": 88.0}],
    "event": [
        {"at_s": 50.0, "kind": "link_drop", "duration_s": 5.0, "target": "ble"},
        {"at_s": 60.0, "kind": "battery_sag", "to": 10.0, "over_s": 20.0},
        {"at_s": 70.0, "kind": "corrupt", "count": 2},
    ],
    "expect": [
        {"kind": "alarm", "vital": "spo2", "priority": "high", "after_s": 10.0, "within_s": 60.0},
        {"kind": "no_loss"},
    ],
}


def write(tmp_path: Path, doc: dict[str, Any], stem: str = "tiny") -> Path:
    """A TOML file for ``doc`` (written by hand: no TOML writer in the venv)."""
    lines: list[str] = []

    def value(v: object) -> str:
        return json.dumps(v) if not isinstance(v, bool) else ("true" if v else "false")

    for table in ("scenario", "vitals", "noise"):
        if table in doc:
            lines.append(f"[{table}]")
            lines += [f"{k} = {value(v)}" for k, v in doc[table].items()]
    for array in ("ramp", "event", "expect"):
        for item in doc.get(array, []):
            lines.append(f"[[{array}]]")
            lines += [f"{k} = {value(v)}" for k, v in item.items()]
    path = tmp_path / f"{stem}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_library_holds_the_seven_named_scenarios_each_with_expectations() -> None:
    assert sorted(loader.library_names()) == sorted(LIBRARY_NAMES)
    for name in LIBRARY_NAMES:
        spec = loader.load_library(name)
        assert spec["scenario"]["name"] == name
        assert spec.get("expect"), f"{name} has no [[expect]]"
        engine = loader.library_scenario(name)
        assert engine.name == name and engine.expects


def test_deteriorating_reaches_a_high_news2_by_its_own_numbers() -> None:
    """The ramps end where NEWS2 (RCP 2017) scores at least 7 (the 'high' band)."""
    from edge_models.news2 import Consciousness, News2Inputs, score_news2

    e = loader.library_scenario("deteriorating")
    t = e.duration_s - 1
    level = {v: e.level(v, t) for v in ("resp_rate", "spo2", "systolic", "pulse_rate")}
    score = score_news2(
        News2Inputs(
            respiration_rate=level["resp_rate"],
            spo2=level["spo2"],
            on_oxygen=False,
            systolic_bp=level["systolic"],
            pulse=level["pulse_rate"],
            consciousness=Consciousness.ALERT,
            temperature=e.level("temperature", t),
        )
    )
    assert score.risk.value == "high"


def test_a_good_file_round_trips_to_the_json_the_firmware_reads(tmp_path: Path) -> None:
    spec = loader.load_spec(write(tmp_path, GOOD))
    assert spec == GOOD
    assert json.loads(loader.to_json(spec)) == GOOD
    assert Scenario(json.loads(loader.to_json(spec))).name == "tiny"


def _mutate(path: str, new: object) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    *head, leaf = path.split(".")
    node: Any = doc
    for part in head:
        node = node[int(part)] if part.isdigit() else node[part]
    if new is KeyError:
        del node[leaf]
    else:
        node[leaf] = new
    return doc


@pytest.mark.parametrize(
    ("path", "new", "key"),
    [
        ("scenario.name", "other", "scenario.name"),
        ("scenario.name", "Bad Name", "scenario.name"),
        ("scenario.duration_s", -1.0, "scenario.duration_s"),
        ("scenario.duration_s", KeyError, "scenario.duration_s"),
        ("scenario.seed", 1.5, "scenario.seed"),
        ("scenario.extra", 1, "scenario.extra"),
        ("vitals.lactate", 2.0, "vitals.lactate"),
        ("vitals.spo2", "97", "vitals.spo2"),
        ("noise.resp_rate", 1.0, "noise.resp_rate"),
        ("ramp.0.vital", "resp_rate", "ramp[0].vital"),
        ("ramp.0.end_s", 5.0, "ramp[0].end_s"),
        ("event.0.kind", "explode", "event[0].kind"),
        ("event.0.duration_s", KeyError, "event[0].duration_s"),
        ("event.0.target", "wifi", "event[0].target"),
        ("event.0.at_s", 1000.0, "event[0].at_s"),
        ("event.1.over_s", KeyError, "event[1].over_s"),
        ("event.2.count", 0, "event[2].count"),
        ("event.2.duration_s", 3.0, "event[2].duration_s"),
        ("expect.0.priority", "urgent", "expect[0].priority"),
        ("expect.0.vital", KeyError, "expect[0].vital"),
        ("expect.1.kind", "no_bugs", "expect[1].kind"),
        ("expect.1.text", "x", "expect[1].text"),
    ],
)
def test_each_mistake_names_the_file_and_the_key(
    tmp_path: Path, path: str, new: object, key: str
) -> None:
    file = write(tmp_path, _mutate(path, new))
    with pytest.raises(ConfigError) as err:
        loader.load_spec(file)
    assert err.value.file == str(file)
    assert err.value.key == key, err.value


def test_overlapping_ramps_are_refused_by_the_engine_check_with_the_key(tmp_path: Path) -> None:
    doc = copy.deepcopy(GOOD)
    doc["ramp"].append({"vital": "spo2", "start_s": 30.0, "end_s": 50.0, "to": 90.0})
    with pytest.raises(ConfigError) as err:
        loader.load_spec(write(tmp_path, doc))
    assert err.value.key == "ramp[1]"


def test_file_level_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        loader.load_spec(tmp_path / "absent.toml")
    bad = tmp_path / "broken.toml"
    bad.write_text("[scenario\nname = 1")
    with pytest.raises(ConfigError, match="valid TOML"):
        loader.load_spec(bad)
    with pytest.raises(ConfigError, match="a library scenario"):
        loader.library_path("nonexistent")


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    section=st.sampled_from(["scenario", "vitals", "noise", "ramp", "event", "expect", "junk"]),
    junk=_values,
)
def test_any_garbage_in_any_section_is_a_config_error_never_a_crash(
    section: str, junk: object
) -> None:
    doc: dict[str, Any] = copy.deepcopy(GOOD)
    doc[section] = junk
    try:
        spec = loader.validate(doc, "<fuzz>", stem="tiny")
    except ConfigError:
        return
    loader.build(spec, "<fuzz>")  # what the loader accepts, the engine accepts


@settings(max_examples=60, deadline=None)
@given(
    duration=st.floats(10, 1000),
    start=st.floats(0, 1),
    length=st.floats(0, 1),
    to=st.floats(0, 100),
    drop=st.floats(0, 1),
)
def test_generated_valid_specs_load_and_ramp_to_their_target(
    tmp_path_factory: pytest.TempPathFactory,
    duration: float,
    start: float,
    length: float,
    to: float,
    drop: float,
) -> None:
    t0 = start * duration
    t1 = t0 + length * (duration - t0)
    doc = {
        "scenario": {"name": "gen", "duration_s": duration},
        "vitals": {"spo2": 97.0},
        "ramp": [{"vital": "spo2", "start_s": t0, "end_s": t1, "to": to}],
        "event": [{"at_s": drop * duration, "kind": "corrupt", "count": 1}],
    }
    path = write(tmp_path_factory.mktemp("gen"), doc, stem="gen")
    engine = loader.load_scenario(path)
    assert engine.level("spo2", duration) == pytest.approx(to)
    assert tomllib.loads(path.read_text())["scenario"]["name"] == "gen"
