"""Map one upstream envelope to one HL7 FHIR R4 transaction Bundle (pure: dict in, dict out).

Numeric samples become Observations that follow the core vital-signs profile where a LOINC
code exists, and the HL7 PHD IG (STU2) mapping rules always: MDC coding, category ``phd``,
``device`` -> the sensor Device, gatewayDevice extension -> the gateway Device, measurement
status -> ``dataAbsentReason`` / ``interpretation`` / ``meta.security``. Wave chunks become
Observations with ``valueSampledData`` (PHD RTSA style). Alarm, event, twin and gap envelopes
are not mapped (:func:`to_bundle` returns ``None``): see docs/wire-format.md for why.

Every entry is a conditional create (``request.ifNoneExist``) on an identifier that depends
only on the envelope (gateway, stream and sequence number for Observations), and every
``fullUrl`` is a name-based UUID of that identifier, so a resent envelope maps to the same
Bundle, byte for byte, and creates nothing new on the server.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard
from urllib.parse import quote

from gateway import codes
from gateway.envelope import wave_samples
from gateway.errors import EdgeTwinError
from gateway.model import Quality

MDC_SYSTEM = "urn:iso:std:iso:11073:10101"
LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
PHD_CATEGORY_SYSTEM = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories"
DATA_ABSENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
MEASUREMENT_STATUS_SYSTEM = "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
ACT_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
GATEWAY_DEVICE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
VITALSIGNS_PROFILE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"

#: Identifier systems defined by EdgeTwin.
PATIENT_SYSTEM = "urn:edgetwin:patient"  # value: the pseudonymous patient id
DEVICE_SYSTEM = "urn:edgetwin:device"  # value: "{gateway}/{device}"
GATEWAY_SYSTEM = "urn:edgetwin:gateway"  # value: the gateway id
RECORD_SYSTEM = "urn:edgetwin:record"  # value: "{gateway}/{stream}/{seq}"
QUALITY_SYSTEM = "urn:edgetwin:quality"  # codes: EdgeTwin quality flag names

#: MDC_MOC_VMS_MDS_SIMP (a PHD) and MDC_MOC_VMS_MDS_AHD (the gateway), per the PHD IG.
MDC_MOC_VMS_MDS_SIMP = 65573
MDC_MOC_VMS_MDS_AHD = 531981

#: Envelope kinds that map to FHIR; the others are deliberately not mapped.
MAPPED_KINDS = frozenset({"numeric", "wave"})
UNMAPPED_KINDS = frozenset({"alarm", "event", "twin", "gap"})


class MappingError(EdgeTwinError):
    """An envelope that cannot be mapped (a field is missing or of the wrong type)."""


@dataclass(frozen=True, slots=True)
class LoincMapping:
    """The LOINC coding(s) of one MDC metric, for the UCUM units the profile allows."""

    loinc: tuple[tuple[str, str], ...]  # (code, display), the profile's code first
    units: frozenset[str]  # UCUM codes this mapping (and its profile) accepts
    profile: str | None  # core vital-signs profile URL; None: not a vital sign
    label: str


def _vital(name: str, *loinc: tuple[str, str], units: set[str], label: str) -> LoincMapping:
    profile = f"http://hl7.org/fhir/StructureDefinition/{name}"
    return LoincMapping(tuple(loinc), frozenset(units), profile, label)


_SPO2 = _vital(
    "oxygensat",
    ("2708-6", "Oxygen saturation in Arterial blood"),
    ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
    units={"%"},
    label="SpO2",
)
_HEART_RATE = _vital("heartrate", ("8867-4", "Heart rate"), units={"/min"}, label="Heart rate")
_RESP_RATE = _vital(
    "resprate", ("9279-1", "Respiratory rate"), units={"/min"}, label="Respiratory rate"
)
_BODY_TEMP = _vital(
    "bodytemp", ("8310-5", "Body temperature"), units={"Cel", "[degF]"}, label="Body temperature"
)
_BP_UNITS = {"mm[Hg]"}
# Systolic, diastolic and mean arrive on separate streams (one envelope each), so they are
# mapped as single vital-sign Observations (base profile), not as the 85354-9 panel.
_SYSTOLIC = LoincMapping(
    (("8480-6", "Systolic blood pressure"),), frozenset(_BP_UNITS), VITALSIGNS_PROFILE, "Systolic"
)
_DIASTOLIC = LoincMapping(
    (("8462-4", "Diastolic blood pressure"),), frozenset(_BP_UNITS), VITALSIGNS_PROFILE, "Diastolic"
)
_MEAN_BP = LoincMapping(
    (("8478-0", "Mean blood pressure"),), frozenset(_BP_UNITS), VITALSIGNS_PROFILE, "Mean BP"
)
_WEIGHT = _vital(
    "bodyweight", ("29463-7", "Body weight"), units={"kg", "g", "[lb_av]"}, label="Body weight"
)
_HEIGHT = _vital("bodyheight", ("8302-2", "Body height"), units={"cm", "[in_i]"}, label="Height")
_BMI = _vital("bmi", ("39156-5", "Body mass index (BMI) [Ratio]"), units={"kg/m2"}, label="BMI")
_GLUCOSE_CAP_MASS = LoincMapping(
    (("41653-7", "Glucose [Mass/volume] in Capillary blood by Glucometer"),),
    frozenset({"mg/dL"}),
    None,
    "Glucose",
)
_GLUCOSE_CAP_MOLES = LoincMapping(
    (("14743-9", "Glucose [Moles/volume] in Capillary blood by Glucometer"),),
    frozenset({"mmol/L"}),
    None,
    "Glucose",
)
_GLUCOSE_ISF_MASS = LoincMapping(
    (("99504-3", "Glucose [Mass/volume] in Interstitial fluid"),),
    frozenset({"mg/dL"}),
    None,
    "Glucose (ISF)",
)

_SCADA = 2 << 16

#: MDC code -> LOINC mapping(s); the first whose units contain the envelope's unit is used.
#: A metric not listed here (or with another unit) is sent with its MDC coding only.
LOINC_BY_MDC: dict[int, tuple[LoincMapping, ...]] = {
    150456: (_SPO2,),  # MDC_PULS_OXIM_SAT_O2
    147842: (_HEART_RATE,),  # MDC_ECG_HEART_RATE
    149530: (_HEART_RATE,),  # MDC_PULS_OXIM_PULS_RATE
    149514: (_HEART_RATE,),  # MDC_PULS_RATE
    149522: (_HEART_RATE,),  # MDC_BLD_PULS_RATE_INV
    149546: (_HEART_RATE,),  # MDC_PULS_RATE_NON_INV
    151562: (_RESP_RATE,),  # MDC_RESP_RATE
    _SCADA | 20498: (_RESP_RATE,),  # MDC_AWAY_RESP_RATE (151570)
    150364: (_BODY_TEMP,),  # MDC_TEMP_BODY
    150344: (_BODY_TEMP,),  # MDC_TEMP (bedside-monitor patient temperature; as the twin)
    _SCADA | 19320: (_BODY_TEMP,),  # MDC_TEMP_TYMP (150392)
    _SCADA | 57348: (_BODY_TEMP,),  # MDC_TEMP_RECT (188420)
    _SCADA | 57352: (_BODY_TEMP,),  # MDC_TEMP_ORAL (188424)
    _SCADA | 57356: (_BODY_TEMP,),  # MDC_TEMP_EAR (188428)
    _SCADA | 57380: (_BODY_TEMP,),  # MDC_TEMP_AXILLA (188452)
    150021: (_SYSTOLIC,),  # MDC_PRESS_BLD_NONINV_SYS
    150022: (_DIASTOLIC,),  # MDC_PRESS_BLD_NONINV_DIA
    150023: (_MEAN_BP,),  # MDC_PRESS_BLD_NONINV_MEAN
    188736: (_WEIGHT,),  # MDC_MASS_BODY_ACTUAL
    _SCADA | 57668: (_HEIGHT,),  # MDC_LEN_BODY_ACTUAL (188740)
    _SCADA | 57680: (_BMI,),  # MDC_RATIO_MASS_BODY_LEN_SQ (188752)
    160184: (_GLUCOSE_CAP_MASS, _GLUCOSE_CAP_MOLES),  # MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD
    _SCADA | 29140: (_GLUCOSE_ISF_MASS,),  # MDC_CONC_GLU_ISF (160212)
}

#: MDC reference ids for codes that gateway.codes does not name (display text only).
_MDC_REFERENCE: dict[int, str] = {
    _SCADA | 20498: "MDC_AWAY_RESP_RATE",
    _SCADA | 19320: "MDC_TEMP_TYMP",
    _SCADA | 57348: "MDC_TEMP_RECT",
    _SCADA | 57352: "MDC_TEMP_ORAL",
    _SCADA | 57356: "MDC_TEMP_EAR",
    _SCADA | 57380: "MDC_TEMP_AXILLA",
    _SCADA | 57668: "MDC_LEN_BODY_ACTUAL",
    _SCADA | 57680: "MDC_RATIO_MASS_BODY_LEN_SQ",
    _SCADA | 29140: "MDC_CONC_GLU_ISF",
    MDC_MOC_VMS_MDS_SIMP: "MDC_MOC_VMS_MDS_SIMP",
    MDC_MOC_VMS_MDS_AHD: "MDC_MOC_VMS_MDS_AHD",
}

#: Quality flags that mean "no usable value" (PHD IG: invalid, not-available): the value
#: is left out even when the envelope carries a number.
_NO_VALUE = Quality.INVALID | Quality.UNAVAILABLE

#: dataAbsentReason of a missing value: the first flag present wins (PHD IG precedence:
#: invalid -> error, not-available -> not-performed, measurement ongoing -> temp-unknown).
_ABSENT_REASON: tuple[tuple[Quality, str], ...] = (
    (Quality.INVALID, "error"),
    (Quality.UNAVAILABLE, "not-performed"),
    (Quality.ARTIFACT, "error"),
    (Quality.CALIBRATING, "temp-unknown"),
    (Quality.NOT_UPDATED, "temp-unknown"),
    (Quality.OVER_RANGE, "positive-infinity"),
    (Quality.UNDER_RANGE, "negative-infinity"),
)

#: Quality flags with a PHD IG measurement-status interpretation code.
_MEASUREMENT_STATUS: dict[Quality, str] = {
    Quality.QUESTIONABLE: "questionable",
    Quality.CALIBRATING: "calibration-ongoing",
}
_KNOWN_FLAGS: dict[str, Quality] = {
    f.name.lower(): f for f in Quality if f.name is not None and f.value != 0
}


def loinc_for(mdc_code: int, unit: str) -> LoincMapping | None:
    """The LOINC mapping of a metric in ``unit``, or ``None`` (MDC coding only)."""
    for mapping in LOINC_BY_MDC.get(mdc_code, ()):
        if unit in mapping.units:
            return mapping
    return None


def record_identifier(gateway: str, stream: str, seq: int) -> str:
    """The Observation identifier value of one record: ``{gateway}/{stream}/{seq}``.

    ``/`` cannot occur in an MQTT topic level, so the three parts stay unambiguous.
    """
    return f"{gateway}/{stream}/{seq}"


def if_none_exist(system: str, value: str) -> str:
    """``request.ifNoneExist`` for an identifier: FHIR search escaping, then URL encoding."""
    escaped = "".join(f"\\{c}" if c in "\\|,$" else c for c in value)
    return "identifier=" + quote(f"{system}|{escaped}", safe=":/|")


def full_url(system: str, value: str) -> str:
    """A stable temporary id for the entry holding the resource with this identifier."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{system}|{value}')}"


def to_bundle(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The transaction Bundle for one decoded envelope; ``None`` for kinds not mapped."""
    kind = _text(body, "kind")
    if kind in UNMAPPED_KINDS:
        return None
    if kind not in MAPPED_KINDS:
        raise MappingError(f"unknown envelope kind {kind!r}")
    env = _Envelope.of(body)
    samples = body.get("samples")
    if not isinstance(samples, list) or not samples:
        raise MappingError("envelope has no samples")
    observations = [
        env.numeric(_mapping(s)) if kind == "numeric" else env.wave(_mapping(s)) for s in samples
    ]
    entries = [env.patient_entry(), env.gateway_entry()]
    if env.device:
        entries.append(env.device_entry())
    entries.extend(observations)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@dataclass(frozen=True, slots=True)
class _Envelope:
    gateway: str
    stream: str
    device: str
    patient: str
    mdc: int | None
    unit: str | None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> _Envelope:
        patient = _text(body, "patient")
        if not patient:
            raise MappingError("envelope has no patient id: an Observation needs a subject")
        gateway = _text(body, "gateway")
        if not gateway:
            raise MappingError("envelope has no gateway id")
        device = body.get("device", "")
        if not isinstance(device, str):
            raise MappingError("field 'device' must be a string")
        mdc = body.get("mdc")
        unit = body.get("unit")
        if mdc is not None and not _is_int(mdc):
            raise MappingError("field 'mdc' must be an integer")
        if unit is not None and not isinstance(unit, str):
            raise MappingError("field 'unit' must be a string")
        return cls(gateway, _text(body, "stream"), device, patient, mdc, unit)

    # -- shared resources ------------------------------------------------------------

    def _entry(self, resource: dict[str, Any], system: str, value: str) -> dict[str, Any]:
        return {
            "fullUrl": full_url(system, value),
            "resource": resource,
            "request": {
                "method": "POST",
                "url": resource["resourceType"],
                "ifNoneExist": if_none_exist(system, value),
            },
        }

    def patient_entry(self) -> dict[str, Any]:
        patient = {
            "resourceType": "Patient",
            "identifier": [{"system": PATIENT_SYSTEM, "value": self.patient}],
        }
        return self._entry(patient, PATIENT_SYSTEM, self.patient)

    def gateway_entry(self) -> dict[str, Any]:
        device = _device_resource(GATEWAY_SYSTEM, self.gateway, MDC_MOC_VMS_MDS_AHD, self.gateway)
        return self._entry(device, GATEWAY_SYSTEM, self.gateway)

    def device_entry(self) -> dict[str, Any]:
        value = self._device_value()
        device = _device_resource(DEVICE_SYSTEM, value, MDC_MOC_VMS_MDS_SIMP, self.device)
        return self._entry(device, DEVICE_SYSTEM, value)

    def _device_value(self) -> str:
        return f"{self.gateway}/{self.device}"

    # -- observations ----------------------------------------------------------------

    def _observation(
        self, sample: Mapping[str, Any], mdc: int, loinc: LoincMapping | None, label: str
    ) -> tuple[dict[str, Any], str, Quality, list[str]]:
        seq = sample.get("seq")
        if not _is_int(seq) or seq < 1:
            raise MappingError(f"sample seq must be a positive integer, not {seq!r}")
        record = record_identifier(self.gateway, self.stream, seq)
        quality, flags = _quality(sample.get("quality", []))
        obs: dict[str, Any] = {"resourceType": "Observation"}
        meta: dict[str, Any] = {}
        if loinc is not None and loinc.profile is not None:
            meta["profile"] = [loinc.profile]
        if quality & (Quality.TEST | Quality.DEMO):
            meta["security"] = [{"system": ACT_REASON_SYSTEM, "code": "HTEST"}]
        if meta:
            obs["meta"] = meta
        obs["extension"] = [
            {
                "url": GATEWAY_DEVICE_EXTENSION,
                "valueReference": {"reference": full_url(GATEWAY_SYSTEM, self.gateway)},
            }
        ]
        obs["identifier"] = [{"system": RECORD_SYSTEM, "value": record}]
        obs["status"] = "final"
        category = []
        if loinc is not None and loinc.profile is not None:
            category.append(_concept(CATEGORY_SYSTEM, "vital-signs", "Vital Signs"))
        category.append(_concept(PHD_CATEGORY_SYSTEM, "phd", "PHD generated Observation"))
        obs["category"] = category
        coding = [
            {"system": LOINC_SYSTEM, "code": code, "display": display}
            for code, display in (loinc.loinc if loinc is not None else ())
        ]
        coding.append(_mdc_coding(mdc))
        obs["code"] = {"coding": coding, "text": loinc.label if loinc is not None else label}
        obs["subject"] = {"reference": full_url(PATIENT_SYSTEM, self.patient)}
        return obs, record, quality, flags

    def _finish(self, obs: dict[str, Any], flags: list[str]) -> None:
        if flags:
            obs["interpretation"] = [_flag_concept(name) for name in flags]
        if self.device:
            obs["device"] = {"reference": full_url(DEVICE_SYSTEM, self._device_value())}

    def numeric(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        if self.mdc is None or self.unit is None:
            raise MappingError("numeric envelope needs 'mdc' and 'unit'")
        loinc = loinc_for(self.mdc, self.unit)
        obs, record, quality, flags = self._observation(
            sample, self.mdc, loinc, codes.label_for(self.mdc)
        )
        t_dev = sample.get("t_dev_ns")
        t_rx = sample.get("t_rx_ns")
        if t_dev is not None:
            obs["effectiveDateTime"] = _instant(t_dev, "t_dev_ns")
        else:
            obs["effectiveDateTime"] = _instant(t_rx, "t_rx_ns")
        obs["issued"] = _instant(t_rx, "t_rx_ns")  # when the gateway received it
        value = sample.get("value")
        if value is not None and not _is_number(value):
            raise MappingError(f"sample value must be a number or null, not {value!r}")
        if value is not None and math.isfinite(value) and not quality & _NO_VALUE:
            obs["valueQuantity"] = {
                "value": value,
                "unit": self.unit,
                "system": UCUM_SYSTEM,
                "code": self.unit,
            }
        else:
            reason = _absent_reason(quality, _special(value))
            obs["dataAbsentReason"] = _concept(DATA_ABSENT_SYSTEM, reason)
        self._finish(obs, flags)
        return self._entry_for(obs, record)

    def wave(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        mdc = sample.get("mdc")
        unit = sample.get("unit")
        if not _is_int(mdc) or not isinstance(unit, str):
            raise MappingError("wave sample needs integer 'mdc' and string 'unit'")
        obs, record, quality, flags = self._observation(sample, mdc, None, codes.label_for(mdc))
        start = sample.get("start_ns")
        period = sample.get("period_ns")
        try:
            data = wave_samples(sample)
        except ValueError as exc:
            raise MappingError(str(exc)) from None
        gain = sample.get("gain", 1.0)
        offset = sample.get("offset", 0.0)
        if not _is_int(period) or period <= 0:
            raise MappingError("wave sample needs a positive integer 'period_ns'")
        if not all(_is_number(x) for x in data):
            raise MappingError("wave sample 'samples' must be a list of numbers")
        if not (_is_number(gain) and math.isfinite(gain)) or not (
            _is_number(offset) and math.isfinite(offset)
        ):
            raise MappingError("wave sample 'gain' and 'offset' must be finite numbers")
        if not _is_int(start):
            raise MappingError("wave sample needs an integer 'start_ns'")
        end = start + max(len(data) - 1, 0) * period
        obs["effectivePeriod"] = {
            "start": _instant(start, "start_ns"),
            "end": _instant(end, "start_ns"),
        }
        obs["issued"] = _instant(sample.get("t_rx_ns"), "t_rx_ns")
        if data:
            # physical = offset + gain * sample  ==  SampledData: origin + factor * data
            obs["valueSampledData"] = {
                "origin": {"value": offset, "unit": unit, "system": UCUM_SYSTEM, "code": unit},
                "period": period / 1_000_000,  # SampledData.period is in milliseconds
                "factor": gain,
                "dimensions": 1,
                "data": " ".join(_decimal(x) for x in data),
            }
        else:
            obs["dataAbsentReason"] = _concept(DATA_ABSENT_SYSTEM, _absent_reason(quality, None))
        self._finish(obs, flags)
        return self._entry_for(obs, record)

    def _entry_for(self, obs: dict[str, Any], record: str) -> dict[str, Any]:
        return self._entry(obs, RECORD_SYSTEM, record)


def _device_resource(system: str, value: str, mdc_type: int, name: str) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "identifier": [{"system": system, "value": value}],
        "deviceName": [{"name": name, "type": "user-friendly-name"}],
        "type": {"coding": [_mdc_coding(mdc_type)]},
    }


def _mdc_coding(code: int) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": MDC_SYSTEM, "code": str(code)}
    metric = codes.BY_CODE.get(code)
    reference = metric.reference if metric is not None else _MDC_REFERENCE.get(code)
    if reference is not None:
        coding["display"] = reference
    return coding


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display is not None:
        coding["display"] = display
    return {"coding": [coding]}


def _flag_concept(name: str) -> dict[str, Any]:
    coding: list[dict[str, Any]] = [{"system": QUALITY_SYSTEM, "code": name}]
    flag = _KNOWN_FLAGS.get(name)
    if flag is not None and flag in _MEASUREMENT_STATUS:
        coding.append({"system": MEASUREMENT_STATUS_SYSTEM, "code": _MEASUREMENT_STATUS[flag]})
    return {"coding": coding, "text": name}


def _quality(names: object) -> tuple[Quality, list[str]]:
    """Known flags as :class:`Quality`, plus every name (unknown ones are kept as codes)."""
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise MappingError("sample quality must be a list of flag names")
    quality = Quality(0)
    for name in names:
        quality |= _KNOWN_FLAGS.get(name, Quality(0))
    return quality, list(dict.fromkeys(names))


def _special(value: float | None) -> str | None:
    """The dataAbsentReason a non-finite number implies (NaN and infinities, as in the
    PHD IG's special FLOAT values); ``None`` for ``null`` and finite numbers."""
    if value is None or math.isfinite(value):
        return None
    if math.isnan(value):
        return "not-a-number"
    return "positive-infinity" if value > 0 else "negative-infinity"


def _absent_reason(quality: Quality, special: str | None) -> str:
    """Quality flags first (PHD IG: measurement status wins over special values)."""
    for flag, reason in _ABSENT_REASON:
        if quality & flag:
            return reason
    return special or "unknown"


def _instant(ns: object, field: str) -> str:
    """UTC ``YYYY-MM-DDThh:mm:ss.sssZ`` (millisecond precision) from nanoseconds."""
    if not _is_int(ns):
        raise MappingError(f"{field} must be an integer (ns since the epoch), not {ns!r}")
    seconds, rest = divmod(ns, 1_000_000_000)
    try:
        stamp = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise MappingError(f"{field} {ns} is not a representable time") from exc
    if not 1 <= stamp.year <= 9999:
        raise MappingError(f"{field} {ns} is not a representable time")
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{rest // 1_000_000:03d}Z"


def _decimal(x: float) -> str:
    """One SampledData value; ``E`` (error) for a sample that is not a finite number."""
    if isinstance(x, int):
        return str(x)
    return repr(x) if math.isfinite(x) else "E"


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise MappingError(f"field {key!r} must be a string, not {value!r}")
    return value


def _mapping(sample: object) -> Mapping[str, Any]:
    if not isinstance(sample, Mapping):
        raise MappingError("each sample must be a JSON object")
    return sample


def _is_int(x: object) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: object) -> TypeGuard[int | float]:
    return isinstance(x, int | float) and not isinstance(x, bool)


__all__ = [
    "LOINC_BY_MDC",
    "MAPPED_KINDS",
    "UNMAPPED_KINDS",
    "LoincMapping",
    "MappingError",
    "full_url",
    "if_none_exist",
    "loinc_for",
    "record_identifier",
    "to_bundle",
]
