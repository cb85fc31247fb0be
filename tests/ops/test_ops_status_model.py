"""The status document built from a synthetic buffer view, the battery forecast, the
``[status]`` table, and the recent-errors list."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from ops_ward import ward_config

from gateway import codes
from gateway.errors import ConfigError
from gateway.model import VALID, Quality
from gateway.runtime import Gateway
from gateway.web.config import StatusConfig, parse_status_table
from gateway.web.reader import DbView, LatestValue, TwinState
from gateway.web.snapshot import StatusModel, time_to_empty_s

SPO2 = codes.MDC_PULS_OXIM_SAT_O2.mdc_code
BATTERY = codes.MDC_ATTR_VAL_BATT_CHARGE.mdc_code
SPCO = codes.EDGETWIN_SAT_CO.mdc_code
S = 1_000_000_000


def test_time_to_empty_follows_a_linear_drain() -> None:
    # 100 % -> 90 % in 600 s: 1 % a minute, so 90 % lasts 5400 s
    points = [(t, 100 - t / 60) for t in range(0, 601, 60)]
    assert time_to_empty_s(points) == pytest.approx(5400)


@pytest.mark.parametrize(
    "points",
    [
        [],
        [(0.0, 80.0)],
        [(0.0, 80.0), (60.0, 79.0)],  # under two minutes of history
        [(0.0, 80.0), (300.0, 80.0)],  # flat
        [(0.0, 50.0), (300.0, 60.0)],  # charging
    ],
)
def test_time_to_empty_is_none_without_a_drain(points: list[tuple[float, float]]) -> None:
    assert time_to_empty_s(points) is None


def model(tmp_path: Path) -> StatusModel:
    return StatusModel(Gateway(ward_config(tmp_path, ["/dev/null-a", "/dev/null-b"], None)))


def view(latest: list[LatestValue], twins: dict[str, TwinState] | None = None) -> DbView:
    status: dict[str, Any] = {
        "gateway": "ops-gw",
        "site": "ops-ward",
        "running": True,
        "uplink": "disabled",
        "uplink_error": "",
        "buffer": {"outbox_rows": 0, "outbox_records": 0, "committed": 0, "acked": 0},
        "devices": [
            {
                "device": "bed01-spo2",
                "kind": "masimo",
                "state": "connected",
                "since_s": 1.0,
                "last_seen_s": 0.5,
                "parse_errors": 0,
                "restarts": 0,
                "detail": "",
            },
        ],
    }
    return DbView(True, status=status, latest=tuple(latest), twins=twins or {})


def value(mdc: int, v: float | None, t_s: float, q: Quality = VALID) -> LatestValue:
    stream = f"bed01-spo2.{mdc}"
    return LatestValue(stream, "bed01-spo2", "p-0001", mdc, "%", v, int(q), int(t_s * S))


def test_battery_ring_gives_a_time_to_empty(tmp_path: Path) -> None:
    m = model(tmp_path)
    doc: dict[str, Any] = {}
    for minute in range(6):
        doc = m.build(view([value(BATTERY, 80 - minute, 60.0 * minute)]), wall_ns=400 * S)
    dev = next(d for d in doc["devices"] if d["id"] == "bed01-spo2")
    assert dev["battery"]["percent"] == 75
    assert dev["battery"]["time_to_empty_s"] == pytest.approx(75 * 60, rel=1e-6)
    # the battery is a device property, not a patient vital
    assert all(v["label"] != "Battery" for p in doc["patients"] for v in p["vitals"])


def test_trend_keeps_one_point_per_new_value_and_is_bounded(tmp_path: Path) -> None:
    m = model(tmp_path)
    m.trend_points = 5
    doc: dict[str, Any] = {}
    for i in range(8):
        doc = m.build(view([value(SPO2, 90 + i, float(i))]), wall_ns=10 * S)
        doc = m.build(view([value(SPO2, 90 + i, float(i))]), wall_ns=10 * S)  # same value again
    (p1,) = [p for p in doc["patients"] if p["id"] == "p-0001"]
    (spo2,) = p1["vitals"]
    assert spo2["trend"] == [93, 94, 95, 96, 97]
    assert spo2["value"] == 97 and spo2["age_s"] == 3.0


def test_parameters_never_measured_are_hidden_and_invalid_ones_flagged(tmp_path: Path) -> None:
    m = model(tmp_path)
    doc = m.build(
        view(
            [
                value(SPCO, None, 1.0, Quality.UNAVAILABLE),  # a probe without SpCO
                value(SPO2, None, 1.0, Quality.INVALID),
            ]
        )
    )
    p1 = next(p for p in doc["patients"] if p["id"] == "p-0001")
    assert p1["vitals"] == []
    doc = m.build(view([value(SPO2, 97.0, 2.0)]))
    doc = m.build(view([value(SPO2, None, 3.0, Quality.INVALID)]))
    p1 = next(p for p in doc["patients"] if p["id"] == "p-0001")
    (spo2,) = p1["vitals"]
    assert spo2["value"] is None and spo2["quality"] == ["invalid"]
    assert spo2["trend"] == [None, 97.0, None]  # gaps stay gaps in the plot


def test_news2_and_alarms_come_from_the_last_patient_twin(tmp_path: Path) -> None:
    m = model(tmp_path)
    state = {
        "vitals": {},
        "news2": {"total": 6, "risk": "medium", "partial": True, "missing": ["temperature"]},
        "alarms": [
            {"priority": "low", "kind": "technical", "condition": "battery low", "start_ns": 1},
            {"priority": "high", "kind": "physiological", "condition": "spo2 low", "start_ns": 2},
        ],
    }
    m.build(view([], {"p-0001": TwinState(state, 5 * S)}), wall_ns=6 * S)
    # a later twin row that is not a patient twin (e.g. a device twin) does not hide it
    doc = m.build(view([], {"p-0001": TwinState({"device": "x"}, 7 * S)}), wall_ns=8 * S)
    p1 = next(p for p in doc["patients"] if p["id"] == "p-0001")
    assert p1["news2"] == {
        "total": 6,
        "risk": "medium",
        "partial": True,
        "missing": ["temperature"],
    }
    assert [a["priority"] for a in p1["alarms"]] == ["high", "low"]
    assert p1["twin_age_s"] == 3.0
    assert "alarm_id" not in p1["alarms"][0]


def test_recent_errors_lists_warnings_newest_first(tmp_path: Path) -> None:
    m = model(tmp_path)
    logger = logging.getLogger("gateway.test-ops")
    logger.addHandler(m.errors)
    try:
        logger.info("not shown")
        logger.warning("first %s", "problem")
        logger.error("second problem")
    finally:
        logger.removeHandler(m.errors)
    doc = m.build(view([]))
    assert [(e["level"], e["msg"]) for e in doc["errors"]] == [
        ("error", "second problem"),
        ("warning", "first problem"),
    ]


def test_status_table_defaults_and_values() -> None:
    assert parse_status_table({}, "f.toml") == StatusConfig(source="f.toml")
    cfg = parse_status_table(
        {"enabled": False, "host": "0.0.0.0", "port": 9100, "token_file": "/etc/t"}, "f.toml"
    )
    assert (cfg.enabled, cfg.host, cfg.port, cfg.token_file) == (False, "0.0.0.0", 9100, "/etc/t")


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"enabled": "yes"}, "status.enabled"),
        ({"port": 0}, "status.port"),
        ({"port": 70000}, "status.port"),
        ({"port": True}, "status.port"),
        ({"host": ""}, "status.host"),
        ({"host": "a b"}, "status.host"),
        ({"token_file": 3}, "status.token_file"),
        ({"tokenfile": "x"}, "status.tokenfile"),
    ],
)
def test_status_table_errors_name_file_and_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_status_table(table, "site.toml")
    assert err.value.file == "site.toml" and err.value.key == key


def test_token_file_is_read_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "token"
    good.write_text("  abcdefghijklmnop0123  \nignored\n")
    assert StatusConfig(token_file=str(good)).read_token() == "abcdefghijklmnop0123"
    assert StatusConfig().read_token() is None
    short = tmp_path / "short"
    short.write_text("abc\n")
    for path in (short, tmp_path / "missing"):
        with pytest.raises(ConfigError) as err:
            StatusConfig(token_file=str(path), source="x.toml").read_token()
        assert err.value.key == "status.token_file"
