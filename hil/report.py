"""Bench report: evaluate a scenario's ``[[expect]]`` against what the gateway stored.

Pure functions over an :class:`Observation` (the samples the gateway published or kept in
its outbox, per stream, plus the emulators' counts); :mod:`hil.runner` collects them. Times
in the report are scenario seconds: a wall-clock stamp ``t_ns`` is
``(t_ns - wall0_ns) * speed / 1e9``.

* ``alarm``: a physiological alarm on the vital (and priority) raised in the window;
  latency is the raise time minus the first time the scenario's value crossed a matching
  gateway limit at or after ``after_s``.
* ``no_alarm``: no physiological alarm on the vital raised in the window.
* ``news2_risk``: a twin snapshot in the window with that NEWS2 risk band.
* ``technical_alarm``: a technical alarm (or a driver's technical-alarm event) whose text
  contains ``text``; latency from the battery crossing the low limit (text about battery)
  or from the first link/stall/sensor event in the window.
* ``maintenance``: a device-twin maintenance alert (a TECHNICAL_ALARM event on
  ``<device>.maintenance``) whose text contains ``text``, raised in the window; latency
  from the window's start. The runner puts the device twin on scenario time, so its
  battery, drift and link models keep their real-time behaviour in an accelerated run.
* ``no_loss``: every message an emulator delivered was stored exactly once, nothing lost
  or damaged was stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from edge_models.alarms import Limit, Side
from hil.scenarios.engine import Scenario

PASS, FAIL, NOT_EVALUATED = "pass", "fail", "not evaluated"
#: Scenario vital -> the patient twin's vital (alarm conditions are "<twin vital> ...").
TWIN_VITAL: Mapping[str, str] = {
    "spo2": "spo2",
    "pulse_rate": "pulse",
    "heart_rate": "hr",
    "resp_rate": "rr",
    "temperature": "temp",
    "systolic": "sbp",
}
BATTERY_LOW_PERCENT = 20.0  # gateway.twin.BATTERY_LOW_PERCENT
CAUSES = ("link_drop", "stall", "sensor_off", "noisy_line")
#: Words of a technical alarm's text -> the scenario events that can cause it.
CAUSE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("disconnect", ("link_drop", "stall")),
    ("link", ("link_drop", "stall")),
    ("silen", ("stall", "link_drop")),
    ("no data", ("stall", "link_drop")),
    ("sensor", ("sensor_off",)),
)

Samples = dict[str, list[dict[str, Any]]]


@dataclass
class Loss:
    """Messages one target sent versus what the gateway stored."""

    target: str
    sent: int = 0  # messages the emulator produced
    delivered: int = 0  # reached the gateway whole: must be stored exactly once
    uncertain: int = 0  # may or may not be stored (next to a fault)
    stored: int = 0
    missing: int = 0  # delivered but not stored
    unexpected: int = 0  # stored though lost/damaged, or never sent
    duplicates: int = 0
    note: str = ""

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.duplicates)


@dataclass
class Observation:
    """What one scenario run produced (input of :func:`evaluate`)."""

    scenario: str
    rig: str
    speed: float
    wall0_ns: int  # wall clock at scenario time 0
    patient: str
    samples: Samples
    losses: list[Loss] = field(default_factory=list)
    actions: list[tuple[float, str, str]] = field(default_factory=list)  # (t, target, what)
    targets: dict[str, str] = field(default_factory=dict)  # target id -> transport
    wall_s: float = 0.0
    skipped: str = ""  # reason when the run could not happen (hardware absent)

    def t(self, wall_ns: int) -> float:
        """Scenario seconds of a wall-clock stamp."""
        return (wall_ns - self.wall0_ns) * self.speed / 1e9


@dataclass
class Check:
    kind: str
    status: str
    detail: str
    expect: dict[str, Any]
    at_s: float | None = None
    latency_s: float | None = None


@dataclass
class ScenarioResult:
    scenario: str
    rig: str
    speed: float
    duration_s: float
    wall_s: float
    status: str  # pass | fail | skipped
    checks: list[Check]
    losses: list[Loss]
    reconnects_s: dict[str, list[float]]
    alarms: list[dict[str, Any]]
    skipped: str = ""

    @property
    def passed(self) -> bool:
        return self.status != FAIL


# -------------------------------------------------------------------- evaluation


def alarm_starts(obs: Observation) -> list[dict[str, Any]]:
    """Alarm start records of the patient, with their raise time in scenario seconds."""
    out = []
    for s in obs.samples.get(f"{obs.patient}.alarms", []):
        if s.get("end_ns") is None and "alarm_id" in s:
            out.append({**s, "t_s": round(obs.t(int(s["t_rx_ns"])), 3)})
    return sorted(out, key=lambda a: a["t_s"])


def _vital_of(alarm: Mapping[str, Any]) -> str:
    return str(alarm.get("condition", "")).split(" ", 1)[0]


def crossing(
    engine: Scenario, vital: str, limits: Iterable[Limit], t0: float, t1: float, step: float = 0.5
) -> float | None:
    """First scenario time in ``[t0, t1]`` where ``vital`` violates one of ``limits``."""
    lims = [lim for lim in limits if lim.vital == TWIN_VITAL.get(vital)]
    t = t0
    while t <= t1 and lims:
        v = engine.value(vital, t)
        if v is not None:
            for lim in lims:
                if (v < lim.threshold) if lim.side is Side.LOW else (v > lim.threshold):
                    return t
        t += step
    return None


def _window(ex: Mapping[str, Any]) -> tuple[float, float]:
    after = float(ex.get("after_s", 0.0))
    return after, after + float(ex.get("within_s", 0.0))


def _check_alarm(
    engine: Scenario, ex: dict[str, Any], obs: Observation, limits: Sequence[Limit]
) -> Check:
    t0, t1 = _window(ex)
    vital = str(ex["vital"])
    twin = TWIN_VITAL.get(vital)
    priority = ex.get("priority")
    what = f"{vital} alarm" + (f" ({priority})" if priority else "")
    if twin is None:
        return Check("alarm", NOT_EVALUATED, f"the gateway has no alarm on {vital}", ex)
    matching = [
        a
        for a in alarm_starts(obs)
        if a.get("alarm_kind") == "physiological"
        and _vital_of(a) == twin
        and (priority is None or a.get("priority") == priority)
    ]
    inside = [a for a in matching if t0 <= a["t_s"] <= t1]
    if not inside:
        others = ", ".join(f"{a['t_s']:.1f} s" for a in matching[:3]) or "none at all"
        return Check("alarm", FAIL, f"no {what} raised in {t0:g}-{t1:g} s (raised: {others})", ex)
    first = inside[0]
    lims = [lim for lim in limits if priority is None or lim.priority.name.lower() == priority]
    cross = crossing(engine, vital, lims, t0, t1)
    latency = None if cross is None else round(first["t_s"] - cross, 3)
    detail = f"{first['condition']} ({first['priority']}) at {first['t_s']:.1f} s"
    if latency is not None:
        detail += f", {latency:.1f} s after the value crossed the limit at {cross:.1f} s"
    return Check("alarm", PASS, detail, ex, first["t_s"], latency)


def _check_no_alarm(ex: dict[str, Any], obs: Observation) -> Check:
    t0, t1 = _window(ex)
    vital = str(ex["vital"])
    twin = TWIN_VITAL.get(vital, vital)
    bad = [
        a
        for a in alarm_starts(obs)
        if a.get("alarm_kind") == "physiological" and _vital_of(a) == twin and t0 <= a["t_s"] <= t1
    ]
    if bad:
        listed = "; ".join(f"{a['condition']} at {a['t_s']:.1f} s" for a in bad[:3])
        return Check("no_alarm", FAIL, f"{len(bad)} {vital} alarm(s): {listed}", ex, bad[0]["t_s"])
    return Check("no_alarm", PASS, f"no {vital} alarm in {t0:g}-{t1:g} s", ex)


def _check_news2(ex: dict[str, Any], obs: Observation) -> Check:
    t0, t1 = _window(ex)
    risk = str(ex["risk"])
    seen: list[tuple[float, str, bool]] = []
    for s in obs.samples.get(f"{obs.patient}.twin", []):
        score = s.get("state", {}).get("news2")
        if not isinstance(score, dict):
            continue
        t = obs.t(int(s["t_rx_ns"]))
        if t0 <= t <= t1:
            seen.append((t, str(score.get("risk")), bool(score.get("partial"))))
    hit = next((x for x in seen if x[1] == risk), None)
    if hit is None:
        bands = sorted({x[1] for x in seen}) or ["no snapshot"]
        return Check(
            "news2_risk", FAIL, f"NEWS2 never {risk} in {t0:g}-{t1:g} s (seen: {bands})", ex
        )
    partial = " (partial)" if hit[2] else ""
    detail = f"NEWS2 risk {risk}{partial} first at {hit[0]:.1f} s"
    return Check("news2_risk", PASS, detail, ex, round(hit[0], 3))


def _technical(obs: Observation) -> list[tuple[float, str]]:
    """(scenario time, text) of technical alarms and of drivers' technical-alarm events."""
    out = [
        (a["t_s"], str(a.get("condition", "")))
        for a in alarm_starts(obs)
        if a.get("alarm_kind") == "technical"
    ]
    for target in obs.targets:
        for s in obs.samples.get(f"{target}.events", []):
            if s.get("event") == "technical_alarm":
                out.append((obs.t(int(s["t_rx_ns"])), f"{target}: {s.get('detail', '')}"))
    return sorted(out)


def _cause(engine: Scenario, text: str, t0: float, t1: float) -> float | None:
    if "battery" in text.lower():
        t = t0
        while t <= t1:
            level = engine.battery(t)
            if level is not None and level < BATTERY_LOW_PERCENT:
                return t
            t += 0.5
        return None
    lowered = text.lower()
    kinds = next((k for word, k in CAUSE_WORDS if word in lowered), CAUSES)
    for e in engine.events:
        start, end = e["at_s"], e["at_s"] + e.get("duration_s", 0.0)
        if e["kind"] in kinds and start <= t1 and end >= t0:
            return float(max(start, t0))
    return None


def _first_match(
    kind: str, what: str, ex: dict[str, Any], events: list[tuple[float, str]]
) -> tuple[float, str] | Check:
    """The first of ``events`` (scenario time, text) whose text contains the expectation's
    ``text`` inside its window; else the failing check, naming matches outside the window."""
    t0, t1 = _window(ex)
    text = str(ex["text"])
    found = [(t, msg) for t, msg in events if text.lower() in msg.lower()]
    inside = [x for x in found if t0 <= x[0] <= t1]
    if inside:
        return inside[0]
    others = ", ".join(f"{m!r} at {t:.1f} s" for t, m in found[:3]) or "none"
    return Check(
        kind,
        FAIL,
        f"no {what} with {text!r} in {t0:g}-{t1:g} s (matching elsewhere: {others})",
        ex,
    )


def _check_technical(engine: Scenario, ex: dict[str, Any], obs: Observation) -> Check:
    hit = _first_match("technical_alarm", "technical alarm", ex, _technical(obs))
    if isinstance(hit, Check):
        return hit
    t, msg = hit
    t0, t1 = _window(ex)
    cause = _cause(engine, str(ex["text"]), t0, t1)
    latency = None if cause is None else round(t - cause, 3)
    detail = f"{msg!r} at {t:.1f} s"
    if latency is not None:
        detail += f", {latency:.1f} s after its cause at {cause:.1f} s"
    return Check("technical_alarm", PASS, detail, ex, round(t, 3), latency)


def maintenance_alerts(obs: Observation) -> list[tuple[float, str]]:
    """(scenario time, "<device>: <text>") of the device twins' maintenance alerts."""
    out = []
    for stream, samples in obs.samples.items():
        device, _, leaf = stream.rpartition(".")
        if leaf != "maintenance":
            continue
        for s in samples:
            if s.get("event") == "technical_alarm":
                out.append((obs.t(int(s["t_rx_ns"])), f"{device}: {s.get('detail', '')}"))
    return sorted(out)


def _check_maintenance(ex: dict[str, Any], obs: Observation) -> Check:
    hit = _first_match("maintenance", "maintenance alert", ex, maintenance_alerts(obs))
    if isinstance(hit, Check):
        return hit
    t, msg = hit
    into = t - _window(ex)[0]
    detail = f"{msg!r} at {t:.1f} s, {into:.1f} s into the window"
    return Check("maintenance", PASS, detail, ex, round(t, 3), round(into, 3))


def _check_loss(ex: dict[str, Any], obs: Observation) -> Check:
    if not obs.losses:
        return Check("no_loss", NOT_EVALUATED, "no emulator ledger (hardware rig)", ex)
    bad = [lo for lo in obs.losses if not lo.ok]
    unknown = [lo.target for lo in obs.losses if lo.note.startswith(NOT_EVALUATED)]
    if bad:
        parts = [
            f"{lo.target}: {lo.missing} missing, {lo.unexpected} unexpected, "
            f"{lo.duplicates} duplicated"
            for lo in bad
        ]
        return Check("no_loss", FAIL, "; ".join(parts), ex)
    total = sum(lo.delivered for lo in obs.losses)
    extra = f" ({', '.join(unknown)} not counted)" if unknown else ""
    return Check("no_loss", PASS, f"all {total} delivered messages stored once{extra}", ex)


def reconnects(obs: Observation, until_s: float = float("inf")) -> dict[str, list[float]]:
    """Per target: scenario seconds from each ``disconnected`` event (up to ``until_s``, the
    end of the scenario) to the next ``connected``."""
    out: dict[str, list[float]] = {}
    for target in obs.targets:
        down: float | None = None
        times: list[float] = []
        events = sorted(obs.samples.get(f"{target}.events", []), key=lambda s: s["t_rx_ns"])
        for s in events:
            t = obs.t(int(s["t_rx_ns"]))
            if s.get("event") == "disconnected" and down is None and t <= until_s:
                down = t
            elif s.get("event") == "connected" and down is not None:
                times.append(round(t - down, 3))
                down = None
        if times:
            out[target] = times
    return out


def evaluate(engine: Scenario, obs: Observation, limits: Sequence[Limit]) -> ScenarioResult:
    """Check every expectation of ``engine`` against ``obs``."""
    checks: list[Check] = []
    if not obs.skipped:
        for ex in engine.expects:
            kind = ex["kind"]
            if kind == "alarm":
                checks.append(_check_alarm(engine, ex, obs, limits))
            elif kind == "no_alarm":
                checks.append(_check_no_alarm(ex, obs))
            elif kind == "news2_risk":
                checks.append(_check_news2(ex, obs))
            elif kind == "technical_alarm":
                checks.append(_check_technical(engine, ex, obs))
            elif kind == "no_loss":
                checks.append(_check_loss(ex, obs))
            elif kind == "maintenance":
                checks.append(_check_maintenance(ex, obs))
            else:  # the loader refuses unknown kinds; a new kind must be judged here
                checks.append(Check(kind, NOT_EVALUATED, f"no evaluation for {kind!r}", ex))
    status = "skipped" if obs.skipped else (FAIL if any(c.status == FAIL for c in checks) else PASS)
    alarms = [
        {k: a.get(k) for k in ("t_s", "priority", "alarm_kind", "condition")}
        for a in alarm_starts(obs)
    ]
    return ScenarioResult(
        obs.scenario,
        obs.rig,
        obs.speed,
        engine.duration_s,
        round(obs.wall_s, 3),
        status,
        checks,
        obs.losses,
        reconnects(obs, engine.duration_s),
        alarms,
        obs.skipped,
    )


# -------------------------------------------------------------------- output


def to_json(results: Sequence[ScenarioResult]) -> str:
    body = {
        "version": 1,
        "passed": all(r.passed for r in results),
        "scenarios": [asdict(r) for r in results],
    }
    return json.dumps(body, indent=2)


def from_json(text: str) -> list[ScenarioResult]:
    """Results written by :func:`to_json` (``ValueError`` when it is not such a file)."""
    try:
        body = json.loads(text)
        if body.get("version") != 1:
            raise ValueError(
                f"not an edgetwin hil report: unsupported version {body.get('version')!r}"
            )
        return [
            ScenarioResult(
                **{
                    **r,
                    "checks": [Check(**c) for c in r["checks"]],
                    "losses": [Loss(**lo) for lo in r["losses"]],
                }
            )
            for r in body["scenarios"]
        ]
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not an edgetwin hil report: {exc}") from None


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def format_summary(results: Sequence[ScenarioResult]) -> str:
    """A readable summary: one block per scenario, then the overall verdict."""
    lines: list[str] = []
    for r in results:
        head = f"{r.scenario:16} {r.status.upper():7} rig {r.rig}, {r.duration_s:g} s"
        head += f" at {r.speed:g}x in {r.wall_s:.1f} s wall"
        lines.append(head)
        if r.skipped:
            lines.append(f"    skipped: {r.skipped}")
        for c in r.checks:
            mark = {PASS: "ok  ", FAIL: "FAIL", NOT_EVALUATED: "n/e "}.get(c.status, "?   ")
            lat = f" [latency {_fmt(c.latency_s)} s]" if c.latency_s is not None else ""
            lines.append(f"    {mark} {c.kind:16} {c.detail}{lat}")
        for lo in r.losses:
            lines.append(
                f"    loss {lo.target:14} sent {lo.sent}, delivered {lo.delivered}, "
                f"stored {lo.stored}, missing {lo.missing}, unexpected {lo.unexpected}"
                + (f" ({lo.note})" if lo.note else "")
            )
        for target, times in r.reconnects_s.items():
            shown = ", ".join(f"{t:.1f}" for t in times)
            lines.append(f"    reconnects {target}: {shown} s")
    n_fail = sum(not r.passed for r in results)
    verdict = "PASS" if n_fail == 0 else f"FAIL ({n_fail} of {len(results)} scenarios)"
    lines.append(f"suite: {verdict}")
    return "\n".join(lines)
