"""Desired state from upstream: validated, applied once, acknowledged in reported state.

Upstream (a clinical system or an operator) publishes one retained JSON document on
``edgetwin/v1/{site}/{gateway}/desired``::

    {"version": 7,
     "patients": {"p-3f9a": {"consciousness": "A", "on_oxygen": true, "spo2_scale": 2}},
     "alarm_limits": [{"vital": "spo2", "side": "low", "threshold": 88, "priority": "medium"}]}

``version`` must grow. Each patient entry is complete: an input it leaves out becomes
unknown (and NEWS2 says so), never a stale value. ``alarm_limits``, when present, replace the
limits of every patient (alarms in force end, marked "limits changed"); when absent, the
limits in force stay. A document is checked whole before anything is applied; a valid one
is applied once (the applied version and document are kept in the buffer, so a restart
re-applies it and never applies an older one), and the outcome is reported as retained
twin state on ``.../twin/{gateway}.desired``: ``{"applied_version", "status", "errors"}``.
Because the desired topic is retained, a gateway that was offline gets the latest document
as soon as it subscribes again.

Device bindings and sampling settings change which drivers run; they are rejected here with
a clear reason (edit the configuration and restart) rather than half-applied.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, replace
from typing import Any

from edge_models.alarms import Limit
from gateway.config import ACVPU, ConfigReader, GatewayConfig, read_limit
from gateway.errors import ConfigError, EdgeTwinError
from gateway.model import ReceiveTime, TwinSnapshot, stream_id_for
from gateway.twin import PatientTwins

log = logging.getLogger(__name__)

NOT_AT_RUNTIME = ("devices", "sampling")


@dataclass(frozen=True, slots=True)
class PatientInputs:
    consciousness: str | None = None
    on_oxygen: bool | None = None
    spo2_scale: int | None = None


@dataclass(frozen=True, slots=True)
class DesiredState:
    version: int
    patients: dict[str, PatientInputs] = field(default_factory=dict)
    alarm_limits: tuple[Limit, ...] | None = None


def desired_topic(site: str, gateway: str) -> str:
    return f"edgetwin/v1/{site}/{gateway}/desired"


def parse_desired(payload: bytes, patients: set[str]) -> DesiredState:
    """Validate a whole document; raise ``ValueError`` naming the first problem."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("the document must be a JSON object")
    unknown = set(doc) - {"version", "patients", "alarm_limits", *NOT_AT_RUNTIME}
    if unknown:
        raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
    for key in NOT_AT_RUNTIME:
        if key in doc:
            raise ValueError(
                f"{key}: cannot change at run time; edit the configuration and restart"
            )
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version: a positive integer, got {version!r}")
    inputs: dict[str, PatientInputs] = {}
    raw_patients = doc.get("patients", {})
    if not isinstance(raw_patients, dict):
        raise ValueError("patients: an object keyed by patient id")
    for pid, entry in raw_patients.items():
        if pid not in patients:
            raise ValueError(f"patients.{pid}: not a patient of this gateway")
        inputs[pid] = _patient_inputs(pid, entry)
    limits: tuple[Limit, ...] | None = None
    if "alarm_limits" in doc:
        raw_limits = doc["alarm_limits"]
        if not isinstance(raw_limits, list) or not all(isinstance(x, dict) for x in raw_limits):
            raise ValueError("alarm_limits: a list of limit objects")
        reader = ConfigReader(f"desired state v{version}")
        try:
            limits = tuple(
                read_limit(reader, x, f"alarm_limits[{i}]") for i, x in enumerate(raw_limits)
            )
        except ConfigError as exc:
            raise ValueError(f"{exc.key}: {exc.expected}") from None
    return DesiredState(version, inputs, limits)


def _patient_inputs(pid: str, entry: Any) -> PatientInputs:
    if not isinstance(entry, dict):
        raise ValueError(f"patients.{pid}: an object")
    extra = set(entry) - {"consciousness", "on_oxygen", "spo2_scale"}
    if extra:
        raise ValueError(f"patients.{pid}: unknown keys {', '.join(sorted(extra))}")
    c = entry.get("consciousness")
    if c is not None and c not in ACVPU:
        raise ValueError(f"patients.{pid}.consciousness: one of {', '.join(ACVPU)}")
    o = entry.get("on_oxygen")
    if o is not None and not isinstance(o, bool):
        raise ValueError(f"patients.{pid}.on_oxygen: true, false or null")
    s = entry.get("spo2_scale")
    if s is not None and s not in (1, 2):
        raise ValueError(f"patients.{pid}.spo2_scale: 1 or 2")
    return PatientInputs(c, o, s)


def apply(state: DesiredState, twins: PatientTwins, now: ReceiveTime) -> list[Any]:
    """Apply a validated document to the twins; return records to store (alarm ends)."""
    for pid, inputs in state.patients.items():
        current = twins.manual[pid]
        twins.manual[pid] = replace(
            current,
            consciousness=inputs.consciousness,
            on_oxygen=inputs.on_oxygen,
            spo2_scale=inputs.spo2_scale or current.spo2_scale,
        )
    if state.alarm_limits is not None:
        return list(twins.set_limits(state.alarm_limits, now))
    return []


class DesiredStateHandler:
    """Receives desired-state messages (from the uplink) and applies them in order."""

    def __init__(self, config: GatewayConfig, twins: PatientTwins, put: Any, meta: Any) -> None:
        self.config = config
        self.twins = twins
        self.put = put  # async (record) -> None: the pipeline's put
        self.meta = meta  # async (dict[str, str]) -> None: buffer.set_meta
        self.applied_version = 0
        self.patients = {p.id for p in config.patients}

    async def restore(self, version: str | None, document: str | None) -> None:
        """Re-apply the last applied document after a restart (it is in the buffer)."""
        if not version or not document:
            return
        try:
            state = parse_desired(document.encode(), self.patients)
        except ValueError as exc:
            log.warning(
                "stored desired state v%s no longer valid (%s); ignoring it", version, _for_log(exc)
            )
            return
        for record in apply(state, self.twins, ReceiveTime.now()):
            await self.put(record)
        self.applied_version = state.version

    async def handle(self, topic: str, payload: bytes) -> None:
        if not payload:
            return  # a cleared retained message
        now = ReceiveTime.now()
        try:
            state = parse_desired(payload, self.patients)
        except ValueError as exc:
            log.warning("desired state rejected: %s", _for_log(exc))
            await self._report(None, "rejected", [str(exc)], now)
            return
        if state.version <= self.applied_version:
            return  # already applied (a retained copy after reconnect), or older
        try:
            for record in apply(state, self.twins, now):
                await self.put(record)
            await self.meta(
                {"desired_version": str(state.version), "desired_doc": payload.decode()}
            )
        except (ValueError, EdgeTwinError) as exc:
            log.warning("desired state v%d could not be applied: %s", state.version, _for_log(exc))
            await self._report(state.version, "rejected", [str(exc)], now)
            return
        self.applied_version = state.version
        log.info("desired state v%d applied", state.version)
        await self._report(state.version, "applied", [], now)

    async def _report(
        self, version: int | None, status: str, errors: list[str], now: ReceiveTime
    ) -> None:
        gw = self.config.gateway_id
        await self.put(
            TwinSnapshot(
                stream_id=stream_id_for(gw, "desired"),
                patient_id="",
                state={
                    "applied_version": self.applied_version if status != "applied" else version,
                    "received_version": version,
                    "status": status,
                    "errors": errors,
                },
                received=now,
            )
        )


_PATIENT_PATH = re.compile(r"patients\.[^.:\s]+")


def _for_log(exc: BaseException) -> str:
    """The error for the log, with patient ids replaced (logs carry no patient identifiers;
    the full message still goes upstream in the reported state)."""
    return _PATIENT_PATH.sub("patients.<patient>", str(exc))
