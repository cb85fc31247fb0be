"""Envelope -> FHIR R4 transaction Bundle (gateway.fhir), checked against the specs.

Every Bundle produced here is validated with ``fhir.resources`` (its R4B models: the closest
to R4 the installed fhir.resources 8 offers; Observation, Device, Patient and Bundle are the
same in R4 and R4B), plus the rules fhir.resources does not check (references resolve inside
the Bundle, value xor dataAbsentReason, ifNoneExist names the resource's identifier,
vital-signs profile content).
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import envelope, fhir
from gateway.model import (
    MISSING_REASONS,
    VALID,
    Alarm,
    AlarmKind,
    AlarmPriority,
    DeviceEvent,
    EventKind,
    Measurement,
    Quality,
    ReceiveTime,
    TwinSnapshot,
    WaveformChunk,
)

GW, SITE, PATIENT, DEVICE = "gw01", "ward7", "p-0042", "bed01-oxi"
T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z in ns since the epoch

MDC = "urn:iso:std:iso:11073:10101"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VS_CATEGORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
            "display": "Vital Signs",
        }
    ]
}
PHD_CATEGORY = {
    "coding": [
        {
            "system": "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories",
            "code": "phd",
            "display": "PHD generated Observation",
        }
    ]
}


def measurement(
    seq: int,
    value: float = 97.0,
    *,
    mdc: int = 150456,
    unit: str = "%",
    quality: Quality = VALID,
    t_rx_ns: int = T0 + 123_456_789,
    t_dev_ns: int | None = T0,
    device: str = DEVICE,
) -> Measurement:
    return Measurement(
        device_id=device,
        stream_id=f"{device}.{mdc}",
        mdc_code=mdc,
        unit=unit,
        value=value,
        quality=quality,
        received=ReceiveTime(t_rx_ns, 1),
        device_time_ns=t_dev_ns,
        seq=seq,
    )


def decoded(records: list[Any], patient: str = PATIENT, gateway: str = GW) -> dict[str, Any]:
    """The envelope exactly as a consumer receives it (encoded, then decoded)."""
    payload = envelope.encode_batch(records, gateway=gateway, site=SITE, patient=patient)
    return envelope.decode(payload)


def bundle_of(records: list[Any], **kw: Any) -> dict[str, Any]:
    bundle = fhir.to_bundle(decoded(records, **kw))
    assert bundle is not None
    check(bundle)
    return bundle


def observations(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]


def references(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for v in node.values() for r in references(v)]
    if isinstance(node, list):
        return [r for v in node for r in references(v)]
    return []


def unescape(token: str) -> str:
    """Undo FHIR search escaping: a backslash takes the next character literally."""
    out, chars = [], iter(token)
    for c in chars:
        out.append(next(chars) if c == "\\" else c)
    return "".join(out)


def check(bundle: dict[str, Any]) -> None:
    """Validate with fhir.resources (R4B) and the rules it does not enforce."""
    Bundle.model_validate(bundle)
    text = json.dumps(bundle, allow_nan=False)  # no NaN or Infinity anywhere
    assert "NaN" not in text
    assert bundle["type"] == "transaction"
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(urls)) == len(urls)
    for ref in references(bundle):
        assert ref in urls, f"dangling reference {ref}"
    for entry in bundle["entry"]:
        resource, request = entry["resource"], entry["request"]
        assert request["method"] == "POST"
        assert request["url"] == resource["resourceType"]
        # conditional create on exactly the resource's own identifier
        query = request["ifNoneExist"]
        assert query.startswith("identifier=")
        token = unquote(query.removeprefix("identifier="))
        system, _, escaped = token.partition("|")
        value = unescape(escaped)
        assert resource["identifier"] == [{"system": system, "value": value}]
        if resource["resourceType"] == "Observation":
            check_observation(resource)


def check_observation(obs: dict[str, Any]) -> None:
    assert obs["status"] == "final"
    values = [k for k in obs if k.startswith("value")]
    assert len(values) + ("dataAbsentReason" in obs) == 1  # obs-6: value xor reason
    if "valueQuantity" in obs:
        q = obs["valueQuantity"]
        assert isinstance(q["value"], int | float) and math.isfinite(q["value"])
        assert q["system"] == UCUM and q["code"] == q["unit"]
    codings = obs["code"]["coding"]
    assert sum(c["system"] == MDC for c in codings) == 1  # PHD IG: MDC coding always
    vital = VS_CATEGORY in obs["category"]
    assert PHD_CATEGORY in obs["category"]
    # vital-signs profile: category, LOINC code and profile claim go together
    if vital:
        assert codings[0]["system"] == LOINC
    assert vital == bool(obs.get("meta", {}).get("profile"))
    if vital:
        assert obs["subject"]["reference"].startswith("urn:uuid:")
        assert "effectiveDateTime" in obs or "effectivePeriod" in obs
    assert obs["extension"][0]["url"] == fhir.GATEWAY_DEVICE_EXTENSION


# -- golden ------------------------------------------------------------------------------


def test_golden_spo2_observation() -> None:
    """One SpO2 sample, every element written out by hand from the profiles."""
    bundle = bundle_of([measurement(17, 97.0)])
    patient_url = fhir.full_url("urn:edgetwin:patient", PATIENT)
    gateway_url = fhir.full_url("urn:edgetwin:gateway", GW)
    device_url = fhir.full_url("urn:edgetwin:device", f"{GW}/{DEVICE}")
    record = f"{GW}/{DEVICE}.150456/17"
    assert [e["fullUrl"] for e in bundle["entry"]] == [
        patient_url,
        gateway_url,
        device_url,
        fhir.full_url("urn:edgetwin:record", record),
    ]
    assert bundle["entry"][0] == {
        "fullUrl": patient_url,
        "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:edgetwin:patient", "value": PATIENT}],
        },
        "request": {
            "method": "POST",
            "url": "Patient",
            "ifNoneExist": "identifier=urn:edgetwin:patient|p-0042",
        },
    }
    # PHD IG: the PHG is MDC_MOC_VMS_MDS_AHD (531981), the sensor MDC_MOC_VMS_MDS_SIMP (65573)
    assert bundle["entry"][1]["resource"]["type"] == {
        "coding": [{"system": MDC, "code": "531981", "display": "MDC_MOC_VMS_MDS_AHD"}]
    }
    assert bundle["entry"][2]["resource"] == {
        "resourceType": "Device",
        "identifier": [{"system": "urn:edgetwin:device", "value": "gw01/bed01-oxi"}],
        "deviceName": [{"name": "bed01-oxi", "type": "user-friendly-name"}],
        "type": {"coding": [{"system": MDC, "code": "65573", "display": "MDC_MOC_VMS_MDS_SIMP"}]},
    }
    assert bundle["entry"][3]["request"] == {
        "method": "POST",
        "url": "Observation",
        "ifNoneExist": "identifier=urn:edgetwin:record|gw01/bed01-oxi.150456/17",
    }
    assert bundle["entry"][3]["resource"] == {
        "resourceType": "Observation",
        "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/oxygensat"]},
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice",
                "valueReference": {"reference": gateway_url},
            }
        ],
        "identifier": [{"system": "urn:edgetwin:record", "value": record}],
        "status": "final",
        "category": [VS_CATEGORY, PHD_CATEGORY],
        "code": {
            "coding": [
                {
                    "system": LOINC,
                    "code": "2708-6",
                    "display": "Oxygen saturation in Arterial blood",
                },
                {
                    "system": LOINC,
                    "code": "59408-5",
                    "display": "Oxygen saturation in Arterial blood by Pulse oximetry",
                },
                {"system": MDC, "code": "150456", "display": "MDC_PULS_OXIM_SAT_O2"},
            ],
            "text": "SpO2",
        },
        "subject": {"reference": patient_url},
        "effectiveDateTime": "2023-11-14T22:13:20.000Z",  # device time
        "issued": "2023-11-14T22:13:20.123Z",  # receive time, ms precision
        "valueQuantity": {"value": 97.0, "unit": "%", "system": UCUM, "code": "%"},
        "device": {"reference": device_url},
    }


def test_golden_wave_chunk_as_sampled_data() -> None:
    # physical = offset + gain * sample; FHIR SampledData: origin + factor * data, period in ms
    chunk = WaveformChunk(
        device_id="bed01-mon",
        stream_id="bed01-mon.ecg1",
        mdc_code=131328,  # MDC_ECG_ELEC_POTL (2:256)
        unit="mV",
        start_ns=T0,
        sample_period_ns=4_000_000,  # 250 Hz
        samples=np.array([0, 512, -512, 7], dtype=np.int32),
        received=ReceiveTime(T0 + 50_000_000, 1),
        gain=0.005,
        offset=-2.5,
        seq=3,
    )
    [obs] = observations(bundle_of([chunk]))
    assert obs["valueSampledData"] == {
        "origin": {"value": -2.5, "unit": "mV", "system": UCUM, "code": "mV"},
        "period": 4.0,
        "factor": 0.005,
        "dimensions": 1,
        "data": "0 512 -512 7",
    }
    # first sample at start; last sample 3 periods (12 ms) later
    assert obs["effectivePeriod"] == {
        "start": "2023-11-14T22:13:20.000Z",
        "end": "2023-11-14T22:13:20.012Z",
    }
    assert obs["code"]["coding"] == [{"system": MDC, "code": "131328"}]
    assert obs["category"] == [PHD_CATEGORY]
    assert obs["identifier"][0]["value"] == "gw01/bed01-mon.ecg1/3"


def test_non_finite_wave_sample_is_e() -> None:
    # SampledData.data: "E" marks a sample in error
    chunk = WaveformChunk(
        device_id="bed01-mon",
        stream_id="bed01-mon.p1",
        mdc_code=150016,
        unit="mm[Hg]",
        start_ns=T0,
        sample_period_ns=8_000_000,
        samples=np.array([80.5, 81.0, 82.25]),
        received=ReceiveTime(T0, 1),
        seq=1,
    )
    body = decoded([chunk])
    body["samples"][0]["samples"][1] = math.nan
    bundle = fhir.to_bundle(body)
    assert bundle is not None
    check(bundle)
    assert observations(bundle)[0]["valueSampledData"]["data"] == "80.5 E 82.25"


# -- the MDC -> LOINC table ---------------------------------------------------------------

VS = "http://hl7.org/fhir/StructureDefinition/"
EXPECTED_LOINC = [
    # (mdc, unit, LOINC codes in order, profile) - from the FHIR R4 vital-signs table
    (150456, "%", ["2708-6", "59408-5"], VS + "oxygensat"),
    (147842, "/min", ["8867-4"], VS + "heartrate"),
    (149530, "/min", ["8867-4"], VS + "heartrate"),
    (149514, "/min", ["8867-4"], VS + "heartrate"),
    (149546, "/min", ["8867-4"], VS + "heartrate"),
    (151562, "/min", ["9279-1"], VS + "resprate"),
    (150364, "Cel", ["8310-5"], VS + "bodytemp"),
    (150364, "[degF]", ["8310-5"], VS + "bodytemp"),
    (150021, "mm[Hg]", ["8480-6"], VS + "vitalsigns"),
    (150022, "mm[Hg]", ["8462-4"], VS + "vitalsigns"),
    (150023, "mm[Hg]", ["8478-0"], VS + "vitalsigns"),
    (188736, "kg", ["29463-7"], VS + "bodyweight"),
    (188736, "[lb_av]", ["29463-7"], VS + "bodyweight"),
    (188752, "kg/m2", ["39156-5"], VS + "bmi"),
    (160184, "mg/dL", ["41653-7"], None),  # glucose: LOINC, but not a vital sign
    (160184, "mmol/L", ["14743-9"], None),
]


@pytest.mark.parametrize(("mdc", "unit", "loinc", "profile"), EXPECTED_LOINC)
def test_loinc_mapping(mdc: int, unit: str, loinc: list[str], profile: str | None) -> None:
    [obs] = observations(bundle_of([measurement(1, 42.0, mdc=mdc, unit=unit)]))
    codings = obs["code"]["coding"]
    assert [c["code"] for c in codings if c["system"] == LOINC] == loinc
    assert codings[-1]["system"] == MDC and codings[-1]["code"] == str(mdc)
    assert obs["valueQuantity"] == {"value": 42.0, "unit": unit, "system": UCUM, "code": unit}
    if profile is None:
        assert "meta" not in obs
        assert obs["category"] == [PHD_CATEGORY]
    else:
        assert obs["meta"]["profile"] == [profile]
        assert obs["category"] == [VS_CATEGORY, PHD_CATEGORY]


@pytest.mark.parametrize(
    ("mdc", "unit"),
    [
        (150456, "1"),  # SpO2 as a fraction: not the oxygensat unit
        (150364, "K"),  # temperature in kelvin: not allowed by bodytemp
        (188740, "m"),  # height in metres: bodyheight wants cm or [in_i]
        (67996, "%"),  # battery: PHD observation, never a vital sign
        (1024 << 16 | 1, "%"),  # EdgeTwin-private SpCO
    ],
)
def test_mdc_only_when_no_loinc(mdc: int, unit: str) -> None:
    [obs] = observations(bundle_of([measurement(1, 1.0, mdc=mdc, unit=unit)]))
    assert [c["system"] for c in obs["code"]["coding"]] == [MDC]
    assert obs["category"] == [PHD_CATEGORY]
    assert "meta" not in obs
    assert obs["valueQuantity"]["code"] == unit


def test_battery_keeps_mdc_display() -> None:
    [obs] = observations(bundle_of([measurement(1, 80.0, mdc=67996, unit="%")]))
    assert obs["code"]["coding"] == [
        {"system": MDC, "code": "67996", "display": "MDC_ATTR_VAL_BATT_CHARGE"}
    ]


def test_every_table_entry_validates() -> None:
    for mdc, mappings in fhir.LOINC_BY_MDC.items():
        for mapping in mappings:
            for unit in sorted(mapping.units):
                [obs] = observations(bundle_of([measurement(1, 1.5, mdc=mdc, unit=unit)]))
                assert fhir.loinc_for(mdc, unit) is mapping
                assert obs["code"]["coding"][0]["code"] == mapping.loinc[0][0]


# -- missing values and quality flags ----------------------------------------------------

# dataAbsentReason per flag, from the PHD IG measurement-status table and the R4
# data-absent-reason code system (invalid -> error, not-available -> not-performed, ...)
ABSENT = [
    (Quality.INVALID, "error"),
    (Quality.UNAVAILABLE, "not-performed"),
    (Quality.ARTIFACT, "error"),
    (Quality.CALIBRATING, "temp-unknown"),
    (Quality.NOT_UPDATED, "temp-unknown"),
    (Quality.OVER_RANGE, "positive-infinity"),
    (Quality.UNDER_RANGE, "negative-infinity"),
    (Quality.INVALID | Quality.UNAVAILABLE, "error"),  # invalid takes precedence
    (Quality.UNDER_RANGE | Quality.CALIBRATING, "temp-unknown"),
]


@pytest.mark.parametrize(("flags", "reason"), ABSENT)
def test_nan_becomes_data_absent_reason(flags: Quality, reason: str) -> None:
    [obs] = observations(bundle_of([measurement(5, math.nan, quality=flags)]))
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"] == {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": reason}
        ]
    }
    # every flag is kept, as an interpretation coding
    codes = [i["coding"][0] for i in obs["interpretation"]]
    assert codes == [{"system": "urn:edgetwin:quality", "code": n} for n in flags.names()]


@pytest.mark.parametrize(
    ("value", "flags", "reason"),
    [
        # non-finite numbers (possible in a CBOR body) are missing values, never numbers;
        # PHD IG special FLOAT values: NaN -> not-a-number, +INF / -INF -> +/-infinity
        (math.nan, [], "not-a-number"),
        (math.inf, [], "positive-infinity"),
        (-math.inf, [], "negative-infinity"),
        (math.nan, ["invalid"], "error"),  # measurement status takes precedence
        (None, [], "unknown"),
    ],
)
def test_non_finite_values_are_absent(value: float | None, flags: list[str], reason: str) -> None:
    body = decoded([measurement(5)])
    body["samples"][0].update(value=value, quality=flags)
    bundle = fhir.to_bundle(body)
    assert bundle is not None
    check(bundle)
    [obs] = observations(bundle)
    assert obs["dataAbsentReason"]["coding"][0]["code"] == reason
    assert "valueQuantity" not in obs


@pytest.mark.parametrize("flags", [Quality.INVALID, Quality.UNAVAILABLE])
def test_invalid_number_is_not_sent(flags: Quality) -> None:
    # PHD IG: invalid / not-available status -> dataAbsentReason, no value, even if a
    # number came along
    [obs] = observations(bundle_of([measurement(5, 55.0, quality=flags)]))
    assert "valueQuantity" not in obs and "dataAbsentReason" in obs


def test_questionable_value_kept_with_measurement_status() -> None:
    [obs] = observations(bundle_of([measurement(5, 88.0, quality=Quality.QUESTIONABLE)]))
    assert obs["valueQuantity"]["value"] == 88.0
    assert obs["interpretation"] == [
        {
            "coding": [
                {"system": "urn:edgetwin:quality", "code": "questionable"},
                {
                    "system": "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status",
                    "code": "questionable",
                },
            ],
            "text": "questionable",
        }
    ]


@pytest.mark.parametrize("flag", [Quality.TEST, Quality.DEMO])
def test_test_and_demo_data_get_htest(flag: Quality) -> None:
    [obs] = observations(bundle_of([measurement(5, 90.0, quality=flag)]))
    assert obs["meta"]["security"] == [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}
    ]


def test_valid_value_has_no_interpretation() -> None:
    [obs] = observations(bundle_of([measurement(5, 90.0)]))
    assert "interpretation" not in obs and "dataAbsentReason" not in obs


# -- time ----------------------------------------------------------------------------------


def test_effective_is_receive_time_without_device_time() -> None:
    [obs] = observations(bundle_of([measurement(1, t_dev_ns=None, t_rx_ns=T0 + 999_999_999)]))
    assert obs["effectiveDateTime"] == "2023-11-14T22:13:20.999Z"
    assert obs["issued"] == obs["effectiveDateTime"]


def test_effective_is_device_time_when_present() -> None:
    m = measurement(1, t_dev_ns=T0 - 3_600_000_000_000, t_rx_ns=T0)
    [obs] = observations(bundle_of([m]))
    assert obs["effectiveDateTime"] == "2023-11-14T21:13:20.000Z"
    assert obs["issued"] == "2023-11-14T22:13:20.000Z"


# -- conditional create and resends ------------------------------------------------------


def test_resend_gives_identical_bundle() -> None:
    records = [measurement(s, 90.0 + s) for s in (7, 8, 9)]
    first = fhir.to_bundle(decoded(records))
    again = fhir.to_bundle(decoded(records))
    assert first is not None and again is not None
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    obs_ids = [o["identifier"][0]["value"] for o in observations(first)]
    assert obs_ids == [f"gw01/bed01-oxi.150456/{s}" for s in (7, 8, 9)]


def test_same_seq_in_a_later_batch_gets_the_same_identifier() -> None:
    alone = observations(bundle_of([measurement(8, 91.0)]))
    batched = observations(bundle_of([measurement(s, 91.0) for s in (7, 8, 9)]))
    assert alone[0]["identifier"] == batched[1]["identifier"]
    assert (
        bundle_of([measurement(8, 91.0)])["entry"][-1]["fullUrl"]
        == (bundle_of([measurement(s, 91.0) for s in (7, 8, 9)])["entry"][-2]["fullUrl"])
    )


def test_other_gateway_gives_other_identifiers() -> None:
    a = observations(bundle_of([measurement(8)], gateway="gw01"))[0]
    b = observations(bundle_of([measurement(8)], gateway="gw02"))[0]
    assert a["identifier"] != b["identifier"]
    assert a["device"] != b["device"]


def test_if_none_exist_escapes_search_characters() -> None:
    # FHIR search: '|', ',', '$' and '\' in a token value are escaped with '\'
    query = fhir.if_none_exist("urn:edgetwin:patient", "a|b,c$d\\e f")
    assert query == "identifier=urn:edgetwin:patient|a%5C|b%5C%2Cc%5C%24d%5C%5Ce%20f"
    assert unquote(query) == "identifier=urn:edgetwin:patient|a\\|b\\,c\\$d\\\\e f"
    bundle = bundle_of([measurement(1)], patient="a|b,c$d\\e f")
    assert bundle["entry"][0]["request"]["ifNoneExist"] == query


# -- kinds not mapped ----------------------------------------------------------------------


def test_alarm_event_twin_and_gap_are_not_mapped() -> None:
    rx = ReceiveTime(T0, 1)
    alarm = Alarm(
        "p-0042.alarm",
        "spo2-low",
        PATIENT,
        AlarmPriority.HIGH,
        AlarmKind.PHYSIOLOGICAL,
        "SpO2 < 85",
        T0,
        rx,
        seq=1,
    )
    event = DeviceEvent(DEVICE, f"{DEVICE}.event", EventKind.CONNECTED, rx, seq=1)
    twin = TwinSnapshot("p-0042.twin", PATIENT, {"spo2": 97.0}, rx, seq=1)
    for record in (alarm, event, twin):
        assert fhir.to_bundle(decoded([record])) is None
    gap = envelope.encode_gap(
        gateway=GW, site=SITE, stream="s", first=1, last=4, reason="evicted", t_ns=T0
    )
    assert fhir.to_bundle(envelope.decode(gap)) is None


def test_unknown_kind_is_an_error() -> None:
    body = decoded([measurement(1)])
    body["kind"] = "spectrum"
    with pytest.raises(fhir.MappingError, match="unknown envelope kind"):
        fhir.to_bundle(body)


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("patient",), ""),
        (("patient",), None),
        (("gateway",), 7),
        (("mdc",), "150456"),
        (("samples",), []),
        (("samples", 0, "value"), "97"),
        (("samples", 0, "value"), True),
        (("samples", 0, "seq"), 0),
        (("samples", 0, "seq"), 1.5),
        (("samples", 0, "t_rx_ns"), None),
        (("samples", 0, "t_rx_ns"), 10**30),
        (("samples", 0, "quality"), "invalid"),
        (("samples", 0), 5),
    ],
)
def test_malformed_envelope_raises_mapping_error(path: tuple[Any, ...], bad: object) -> None:
    body = decoded([measurement(1, t_dev_ns=None)])
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    with pytest.raises(fhir.MappingError):
        fhir.to_bundle(body)


def test_unknown_quality_flag_is_kept_not_fatal() -> None:
    body = decoded([measurement(1)])
    body["samples"][0]["quality"] = ["future_flag"]
    bundle = fhir.to_bundle(body)
    assert bundle is not None
    check(bundle)
    [obs] = observations(bundle)
    assert obs["interpretation"][0]["coding"] == [
        {"system": "urn:edgetwin:quality", "code": "future_flag"}
    ]


# -- properties ----------------------------------------------------------------------------

FLAG_NAMES = [f for f in Quality if f.value]
MDC_CHOICES = sorted({*fhir.LOINC_BY_MDC, 67996, 150448, 1024 << 16 | 2})
UNITS = ["%", "/min", "Cel", "[degF]", "mm[Hg]", "kg", "mg/dL", "mmol/L", "1"]


@st.composite
def measurements(draw: st.DrawFn) -> list[Measurement]:
    mdc = draw(st.sampled_from(MDC_CHOICES))
    unit = draw(st.sampled_from(UNITS))
    first = draw(st.integers(1, 2**62))
    out = []
    for i in range(draw(st.integers(1, 5))):
        flags = Quality(0)
        for f in draw(st.lists(st.sampled_from(FLAG_NAMES), max_size=3)):
            flags |= f
        value = draw(st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(math.nan)))
        if math.isnan(value) and not flags & MISSING_REASONS:
            flags |= Quality.UNAVAILABLE
        t_rx = draw(st.integers(0, 4_000_000_000_000_000_000))
        t_dev = draw(st.one_of(st.none(), st.integers(0, 4_000_000_000_000_000_000)))
        out.append(
            measurement(
                first + i, value, mdc=mdc, unit=unit, quality=flags, t_rx_ns=t_rx, t_dev_ns=t_dev
            )
        )
    return out


@settings(max_examples=60, deadline=None)
@given(measurements())
def test_any_measurement_batch_maps_to_a_valid_bundle(records: list[Measurement]) -> None:
    bundle = bundle_of(records)
    obs = observations(bundle)
    assert len(obs) == len(records)
    for o, m in zip(obs, records, strict=True):
        usable = not math.isnan(m.value) and not m.quality & (Quality.INVALID | Quality.UNAVAILABLE)
        assert ("valueQuantity" in o) == usable
        if usable:
            assert o["valueQuantity"]["value"] == m.value
        assert o["identifier"][0]["value"] == f"{GW}/{m.stream_id}/{m.seq}"
        assert [i["text"] for i in o.get("interpretation", [])] == m.quality.names()
