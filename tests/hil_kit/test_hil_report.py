"""Evaluating [[expect]] against what a gateway published: hand-built observations."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.twin import DEFAULT_LIMITS
from hil.report import (
    FAIL,
    NOT_EVALUATED,
    PASS,
    Loss,
    Observation,
    crossing,
    evaluate,
    format_summary,
    from_json,
    reconnects,
    to_json,
)
from hil.scenarios.engine import Scenario

WALL0 = 1_700_000_000_000_000_000
SPEED = 10.0


def ns(t_s: float) -> int:
    """Wall ns of scenario time ``t_s`` at SPEED."""
    return WALL0 + round(t_s / SPEED * 1e9)


def engine(*expects: dict[str, Any], **extra: Any) -> Scenario:
    spec: dict[str, Any] = {
        "scenario": {"name": "e", "duration_s": 300.0},
        "vitals": {"spo2": 97.0, "pulse_rate": 80.0, "battery": 60.0},
        "ramp": [{"vital": "spo2", "start_s": 100.0, "end_s": 200.0, "to": 80.0}],
        "expect": list(expects),
    }
    spec.update(extra)
    return Scenario(spec)


def alarm(t: float, condition: str, priority: str, kind: str = "physiological") -> dict[str, Any]:
    return {
        "seq": 1,
        "t_rx_ns": ns(t),
        "alarm_id": f"p-1/x/{t}",
        "priority": priority,
        "alarm_kind": kind,
        "condition": condition,
        "start_ns": ns(t),
        "end_ns": None,
    }


def obs(samples: dict[str, list[dict[str, Any]]], losses: list[Loss] | None = None) -> Observation:
    return Observation(
        "e", "test", SPEED, WALL0, "p-1", samples, losses or [], targets={"dev": "ble"}
    )


def test_crossing_finds_when_the_value_first_violates_a_limit() -> None:
    e = engine()
    # spo2 falls 97 -> 80 over 100..200: below 90 at 100 + 100 * 7/17 = 141.2
    t = crossing(e, "spo2", DEFAULT_LIMITS[:1], 0.0, 300.0)
    assert t == pytest.approx(141.5)
    assert crossing(e, "pulse_rate", DEFAULT_LIMITS, 0.0, 300.0) is None


def test_alarm_in_its_window_passes_with_latency_from_the_crossing() -> None:
    e = engine({"kind": "alarm", "vital": "spo2", "priority": "medium", "after_s": 100.0})
    samples = {"p-1.alarms": [alarm(160.0, "spo2 below low limit 90", "medium")]}
    result = evaluate(e, obs(samples), DEFAULT_LIMITS)
    (check,) = result.checks
    assert check.status == PASS and result.status == PASS
    assert check.at_s == pytest.approx(160.0)
    assert check.latency_s == pytest.approx(160.0 - 141.5)


@pytest.mark.parametrize(
    ("t", "condition", "priority"),
    [
        (50.0, "spo2 below low limit 90", "medium"),  # before the window
        (160.0, "spo2 below low limit 85", "high"),  # wrong priority
        (160.0, "pulse above high limit 130", "medium"),  # wrong vital
    ],
)
def test_alarm_outside_the_window_or_of_another_kind_fails(
    t: float, condition: str, priority: str
) -> None:
    e = engine(
        {"kind": "alarm", "vital": "spo2", "priority": "medium", "after_s": 100.0, "within_s": 100}
    )
    result = evaluate(e, obs({"p-1.alarms": [alarm(t, condition, priority)]}), DEFAULT_LIMITS)
    assert result.checks[0].status == FAIL and result.status == FAIL
    assert "no spo2 alarm (medium)" in result.checks[0].detail


def test_alarm_end_records_do_not_count_as_raised() -> None:
    e = engine({"kind": "no_alarm", "vital": "spo2"})
    ended = {**alarm(150.0, "spo2 below low limit 90", "medium"), "end_ns": ns(170.0)}
    assert evaluate(e, obs({"p-1.alarms": [ended]}), DEFAULT_LIMITS).status == PASS
    raised = alarm(150.0, "spo2 below low limit 90", "medium")
    result = evaluate(e, obs({"p-1.alarms": [raised]}), DEFAULT_LIMITS)
    assert result.status == FAIL and "150.0 s" in result.checks[0].detail


def test_news2_risk_needs_a_snapshot_with_that_band_in_the_window() -> None:
    e = engine({"kind": "news2_risk", "risk": "high", "after_s": 100.0, "within_s": 100.0})

    def snap(t: float, risk: str) -> dict[str, Any]:
        return {"seq": 1, "t_rx_ns": ns(t), "state": {"news2": {"risk": risk, "partial": False}}}

    ok = evaluate(e, obs({"p-1.twin": [snap(50, "high"), snap(150, "high")]}), DEFAULT_LIMITS)
    assert ok.checks[0].status == PASS and ok.checks[0].at_s == pytest.approx(150.0)
    bad = evaluate(e, obs({"p-1.twin": [snap(50, "high"), snap(150, "medium")]}), DEFAULT_LIMITS)
    assert bad.checks[0].status == FAIL and "medium" in bad.checks[0].detail


def test_technical_alarm_latency_from_the_battery_crossing_or_the_link_event() -> None:
    e = engine(
        {"kind": "technical_alarm", "text": "battery low", "after_s": 10.0},
        {"kind": "technical_alarm", "text": "disconnected", "after_s": 10.0},
        event=[
            {"at_s": 20.0, "kind": "battery_sag", "to": 0.0, "over_s": 60.0},
            {"at_s": 40.0, "kind": "link_drop", "duration_s": 5.0},
        ],
    )
    samples = {
        "p-1.alarms": [alarm(72.0, "battery low", "low", "technical")],
        "dev.events": [
            {"seq": 1, "t_rx_ns": ns(43.0), "event": "technical_alarm", "detail": "link lost"},
            {"seq": 2, "t_rx_ns": ns(43.0), "event": "disconnected", "detail": ""},
            {"seq": 3, "t_rx_ns": ns(47.5), "event": "connected", "detail": ""},
        ],
    }
    samples["p-1.alarms"].append(alarm(42.5, "device disconnected", "low", "technical"))
    result = evaluate(e, obs(samples), DEFAULT_LIMITS)
    battery, link = result.checks
    # 60 -> 0 over 20..80 is 20 % at 60 s, below it from the next 0.5 s step
    assert battery.status == PASS and battery.latency_s == pytest.approx(72.0 - 60.5)
    assert link.status == PASS and link.latency_s == pytest.approx(2.5)
    assert result.reconnects_s == {"dev": [pytest.approx(4.5)]}


def test_maintenance_needs_a_device_twin_alert_with_the_text_in_the_window() -> None:
    e = engine({"kind": "maintenance", "text": "battery", "after_s": 30.0, "within_s": 60.0})
    alert = "battery empty in about 40 min (30 - 55 min)"
    samples = {
        "dev.maintenance": [
            {"seq": 1, "t_rx_ns": ns(20.0), "event": "technical_alarm", "detail": alert},
            {"seq": 2, "t_rx_ns": ns(50.0), "event": "technical_alarm", "detail": alert},
        ],
        "dev.events": [  # a driver's technical alarm is not a maintenance alert
            {"seq": 1, "t_rx_ns": ns(40.0), "event": "technical_alarm", "detail": "battery"}
        ],
    }
    check = evaluate(e, obs(samples), DEFAULT_LIMITS).checks[0]
    assert check.status == PASS
    assert check.at_s == pytest.approx(50.0) and check.latency_s == pytest.approx(20.0)
    assert check.detail.startswith("'dev: battery empty")
    # only the one before the window (or a driver's event inside it): a failure naming it
    samples["dev.maintenance"].pop()
    result = evaluate(e, obs(samples), DEFAULT_LIMITS)
    assert result.status == FAIL and result.checks[0].status == FAIL
    assert "at 20.0 s" in result.checks[0].detail
    # the text must match
    other = engine({"kind": "maintenance", "text": "drift", "after_s": 0.0, "within_s": 90.0})
    assert evaluate(other, obs(samples), DEFAULT_LIMITS).status == FAIL


def test_no_loss_fails_on_missing_unexpected_or_duplicated() -> None:
    e = engine({"kind": "no_loss"})
    good = Loss("dev", sent=10, delivered=9, stored=9)
    assert evaluate(e, obs({}, [good]), DEFAULT_LIMITS).status == PASS
    for bad in (
        Loss("dev", sent=10, delivered=9, stored=8, missing=1),
        Loss("dev", sent=10, delivered=9, stored=10, unexpected=1),
        Loss("dev", sent=10, delivered=9, stored=9, duplicates=1),
    ):
        result = evaluate(e, obs({}, [bad]), DEFAULT_LIMITS)
        assert result.status == FAIL and "dev:" in result.checks[0].detail
    assert evaluate(e, obs({}), DEFAULT_LIMITS).checks[0].status == NOT_EVALUATED


def test_reconnects_ignore_disconnections_after_the_end() -> None:
    o = obs(
        {
            "dev.events": [
                {"seq": 1, "t_rx_ns": ns(10.0), "event": "disconnected"},
                {"seq": 2, "t_rx_ns": ns(12.0), "event": "connected"},
                {"seq": 3, "t_rx_ns": ns(310.0), "event": "disconnected"},
                {"seq": 4, "t_rx_ns": ns(311.0), "event": "connected"},
            ]
        }
    )
    assert reconnects(o, 300.0) == {"dev": [pytest.approx(2.0)]}


def test_json_round_trip_and_summary() -> None:
    e = engine(
        {"kind": "alarm", "vital": "spo2", "after_s": 100.0},
        {"kind": "alarm", "vital": "diastolic"},  # the gateway has none: not evaluated
        {"kind": "no_loss"},
    )
    samples = {"p-1.alarms": [alarm(160.0, "spo2 below low limit 90", "medium")]}
    results = [evaluate(e, obs(samples, [Loss("dev", 3, 3, 0, 2, 1, 1)]), DEFAULT_LIMITS)]
    back = from_json(to_json(results))
    assert back == results
    text = format_summary(back)
    assert "e " in text and "FAIL" in text and "n/e" in text and "latency" in text
    assert text.splitlines()[-1] == "suite: FAIL (1 of 1 scenarios)"
    with pytest.raises(ValueError, match="not an edgetwin hil report"):
        from_json('{"version": 1, "scenarios": [{"x": 1}]}')
    with pytest.raises(ValueError, match="version"):
        from_json('{"version": 9}')


def test_ble_loss_counts_and_the_last_notification_of_a_link_the_gateway_closed() -> None:
    from drivers.ble import uuids
    from hil.ble.peripheral import Sent
    from hil.rig import Target
    from hil.runner import REMOTE_USER_TERMINATED, ble_loss

    def sent(conn: int, *, lost: bool = False, fault: str = "") -> Sent:
        s = Sent(uuids.HEART_RATE_MEASUREMENT, b"\x00\x48", b"\x00\x48", 0.0, conn, True, fault)
        s.emitted, s.dropped = True, lost
        return s

    class Device:
        def __init__(self) -> None:
            self.sent = [sent(1), sent(1), sent(1, lost=True), sent(2, fault="corrupt"), sent(2)]
            self.disconnect_reasons = [REMOTE_USER_TERMINATED]  # link 1 closed by the gateway

    target = Target("hr", "ble", "hr", address="F5:00:00:00:00:01")
    device: Any = Device()

    def stored(n: int) -> dict[str, list[dict[str, Any]]]:
        return {"hr.147842": [{"seq": i + 1} for i in range(n)]}

    # link 1: two arrived (the second may have been in flight), one lost; link 2: one damaged
    exact = ble_loss(target, device, stored(3))
    assert (exact.sent, exact.delivered, exact.uncertain, exact.ok) == (5, 2, 2, True)
    assert ble_loss(target, device, stored(2)).ok, "the in-flight one may be missing"
    short = ble_loss(target, device, stored(1))
    assert short.missing == 1 and not short.ok
    extra = ble_loss(target, device, stored(4))
    assert extra.unexpected == 1 and not extra.ok
    device.disconnect_reasons = [0x08]  # a supervision timeout: the air marks what it dropped
    assert ble_loss(target, device, stored(2)).missing == 1
