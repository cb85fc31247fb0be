"""Glucose Measurement (0x2A18) and Glucose Measurement Context (0x2A34)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble.glucose import (
    CarbohydrateId,
    ConcentrationUnit,
    GlucoseType,
    Health,
    Meal,
    MedicationId,
    MedicationUnit,
    SampleLocation,
    parse_glucose_measurement,
    parse_glucose_measurement_context,
)
from drivers.ble.glucose import (
    Tester as GlucoseTester,
)
from gateway.errors import FieldError, FramingError
from hil.ble import encoders

SFLOATS = st.tuples(st.integers(-2048, 2047), st.integers(-8, 7))


def test_measurement_kg_per_l_with_offset_and_status() -> None:
    data = bytes(
        [
            0x1B,  # flags: offset (0), type+conc (1), kg/L, status (3), context follows (4)
            0x2A, 0x00,  # sequence number 42
            0xE8, 0x07, 0x05, 0x14, 0x07, 0x1E, 0x00,  # base time 2024-05-20 07:30:00
            0xF1, 0xFF,  # time offset -15 min (sint16)
            0x5F, 0xB0,  # 0xB05F: exponent -5, mantissa 95 -> 95e-5 kg/L = 95 mg/dL
            0x11,  # low nibble type 1 capillary whole blood, high nibble location 1 finger
            0x21, 0x00,  # status: battery low (0), result above device range (5)
        ]
    )  # fmt: skip
    m = parse_glucose_measurement(data)
    assert m.sequence_number == 42
    assert m.base_time == datetime(2024, 5, 20, 7, 30)  # noqa: DTZ001
    assert m.time_offset_min == -15
    assert m.timestamp == datetime(2024, 5, 20, 7, 15)  # noqa: DTZ001
    assert m.concentration_unit is ConcentrationUnit.KG_PER_L
    assert m.concentration_mg_dl == 95.0 and m.concentration_mmol_l is None
    assert m.glucose_type is GlucoseType.CAPILLARY_WHOLE_BLOOD
    assert m.sample_location is SampleLocation.FINGER
    assert m.sensor_status is not None
    assert m.sensor_status.device_battery_low
    assert m.sensor_status.result_higher_than_device_can_process
    assert not m.sensor_status.sensor_malfunction
    assert m.context_information_follows


def test_measurement_mol_per_l_location_not_available() -> None:
    data = bytes(
        [
            0x06,  # flags: type+conc, mol/L
            0x01, 0x00,  # sequence 1
            0xE8, 0x07, 0x05, 0x14, 0x07, 0x1E, 0x00,  # base time
            0x36, 0xC0,  # 0xC036: exponent -4, mantissa 54 -> 0.0054 mol/L = 5.4 mmol/L
            0xF4,  # type 4 venous plasma, location 15 not available
        ]
    )  # fmt: skip
    m = parse_glucose_measurement(data)
    assert m.concentration_mmol_l == 5.4 and m.concentration_mg_dl is None
    assert m.glucose_type is GlucoseType.VENOUS_PLASMA
    assert m.sample_location is SampleLocation.NOT_AVAILABLE
    assert m.timestamp == m.base_time


def test_measurement_minimal_unknown_base_time() -> None:
    m = parse_glucose_measurement(bytes([0x00, 0x07, 0x00]) + bytes(7))
    assert m.sequence_number == 7 and m.base_time is None and m.timestamp is None
    assert m.concentration is None


@pytest.mark.parametrize(
    ("packed", "reason"),
    [
        (0x10, "glucose type 0"),  # type 0 reserved
        (0x1B, "glucose type 11"),  # type 11 reserved
        (0x01, "sample location 0"),  # location 0 reserved
        (0x51, "sample location 5"),  # 5 is CGM-only, reserved in GLS
        (0xE1, "sample location 14"),
    ],
)
def test_reserved_type_or_location(packed: int, reason: str) -> None:
    data = bytes([0x02, 0x01, 0x00]) + bytes(7) + bytes([0x5F, 0xB0, packed])
    with pytest.raises(FieldError) as info:
        parse_glucose_measurement(data)
    assert info.value.offset == 12
    assert reason in info.value.reason


def test_base_time_plus_offset_outside_calendar() -> None:
    data = bytes(
        [0x01, 0x01, 0x00, 0x0F, 0x27, 12, 31, 23, 59, 0, 0xFF, 0x7F]
    )  # 9999-12-31 + 32767 min
    with pytest.raises(FieldError):
        parse_glucose_measurement(data)


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (bytes([0x00, 0x01, 0x00, 0xE8, 0x07]), 3),  # base time cut short
        (bytes([0x01, 0x01, 0x00]) + bytes(7) + bytes([0xF1]), 10),  # offset cut short
        (bytes([0x00, 0x01, 0x00]) + bytes(8), 10),  # trailing byte
    ],
)
def test_measurement_framing_errors(data: bytes, offset: int) -> None:
    with pytest.raises(FramingError) as info:
        parse_glucose_measurement(data)
    assert info.value.offset == offset
    assert info.value.source == "0x2A18 Glucose Measurement"


def test_context_all_fields() -> None:
    data = bytes(
        [
            0xFF,  # flags: every field, medication in litres (bit5), extended flags (bit7)
            0x2A, 0x00,  # sequence number 42
            0x00,  # extended flags
            0x01,  # carbohydrate id 1 breakfast
            0x32, 0xD0,  # 0xD032: exponent -3, mantissa 50 -> 0.050 kg
            0x01,  # meal 1 preprandial
            0x21,  # tester 1 self (low nibble), health 2 major issues (high nibble)
            0x08, 0x07,  # exercise duration 0x0708 = 1800 s
            0x32,  # exercise intensity 50 %
            0x01,  # medication id 1 rapid-acting insulin
            0x05, 0xC0,  # 0xC005: exponent -4, mantissa 5 -> 0.0005 L
            0x39, 0xF0,  # HbA1c 0xF039: exponent -1, mantissa 57 -> 5.7 %
        ]
    )  # fmt: skip
    c = parse_glucose_measurement_context(data)
    assert c.sequence_number == 42 and c.extended_flags == 0
    assert c.carbohydrate_id is CarbohydrateId.BREAKFAST
    assert c.carbohydrate_kg is not None and c.carbohydrate_kg.value == 0.05
    assert c.meal is Meal.PREPRANDIAL
    assert c.tester is GlucoseTester.SELF and c.health is Health.MAJOR_HEALTH_ISSUES
    assert c.exercise_duration_s == 1800 and c.exercise_intensity_percent == 50
    assert c.medication_id is MedicationId.RAPID_ACTING_INSULIN
    assert c.medication is not None and c.medication.value == 0.0005
    assert c.medication_unit is MedicationUnit.LITRE
    assert c.hba1c_percent is not None and c.hba1c_percent.value == 5.7


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (bytes([0x01, 0x01, 0x00, 0x08, 0x32, 0xD0]), 3),  # carbohydrate id 8 reserved
        (bytes([0x02, 0x01, 0x00, 0x06]), 3),  # meal 6 reserved
        (bytes([0x04, 0x01, 0x00, 0x14]), 3),  # tester 4 reserved
        (bytes([0x04, 0x01, 0x00, 0x61]), 3),  # health 6 reserved
        (bytes([0x08, 0x01, 0x00, 0x08, 0x07, 0x65]), 5),  # intensity 101 %
        (bytes([0x10, 0x01, 0x00, 0x06, 0x05, 0xC0]), 3),  # medication id 6 reserved
    ],
)
def test_context_reserved_values(data: bytes, offset: int) -> None:
    with pytest.raises(FieldError) as info:
        parse_glucose_measurement_context(data)
    assert info.value.offset == offset
    assert info.value.source == "0x2A34 Glucose Measurement Context"


def test_context_framing() -> None:
    with pytest.raises(FramingError):
        parse_glucose_measurement_context(bytes([0x40, 0x01, 0x00, 0x39]))  # HbA1c cut short
    with pytest.raises(FramingError):
        parse_glucose_measurement_context(bytes([0x00, 0x01, 0x00, 0x00]))  # trailing


@settings(max_examples=200)
@given(
    seq=st.integers(0, 0xFFFF),
    base=st.none() | st.datetimes(min_value=datetime(1600, 1, 1), max_value=datetime(9000, 1, 1)),  # noqa: DTZ001
    offset=st.none() | st.integers(-32768, 32767),
    conc=st.none() | SFLOATS,
    mol=st.booleans(),
    gtype=st.integers(1, 10),
    location=st.sampled_from([1, 2, 3, 4, 15]),
    status=st.none() | st.integers(0, 0xFFFF),
    follows=st.booleans(),
)
def test_measurement_round_trip(
    seq: int,
    base: datetime | None,
    offset: int | None,
    conc: tuple[int, int] | None,
    mol: bool,
    gtype: int,
    location: int,
    status: int | None,
    follows: bool,
) -> None:
    base = None if base is None else base.replace(microsecond=0)
    data = encoders.glucose_measurement(
        seq,
        base,
        time_offset_min=offset,
        concentration=conc,
        mol_per_l=mol,
        glucose_type=gtype,
        sample_location=location,
        sensor_status=status,
        context_follows=follows,
    )
    m = parse_glucose_measurement(data)
    assert m.sequence_number == seq and m.base_time == base and m.time_offset_min == offset
    if conc is None:
        assert m.concentration is None and m.glucose_type is None
    else:
        assert m.concentration is not None
        got = encoders.sfloat((m.concentration.mantissa, m.concentration.exponent))
        assert got == encoders.sfloat(conc)
        assert m.glucose_type == gtype and m.sample_location == location
        assert m.concentration_unit is (
            ConcentrationUnit.MOL_PER_L if mol else ConcentrationUnit.KG_PER_L
        )
    assert (m.sensor_status.raw if m.sensor_status else None) == status
    if status is not None:
        assert m.sensor_status is not None
        assert m.sensor_status.time_fault == bool(status & 0x0800)
    assert m.context_information_follows == follows


@settings(max_examples=200)
@given(
    seq=st.integers(0, 0xFFFF),
    ext=st.none() | st.integers(0, 255),
    carb=st.none() | st.tuples(st.integers(1, 7), SFLOATS),
    meal=st.none() | st.integers(1, 5),
    th=st.none() | st.tuples(st.sampled_from([1, 2, 3, 15]), st.sampled_from([1, 2, 3, 4, 5, 15])),
    exercise=st.none() | st.tuples(st.integers(0, 0xFFFF), st.integers(0, 100)),
    med=st.none() | st.tuples(st.integers(1, 5), SFLOATS),
    litres=st.booleans(),
    hba1c=st.none() | SFLOATS,
)
def test_context_round_trip(
    seq: int,
    ext: int | None,
    carb: tuple[int, tuple[int, int]] | None,
    meal: int | None,
    th: tuple[int, int] | None,
    exercise: tuple[int, int] | None,
    med: tuple[int, tuple[int, int]] | None,
    litres: bool,
    hba1c: tuple[int, int] | None,
) -> None:
    data = encoders.glucose_measurement_context(
        seq,
        extended_flags=ext,
        carbohydrate=carb,
        meal=meal,
        tester_health=th,
        exercise=exercise,
        medication=med,
        medication_litres=litres,
        hba1c=hba1c,
    )
    c = parse_glucose_measurement_context(data)
    assert c.sequence_number == seq and c.extended_flags == ext
    assert c.carbohydrate_id == (None if carb is None else carb[0])
    assert c.meal == meal
    assert (c.tester, c.health) == ((None, None) if th is None else th)
    assert (c.exercise_duration_s, c.exercise_intensity_percent) == (
        (None, None) if exercise is None else exercise
    )
    assert c.medication_id == (None if med is None else med[0])
    if med is not None:
        assert c.medication_unit is (MedicationUnit.LITRE if litres else MedicationUnit.KILOGRAM)
    assert (c.hba1c_percent is None) == (hba1c is None)
