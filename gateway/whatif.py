"""What-if replay: recorded vitals through two alarm/NEWS2 policies, side by side.

A *policy* is what a gateway configuration says about alarms and NEWS2: ``[alarms]``
(enabled, limits; none = the twin's adult ward defaults), ``[twin] stale_after_s`` and the
``[[patients]]`` manual inputs (consciousness, oxygen, SpO2 scale). A policy file is a
gateway TOML file, or just those tables of one (the rest is filled in before the gateway's
own validation runs, so errors read exactly as ``edgetwin run`` would print them).

*Observations* are valid numeric samples per (patient, vital) with a time in seconds: from
a PhysioNet MIMIC-II numerics CSV (one row per minute, scenario time), from the outbox of a
gateway's buffer, or from the JSON lines ``edgetwin buffer export`` writes (receive times).

The replay uses :mod:`edge_models.alarms` and :mod:`edge_models.news2` as the live patient
twin does (:mod:`gateway.twin`): each cell holds its latest valid value until it is older
than ``stale_after_s``. Instead of stepping on a clock it steps on *events* only: sample
times, the instant a running onset or clear delay expires, and the instant a held value goes
stale (1 ms after its limit). Between events nothing can change, so this is the continuous
time answer, deterministic and independent of the machine's speed. Nobody acknowledges in a
replay: a latching alarm stays until the end of the data. Technical alarms are not replayed
(their settings are not part of a policy, so both sides would be equal).
"""

from __future__ import annotations

import csv
import json
import math
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from edge_models import alarms, news2
from gateway import envelope
from gateway.config import Patient, TwinConfig, parse_config
from gateway.errors import ConfigError, EdgeTwinError
from gateway.model import AlarmPriority
from gateway.twin import DEFAULT_LIMITS, VITALS
from hil.serial_sim.scenario import physionet_numerics

#: Columns of the observation grid: the patient twin's vitals, in its order.
VITAL_NAMES: Final = tuple(v.name for v in VITALS)
_COLUMN_OF_CODE: Final = {code: i for i, v in enumerate(VITALS) for code in v.codes}
#: A held value goes stale this long after ``stale_after_s`` (the twin: ``age > limit``).
STALE_EPS_S: Final = 1e-3
PRIORITIES: Final = (AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW)
_FILLER_GATEWAY: Final = "whatif"
_FILLER_PATIENT: Final = "whatif-placeholder"
_FILLER_DEVICE: Final = "whatif-placeholder-device"
_RECORD_PATIENT: Final = "record"
_RECORD_ROW_S: Final = 60.0  # MIMIC-II numerics: one row per minute


class WhatifError(EdgeTwinError):
    """The data to replay cannot be read or selected (the message says why)."""


# -- policies --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Policy:
    """The alarm and NEWS2 settings of one configuration."""

    name: str
    limits: tuple[alarms.Limit, ...]
    alarms_enabled: bool = True
    stale_after_s: float = TwinConfig().stale_after_s
    patients: Mapping[str, Patient] = field(default_factory=dict)
    data_dir: Path | None = None  # the file's [gateway] data_dir, if it has one


def default_policy(patients: Mapping[str, Patient] | None = None) -> Policy:
    """The built-in adult ward defaults (the twin's), with the given NEWS2 inputs."""
    return Policy("built-in defaults", DEFAULT_LIMITS, patients=dict(patients or {}))


def load_policy(path: str | Path) -> Policy:
    """Read a policy file; raise :class:`ConfigError` (file, key, expectation) if invalid."""
    path = Path(path)
    name = str(path)
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(name, "(file)", "file does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(name, "(syntax)", f"valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, "(file)", f"a readable UTF-8 file ({exc})") from None
    has_gateway = isinstance(raw.get("gateway"), dict)
    doc = dict(raw)
    doc.setdefault("gateway", {"id": _FILLER_GATEWAY})
    if "devices" not in doc:
        patients = doc.get("patients")
        filler: list[dict[str, Any]] = []
        if not patients:
            filler = [{"id": _FILLER_PATIENT}]
            doc["patients"] = filler
        first = filler[0] if filler else patients[0] if isinstance(patients, list) else {}
        pid = first.get("id") if isinstance(first, dict) else None
        doc["devices"] = [{"id": _FILLER_DEVICE, "kind": "synthetic", "patient": pid}]
    cfg = parse_config(doc, name, base_dir=path.parent)
    return Policy(
        name=name,
        limits=cfg.alarm_limits or DEFAULT_LIMITS,
        alarms_enabled=cfg.alarms_enabled,
        stale_after_s=cfg.twin.stale_after_s,
        patients={p.id: p for p in cfg.patients if p.id != _FILLER_PATIENT},
        data_dir=cfg.data_dir if has_gateway and "data_dir" in raw["gateway"] else None,
    )


# -- observations ----------------------------------------------------------------------------

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True, eq=False)
class Observations:
    """Valid samples sorted by time (stable): ``t_s[i]``, cell ``(row[i], col[i])``.

    ``col`` indexes :data:`VITAL_NAMES`. ``epoch_ns`` is the wall-clock time of ``t = 0``
    (``None`` when the data have scenario time only, like the PhysioNet records).
    """

    source: str
    patients: tuple[str, ...]
    t_s: FloatArray
    row: IntArray
    col: IntArray
    value: FloatArray
    epoch_ns: int | None = None
    invalid: int = 0  # samples dropped: no value or a quality flag

    @property
    def start_s(self) -> float:
        return float(self.t_s[0]) if len(self.t_s) else 0.0

    @property
    def end_s(self) -> float:
        return float(self.t_s[-1]) if len(self.t_s) else 0.0

    def since(self, t_s: float) -> Observations:
        """Only the samples at or after ``t_s`` (earlier ones do not prime the state)."""
        keep = self.t_s >= t_s
        return Observations(
            self.source,
            self.patients,
            self.t_s[keep],
            self.row[keep],
            self.col[keep],
            self.value[keep],
            self.epoch_ns,
            self.invalid,
        )


def _build(
    source: str,
    samples: Iterable[tuple[str, int, float, float]],
    epoch_ns: int | None,
    invalid: int,
) -> Observations:
    """From ``(patient, column, t_s, value)`` in arrival order."""
    patients: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    times: list[float] = []
    values: list[float] = []
    for patient, col, t, value in samples:
        rows.append(patients.setdefault(patient, len(patients)))
        cols.append(col)
        times.append(t)
        values.append(value)
    t_arr = np.array(times, dtype=np.float64)
    order = np.argsort(t_arr, kind="stable")
    return Observations(
        source,
        tuple(patients),
        t_arr[order],
        np.array(rows, dtype=np.intp)[order],
        np.array(cols, dtype=np.intp)[order],
        np.array(values, dtype=np.float64)[order],
        epoch_ns,
        invalid,
    )


def read_physionet(path: str | Path, patient: str = _RECORD_PATIENT) -> Observations:
    """A MIMIC-II numerics CSV (``derived_*_numerics_per_minute.csv``), row ``i`` at ``60 i`` s.

    Zeros and empty cells are missing (the monitor had no signal). NBP systolic feeds
    ``sbp``; the records have no temperature.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="ascii") as f:
            n_rows = sum(1 for _ in csv.reader(f)) - 1
        scenario = physionet_numerics(path, _RECORD_ROW_S)
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise WhatifError(f"cannot read PhysioNet numerics {path}: {exc}") from exc
    samples: list[tuple[str, int, float, float]] = []
    missing = 0
    for i in range(n_rows):
        t = i * _RECORD_ROW_S
        v = scenario(t)
        cells = {
            "spo2": v.spo2,
            "pulse": v.pulse,
            "hr": v.hr,
            "rr": v.rr,
            "temp": v.temp,
            "sbp": None if v.nbp is None else v.nbp[0],
        }
        for col, name in enumerate(VITAL_NAMES):
            value = cells[name]
            if value is None:
                missing += 1
            else:
                samples.append((patient, col, t, float(value)))
    return _build(str(path), samples, None, missing)


def read_envelopes(payloads: Iterable[bytes], source: str) -> Observations:
    """Numeric envelopes (any encoding) -> observations; times are receive times."""
    raw: list[tuple[str, int, int, float]] = []
    invalid = 0
    for payload in payloads:
        try:
            body = envelope.decode(payload)
        except Exception as exc:  # any decoder's error: the data are not envelopes
            raise WhatifError(f"{source}: not an EdgeTwin v1 envelope: {exc}") from exc
        if body.get("kind") != "numeric":
            continue
        col = _COLUMN_OF_CODE.get(body.get("mdc", -1))
        patient = body.get("patient")
        samples = body.get("samples")
        if col is None or not isinstance(patient, str) or not isinstance(samples, list):
            continue
        for s in samples:
            value, t_ns = s.get("value"), s.get("t_rx_ns")
            if not isinstance(t_ns, int):
                continue
            if s.get("quality") or not isinstance(value, int | float) or math.isnan(value):
                invalid += 1
                continue
            raw.append((patient, col, t_ns, float(value)))
    if not raw:
        return _build(source, (), None, invalid)
    epoch = min(r[2] for r in raw)
    return _build(source, ((p, c, (t - epoch) / 1e9, v) for p, c, t, v in raw), epoch, invalid)


def read_buffer(data_dir: Path) -> Observations:
    """The numeric envelopes waiting in a gateway's outbox (read-only, safe while it runs).

    Rows leave the outbox once the broker acknowledged them: a gateway that is online
    keeps only its backlog, one with ``[mqtt] enabled = false`` keeps everything.
    """
    from gateway.commands.buffer import open_readonly

    def payloads() -> Iterator[bytes]:
        with open_readonly(data_dir) as db:
            last = 0
            while True:
                rows = db.execute(
                    "SELECT id, payload FROM outbox WHERE id > ? AND kind = 'numeric' "
                    "ORDER BY id LIMIT 500",
                    (last,),
                ).fetchall()
                if not rows:
                    return
                for row_id, payload in rows:
                    last = row_id
                    yield bytes(payload)

    return read_envelopes(payloads(), str(data_dir))


def read_jsonl(path: Path) -> Observations:
    """Envelopes one per line, as ``edgetwin buffer export --format jsonl`` writes them."""
    try:
        lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    except OSError as exc:
        raise WhatifError(f"cannot read {path}: {exc}") from exc
    return read_envelopes(lines, str(path))


def read_record(path: str | Path, patient: str = _RECORD_PATIENT) -> Observations:
    """A PhysioNet numerics CSV, or envelopes as JSON lines (``.jsonl``, ``.ndjson``)."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return read_jsonl(path)
    return read_physionet(path, patient)


# -- replay ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlarmSpan:
    """One physiological alarm of the replay (times in seconds of the observations)."""

    patient: str
    key: str  # condition key, e.g. "spo2.low.1"
    vital: str
    side: str
    priority: AlarmPriority
    start_s: float
    end_s: float | None  # None: still in force at the end of the data
    worst: float

    def stop(self, horizon_s: float) -> float:
        return horizon_s if self.end_s is None else self.end_s


@dataclass(frozen=True, slots=True)
class News2Summary:
    """One patient's NEWS2 over the replay: time per risk band, entries into a band."""

    time_in_band_s: dict[str, float]
    partial_s: float
    escalations: dict[str, int]  # entries into "medium" and "high" (from a lower band)
    max_total: int


@dataclass(frozen=True, slots=True)
class Run:
    policy: Policy
    alarms: tuple[AlarmSpan, ...]
    news2: dict[str, News2Summary]
    steps: int


def replay(obs: Observations, policy: Policy, horizon_s: float | None = None) -> Run:
    """Replay ``obs`` through ``policy`` from the first sample to ``horizon_s`` (default:
    the last sample)."""
    horizon = obs.end_s if horizon_s is None else horizon_s
    patients = obs.patients
    n_p, n_v = len(patients), len(VITAL_NAMES)
    cfg = alarms.build_config(patients, VITAL_NAMES, dict.fromkeys(patients, policy.limits))
    state = alarms.initial_state(cfg)
    last = np.full((n_p, n_v), np.nan)
    last_t = np.full((n_p, n_v), np.nan)
    news = _News2Tracker(patients, policy)
    starts: dict[str, AlarmSpan] = {}
    done: list[AlarmSpan] = []
    stale = policy.stale_after_s
    n, i, steps = len(obs.t_s), 0, 0
    t = -math.inf
    while n_p:
        candidates = [obs.t_s[i]] if i < n else []
        if policy.alarms_enabled:
            candidates.append(_next_deadline(state, t))
        expiry = last_t + stale + STALE_EPS_S
        later = expiry[expiry > t]
        if later.size:
            candidates.append(later.min())
        t_next = float(min(candidates, default=math.inf))
        if not t_next <= horizon:
            break
        t = t_next
        while i < n and obs.t_s[i] <= t:
            r, c = obs.row[i], obs.col[i]
            if not obs.t_s[i] < last_t[r, c]:  # NaN-safe "not older", as the twin
                last[r, c], last_t[r, c] = obs.value[i], obs.t_s[i]
            i += 1
        fresh = ((t - last_t) <= stale) & np.isfinite(last)
        steps += 1
        news.observe(t, np.where(fresh, last, np.nan))
        if not policy.alarms_enabled:
            continue
        state, out = alarms.step(state, t, np.where(fresh, last, np.nan), fresh)
        for a in out:
            _, key, _ = a.alarm_id.split("/")
            col = cfg.physiological.keys.index(key)
            vital = cfg.vitals[int(cfg.vital_index[col])]
            worst = dict(a.values).get("worst", math.nan)
            span = AlarmSpan(
                a.patient_id,
                key,
                vital,
                "low" if cfg.low[col] else "high",
                a.priority,
                a.start_ns / 1e9,
                None if a.end_ns is None else a.end_ns / 1e9,
                worst,
            )
            if a.end_ns is None:
                starts[a.alarm_id] = span
            else:
                starts.pop(a.alarm_id, None)
                done.append(span)
    spans = sorted([*done, *starts.values()], key=lambda s: (s.start_s, s.patient, s.key))
    return Run(policy, tuple(spans), news.finish(max(horizon, t)), steps)


def _next_deadline(state: alarms.AlarmState, t: float) -> float:
    """The earliest running onset or clear delay that expires after ``t``."""
    tr, cs = state.physiological, state.config.physiological
    due = np.where(
        tr.phase == alarms.Phase.PENDING,
        tr.since_s + cs.onset_delay_s,
        np.where(tr.phase == alarms.Phase.CLEARING, tr.since_s + cs.clear_delay_s, np.inf),
    )
    later = due[due > t]
    return float(later.min()) if later.size else math.inf


_BANDS: Final = tuple(r.value for r in news2.RISKS)
_COL = {name: i for i, name in enumerate(VITAL_NAMES)}


class _News2Tracker:
    """Piecewise-constant NEWS2 per patient between replay steps."""

    def __init__(self, patients: Sequence[str], policy: Policy) -> None:
        n = len(patients)
        manual = [policy.patients.get(p) for p in patients]
        self.on_oxygen = np.array(
            [np.nan if m is None or m.on_oxygen is None else float(m.on_oxygen) for m in manual]
        )
        codes = {c.value: float(i) for i, c in enumerate(news2.CONSCIOUSNESS_CODES)}
        self.consciousness = np.array(
            [
                np.nan if m is None or m.consciousness is None else codes[m.consciousness]
                for m in manual
            ]
        )
        self.scale = np.array([1 if m is None else m.spo2_scale for m in manual])
        self.patients = tuple(patients)
        self.time = np.zeros((n, len(_BANDS)))
        self.partial = np.zeros(n)
        self.esc = np.zeros((n, 2), dtype=np.int64)  # into medium, into high
        self.max_total = np.zeros(n, dtype=np.int64)
        self.t: float | None = None
        self.risk = np.zeros(n, dtype=np.int8)
        self.is_partial = np.ones(n, bool)

    def observe(self, t: float, x: FloatArray) -> None:
        self._advance(t)
        pulse = np.where(np.isnan(x[:, _COL["pulse"]]), x[:, _COL["hr"]], x[:, _COL["pulse"]])
        b = news2.score_news2_batch(
            x[:, _COL["rr"]],
            x[:, _COL["spo2"]],
            self.on_oxygen,
            x[:, _COL["sbp"]],
            pulse,
            self.consciousness,
            x[:, _COL["temp"]],
            spo2_scale=self.scale,
        )
        risk = b.risk
        self.esc[:, 0] += (risk >= 2) & (self.risk < 2)
        self.esc[:, 1] += (risk >= 3) & (self.risk < 3)
        self.max_total = np.maximum(self.max_total, b.total)
        self.risk, self.is_partial = risk, b.partial

    def _advance(self, t: float) -> None:
        if self.t is not None and t > self.t:
            dt = t - self.t
            self.time[np.arange(len(self.patients)), self.risk] += dt
            self.partial += np.where(self.is_partial, dt, 0.0)
        self.t = t if self.t is None else max(self.t, t)

    def finish(self, horizon: float) -> dict[str, News2Summary]:
        self._advance(horizon)
        return {
            p: News2Summary(
                {band: float(self.time[k, j]) for j, band in enumerate(_BANDS)},
                float(self.partial[k]),
                {"medium": int(self.esc[k, 0]), "high": int(self.esc[k, 1])},
                int(self.max_total[k]),
            )
            for k, p in enumerate(self.patients)
        }


# -- comparison ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Episode:
    """Overlapping alarms of one patient on one vital and side, merged (all levels)."""

    patient: str
    vital: str
    side: str
    start_s: float
    end_s: float  # the horizon when still in force
    priority: AlarmPriority  # the most urgent reached
    open: bool

    def overlaps(self, other: Episode) -> bool:
        return self.start_s <= other.end_s and other.start_s <= self.end_s


def episodes(spans: Iterable[AlarmSpan], horizon_s: float) -> list[Episode]:
    groups: dict[tuple[str, str, str], list[AlarmSpan]] = {}
    for s in spans:
        groups.setdefault((s.patient, s.vital, s.side), []).append(s)
    out: list[Episode] = []
    for (patient, vital, side), group in groups.items():
        group.sort(key=lambda s: s.start_s)
        current: Episode | None = None
        for s in group:
            end = s.stop(horizon_s)
            if current is not None and s.start_s <= current.end_s:
                current = Episode(
                    patient,
                    vital,
                    side,
                    current.start_s,
                    max(current.end_s, end),
                    min(current.priority, s.priority),
                    current.open or s.end_s is None,
                )
                continue
            if current is not None:
                out.append(current)
            current = Episode(patient, vital, side, s.start_s, end, s.priority, s.end_s is None)
        if current is not None:
            out.append(current)
    out.sort(key=lambda e: (e.patient, e.start_s, e.vital, e.side))
    return out


def union_s(intervals: Iterable[tuple[float, float]]) -> float:
    """Length of the union of closed intervals."""
    total, reach = 0.0, -math.inf
    for a, b in sorted(intervals):
        if b <= reach:
            continue
        total += b - max(a, reach)
        reach = b
    return total


def alarm_table(spans: Sequence[AlarmSpan], patient: str, horizon_s: float) -> dict[str, Any]:
    """Per priority: alarms raised and time with at least one of them in force."""
    mine = [s for s in spans if s.patient == patient]
    table: dict[str, Any] = {}
    for prio in PRIORITIES:
        of = [s for s in mine if s.priority is prio]
        table[prio.name.lower()] = {
            "count": len(of),
            "time_s": round(union_s((s.start_s, s.stop(horizon_s)) for s in of), 3),
        }
    table["any"] = {
        "count": len(mine),
        "time_s": round(union_s((s.start_s, s.stop(horizon_s)) for s in mine), 3),
    }
    return table


def compare(base: Run, cand: Run, obs: Observations, horizon_s: float) -> dict[str, Any]:
    """The report: per patient and priority for both policies, and their differences."""
    eb, ec = episodes(base.alarms, horizon_s), episodes(cand.alarms, horizon_s)
    patients_out = []
    for p in obs.patients:
        pb = [e for e in eb if e.patient == p]
        pc = [e for e in ec if e.patient == p]
        only_b = [e for e in pb if not any(_same(e, o) for o in pc)]
        only_c = [e for e in pc if not any(_same(e, o) for o in pb)]
        changed = []
        matched = 0
        for e in pb:
            others = [o for o in pc if _same(e, o)]
            if others:
                matched += 1
                top = min(o.priority for o in others)
                if top is not e.priority:
                    changed.append({**_episode_dict(e), "candidate_priority": top.name.lower()})
        patients_out.append(
            {
                "patient": p,
                "baseline": {
                    "alarms": alarm_table(base.alarms, p, horizon_s),
                    "news2": _news2_dict(base.news2[p]),
                },
                "candidate": {
                    "alarms": alarm_table(cand.alarms, p, horizon_s),
                    "news2": _news2_dict(cand.news2[p]),
                },
                "differences": {
                    "episodes_in_both": matched,
                    "only_baseline": [_episode_dict(e) for e in only_b],
                    "only_candidate": [_episode_dict(e) for e in only_c],
                    "priority_changed": changed,
                },
            }
        )
    return {
        "source": {
            "path": obs.source,
            "patients": len(obs.patients),
            "samples": len(obs.t_s),
            "samples_invalid": obs.invalid,
            "start_s": obs.start_s,
            "end_s": horizon_s,
            "duration_s": horizon_s - obs.start_s,
            "epoch_ns": obs.epoch_ns,
        },
        "baseline": _policy_dict(base),
        "candidate": _policy_dict(cand),
        "totals": {
            side: _totals(run, obs.patients, horizon_s)
            for side, run in (("baseline", base), ("candidate", cand))
        },
        "patients": patients_out,
    }


def _same(a: Episode, b: Episode) -> bool:
    return a.vital == b.vital and a.side == b.side and a.overlaps(b)


def _episode_dict(e: Episode) -> dict[str, Any]:
    return {
        "vital": e.vital,
        "side": e.side,
        "priority": e.priority.name.lower(),
        "start_s": e.start_s,
        "end_s": e.end_s,
        "open": e.open,
    }


def _news2_dict(s: News2Summary) -> dict[str, Any]:
    return {
        "time_in_band_s": {k: round(v, 3) for k, v in s.time_in_band_s.items()},
        "partial_s": round(s.partial_s, 3),
        "escalations": s.escalations,
        "max_total": s.max_total,
    }


def _policy_dict(run: Run) -> dict[str, Any]:
    p = run.policy
    return {
        "name": p.name,
        "alarms_enabled": p.alarms_enabled,
        "limits": len(p.limits),
        "stale_after_s": p.stale_after_s,
        "replay_steps": run.steps,
    }


def _totals(run: Run, patients: Sequence[str], horizon_s: float) -> dict[str, Any]:
    tables = [alarm_table(run.alarms, p, horizon_s) for p in patients]
    return {
        prio: {
            "count": sum(t[prio]["count"] for t in tables),
            "time_s": round(sum(t[prio]["time_s"] for t in tables), 3),
        }
        for prio in ("high", "medium", "low", "any")
    }


def whatif(
    obs: Observations, baseline: Policy, candidate: Policy, since_s: float | None = None
) -> dict[str, Any]:
    """Replay both policies over ``obs`` (from ``since_s``) and compare them."""
    if since_s is not None:
        obs = obs.since(since_s)
    if not len(obs.t_s):
        raise WhatifError(f"{obs.source}: no valid vital-sign samples to replay")
    horizon = obs.end_s
    return compare(replay(obs, baseline, horizon), replay(obs, candidate, horizon), obs, horizon)


# -- presentation ----------------------------------------------------------------------------


def parse_since(text: str, epoch_ns: int | None) -> float:
    """``--since``: an offset from the start of the data (``90``, ``90s``, ``45m``, ``2h``)
    or, for data with wall-clock times, an ISO 8601 time (UTC unless it says otherwise)."""
    s = text.strip()
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    number, unit = (s[:-1], units[s[-1]]) if s and s[-1] in units else (s, 1.0)
    try:
        value = float(number)
    except ValueError:
        pass
    else:
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"--since must be a time or an offset >= 0, got {text!r}")
        return value * unit
    try:
        when = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(
            f"--since must be an offset like 2h or 90m, or an ISO 8601 time, got {text!r}"
        ) from None
    if epoch_ns is None:
        raise ValueError("--since: this record has no wall-clock times; give an offset like 2h")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (round(when.timestamp() * 1e9) - epoch_ns) / 1e9


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _when(t_s: float, epoch_ns: int | None) -> str:
    if epoch_ns is None:
        return f"+{_clock(t_s)}"
    return datetime.fromtimestamp((epoch_ns + t_s * 1e9) / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_report(report: Mapping[str, Any], max_listed: int = 10) -> str:
    """A table per patient and priority, then the differences, for people."""
    src = report["source"]
    epoch = src["epoch_ns"]
    lines = [
        f"what-if on {src['path']}: {src['patients']} patient(s), {src['samples']} samples, "
        f"{_clock(src['duration_s'])} of data",
        f"baseline:  {report['baseline']['name']}",
        f"candidate: {report['candidate']['name']}",
        "",
        f"{'patient':<16} {'priority':<8} {'baseline':>9} {'time':>9} {'candidate':>10} "
        f"{'time':>9} {'change':>7}",
    ]
    rows = [
        (p["patient"], p["baseline"]["alarms"], p["candidate"]["alarms"])
        for p in report["patients"]
    ]
    rows.append(("all patients", report["totals"]["baseline"], report["totals"]["candidate"]))
    for name, b, c in rows:
        for prio in ("high", "medium", "low", "any"):
            delta = c[prio]["count"] - b[prio]["count"]
            lines.append(
                f"{name:<16} {prio:<8} {b[prio]['count']:>9} {_clock(b[prio]['time_s']):>9} "
                f"{c[prio]['count']:>10} {_clock(c[prio]['time_s']):>9} {delta:>+7}"
            )
    for p in report["patients"]:
        d = p["differences"]
        lines += [
            "",
            f"{p['patient']}: {d['episodes_in_both']} alarm episode(s) in both, "
            f"{len(d['only_baseline'])} only in baseline, {len(d['only_candidate'])} only in "
            f"candidate, {len(d['priority_changed'])} with another priority",
        ]
        for label, items in (
            ("only baseline", d["only_baseline"]),
            ("only candidate", d["only_candidate"]),
            ("priority", d["priority_changed"]),
        ):
            for e in items[:max_listed]:
                extra = f" -> {e['candidate_priority']}" if "candidate_priority" in e else ""
                lines.append(
                    f"  {label:<14} {e['vital']} {e['side']:<4} {e['priority']}{extra} at "
                    f"{_when(e['start_s'], epoch)} for {_clock(e['end_s'] - e['start_s'])}"
                    + (" (still in force)" if e["open"] else "")
                )
            if len(items) > max_listed:
                lines.append(f"  {label:<14} ... and {len(items) - max_listed} more (see --json)")
        for side in ("baseline", "candidate"):
            n2 = p[side]["news2"]
            band = n2["time_in_band_s"]
            lines.append(
                f"  NEWS2 {side:<9} medium {_clock(band['medium'])}, high {_clock(band['high'])}"
                f", low-medium {_clock(band['low-medium'])}; escalations to medium "
                f"{n2['escalations']['medium']}, to high {n2['escalations']['high']}; "
                f"partial {_clock(n2['partial_s'])}"
            )
    return "\n".join(lines)


def to_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, allow_nan=False)


__all__ = [
    "VITAL_NAMES",
    "AlarmSpan",
    "Episode",
    "News2Summary",
    "Observations",
    "Policy",
    "Run",
    "WhatifError",
    "alarm_table",
    "compare",
    "default_policy",
    "episodes",
    "format_report",
    "load_policy",
    "parse_since",
    "read_buffer",
    "read_envelopes",
    "read_jsonl",
    "read_physionet",
    "read_record",
    "replay",
    "to_json",
    "union_s",
    "whatif",
]
