"""Glucose Service: Glucose Measurement (0x2A18) and Glucose Measurement Context (0x2A34).

Measurement flags: bit0 Time Offset, bit1 Type-Sample Location and Concentration, bit2
concentration unit mol/L (else kg/L), bit3 Sensor Status Annunciation, bit4 context
information follows; bits5-7 reserved (ignored). Fields: Sequence Number (u16), Base Time
(7, always), Time Offset (s16 minutes), Concentration (SFLOAT), Type-Sample Location (u8:
low nibble type 1..10, high nibble location 1..4 or 15), Sensor Status Annunciation (u16,
bits 0-11; 12-15 reserved and ignored).

Context flags: bit0 Carbohydrate ID and Carbohydrate, bit1 Meal, bit2 Tester-Health, bit3
Exercise Duration and Intensity, bit4 Medication ID and Medication, bit5 medication in
litres (else kg), bit6 HbA1c, bit7 Extended Flags present. Fields: Sequence Number (u16),
Extended Flags (u8), Carbohydrate ID (u8 1..7) + Carbohydrate (SFLOAT kg), Meal (u8 1..5),
Tester-Health (u8: low nibble tester 1..3/15, high nibble health 1..5/15), Exercise
Duration (u16 s, 0xFFFF overrun) + Intensity (u8 %), Medication ID (u8 1..5) + Medication
(SFLOAT kg or L), HbA1c (SFLOAT %).

Errors: FramingError when shorter than the flags ask for or with trailing bytes;
FieldError for reserved enumerations, intensity over 100 %, a time stamp out of range, or
a base time plus offset outside the calendar.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from drivers.ble import metrics, uuids
from drivers.ble.date_time import device_time_ns, read_date_time
from drivers.ble.ieee11073 import MderFloat
from drivers.ble.reader import Reader
from gateway import codes
from gateway.codes import Metric
from gateway.model import Measurement, Quality, ReceiveTime

MEASUREMENT_SOURCE = uuids.source(uuids.GLUCOSE_MEASUREMENT)
CONTEXT_SOURCE = uuids.source(uuids.GLUCOSE_MEASUREMENT_CONTEXT)
EXERCISE_DURATION_OVERRUN = 0xFFFF


class GlucoseType(enum.IntEnum):
    CAPILLARY_WHOLE_BLOOD = 1
    CAPILLARY_PLASMA = 2
    VENOUS_WHOLE_BLOOD = 3
    VENOUS_PLASMA = 4
    ARTERIAL_WHOLE_BLOOD = 5
    ARTERIAL_PLASMA = 6
    UNDETERMINED_WHOLE_BLOOD = 7
    UNDETERMINED_PLASMA = 8
    INTERSTITIAL_FLUID = 9
    CONTROL_SOLUTION = 10


class SampleLocation(enum.IntEnum):
    FINGER = 1
    ALTERNATE_SITE_TEST = 2
    EARLOBE = 3
    CONTROL_SOLUTION = 4
    SUBCUTANEOUS_TISSUE = 5  # CGM only; reserved in the Glucose Measurement
    NOT_AVAILABLE = 15


class ConcentrationUnit(enum.Enum):
    KG_PER_L = "kg/L"
    MOL_PER_L = "mol/L"


class CarbohydrateId(enum.IntEnum):
    BREAKFAST = 1
    LUNCH = 2
    DINNER = 3
    SNACK = 4
    DRINK = 5
    SUPPER = 6
    BRUNCH = 7


class Meal(enum.IntEnum):
    PREPRANDIAL = 1
    POSTPRANDIAL = 2
    FASTING = 3
    CASUAL = 4
    BEDTIME = 5


class Tester(enum.IntEnum):
    SELF = 1
    HEALTH_CARE_PROFESSIONAL = 2
    LAB_TEST = 3
    NOT_AVAILABLE = 15


class Health(enum.IntEnum):
    MINOR_HEALTH_ISSUES = 1
    MAJOR_HEALTH_ISSUES = 2
    DURING_MENSES = 3
    UNDER_STRESS = 4
    NO_HEALTH_ISSUES = 5
    NOT_AVAILABLE = 15


class MedicationId(enum.IntEnum):
    RAPID_ACTING_INSULIN = 1
    SHORT_ACTING_INSULIN = 2
    INTERMEDIATE_ACTING_INSULIN = 3
    LONG_ACTING_INSULIN = 4
    PRE_MIXED_INSULIN = 5


class MedicationUnit(enum.Enum):
    KILOGRAM = "kg"
    LITRE = "L"


@dataclass(frozen=True, slots=True)
class GlucoseSensorStatus:
    raw: int
    device_battery_low: bool
    sensor_malfunction: bool
    sample_size_insufficient: bool
    strip_insertion_error: bool
    strip_type_incorrect: bool
    result_higher_than_device_can_process: bool
    result_lower_than_device_can_process: bool
    temperature_too_high: bool
    temperature_too_low: bool
    read_interrupted: bool
    general_device_fault: bool
    time_fault: bool

    def quality(self) -> Quality:
        q = Quality(0)
        if self.raw & 0x061E:  # malfunction, sample, strip, read interrupted, device fault
            q |= Quality.INVALID
        if self.result_higher_than_device_can_process:
            q |= Quality.OVER_RANGE
        if self.result_lower_than_device_can_process:
            q |= Quality.UNDER_RANGE
        if self.temperature_too_high or self.temperature_too_low:
            q |= Quality.QUESTIONABLE
        return q


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    sequence_number: int
    base_time: datetime | None
    time_offset_min: int | None
    timestamp: datetime | None  # base time + offset
    concentration: MderFloat | None
    concentration_unit: ConcentrationUnit | None
    concentration_mg_dl: float | None  # kg/L x 10**5
    concentration_mmol_l: float | None  # mol/L x 10**3
    glucose_type: GlucoseType | None
    sample_location: SampleLocation | None
    sensor_status: GlucoseSensorStatus | None
    context_information_follows: bool


@dataclass(frozen=True, slots=True)
class GlucoseMeasurementContext:
    sequence_number: int
    extended_flags: int | None
    carbohydrate_id: CarbohydrateId | None
    carbohydrate_kg: MderFloat | None
    meal: Meal | None
    tester: Tester | None
    health: Health | None
    exercise_duration_s: int | None  # 0xFFFF = overrun
    exercise_intensity_percent: int | None
    medication_id: MedicationId | None
    medication: MderFloat | None
    medication_unit: MedicationUnit | None
    hba1c_percent: MderFloat | None


_E = TypeVar("_E", bound=enum.IntEnum)


def _enum_u8(r: Reader, kind: type[_E], value: int, at: int, what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise r.field_error(at, f"{what} {value} is reserved") from None


def parse_glucose_measurement(data: bytes | bytearray | memoryview) -> GlucoseMeasurement:
    """Parse 0x2A18 (see module docstring for the errors raised)."""
    r = Reader(MEASUREMENT_SOURCE, data)
    flags = r.u8("flags")
    seq = r.u16("sequence number")
    base_at = r.pos
    base = read_date_time(r, "base time")
    offset = r.s16("time offset") if flags & 0x01 else None
    concentration = unit = gtype = location = None
    if flags & 0x02:
        concentration = r.sfloat("glucose concentration")
        unit = ConcentrationUnit.MOL_PER_L if flags & 0x04 else ConcentrationUnit.KG_PER_L
        at = r.pos
        packed = r.u8("type-sample location")
        gtype = _enum_u8(r, GlucoseType, packed & 0x0F, at, "glucose type")
        location = _enum_u8(r, SampleLocation, packed >> 4, at, "sample location")
        if location is SampleLocation.SUBCUTANEOUS_TISSUE:
            raise r.field_error(at, "sample location 5 is reserved in the Glucose Measurement")
    status = None
    if flags & 0x08:
        raw = r.u16("sensor status annunciation")
        status = GlucoseSensorStatus(raw, *(bool(raw >> bit & 1) for bit in range(12)))
    r.end()
    stamp = base
    if base is not None and offset:
        try:
            stamp = base + timedelta(minutes=offset)
        except OverflowError:
            raise r.field_error(
                base_at, "base time plus time offset is outside the calendar"
            ) from None
    mg_dl = mmol_l = None
    if concentration is not None:
        if unit is ConcentrationUnit.KG_PER_L:
            mg_dl = concentration.scaled(5)
        else:
            mmol_l = concentration.scaled(3)
    return GlucoseMeasurement(
        sequence_number=seq,
        base_time=base,
        time_offset_min=offset,
        timestamp=stamp,
        concentration=concentration,
        concentration_unit=unit,
        concentration_mg_dl=mg_dl,
        concentration_mmol_l=mmol_l,
        glucose_type=gtype,
        sample_location=location,
        sensor_status=status,
        context_information_follows=bool(flags & 0x10),
    )


def parse_glucose_measurement_context(
    data: bytes | bytearray | memoryview,
) -> GlucoseMeasurementContext:
    """Parse 0x2A34 (see module docstring for the errors raised)."""
    r = Reader(CONTEXT_SOURCE, data)
    flags = r.u8("flags")
    seq = r.u16("sequence number")
    extended = r.u8("extended flags") if flags & 0x80 else None
    carb_id = carb = meal = tester = health = None
    duration = intensity = med_id = med = med_unit = hba1c = None
    if flags & 0x01:
        at = r.pos
        carb_id = _enum_u8(r, CarbohydrateId, r.u8("carbohydrate id"), at, "carbohydrate id")
        carb = r.sfloat("carbohydrate")
    if flags & 0x02:
        at = r.pos
        meal = _enum_u8(r, Meal, r.u8("meal"), at, "meal")
    if flags & 0x04:
        at = r.pos
        packed = r.u8("tester-health")
        tester = _enum_u8(r, Tester, packed & 0x0F, at, "tester")
        health = _enum_u8(r, Health, packed >> 4, at, "health")
    if flags & 0x08:
        duration = r.u16("exercise duration")
        at = r.pos
        intensity = r.u8("exercise intensity")
        if intensity > 100:
            raise r.field_error(at, f"exercise intensity {intensity} % is over 100 %")
    if flags & 0x10:
        at = r.pos
        med_id = _enum_u8(r, MedicationId, r.u8("medication id"), at, "medication id")
        med = r.sfloat("medication")
        med_unit = MedicationUnit.LITRE if flags & 0x20 else MedicationUnit.KILOGRAM
    if flags & 0x40:
        hba1c = r.sfloat("HbA1c")
    r.end()
    return GlucoseMeasurementContext(
        sequence_number=seq,
        extended_flags=extended,
        carbohydrate_id=carb_id,
        carbohydrate_kg=carb,
        meal=meal,
        tester=tester,
        health=health,
        exercise_duration_s=duration,
        exercise_intensity_percent=intensity,
        medication_id=med_id,
        medication=med,
        medication_unit=med_unit,
        hba1c_percent=hba1c,
    )


#: Glucose type -> concentration metric (undetermined types use the generic code).
TYPE_METRICS: dict[GlucoseType, Metric] = {
    GlucoseType.CAPILLARY_WHOLE_BLOOD: codes.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD,
    GlucoseType.CAPILLARY_PLASMA: metrics.MDC_CONC_GLU_CAPILLARY_PLASMA,
    GlucoseType.VENOUS_WHOLE_BLOOD: metrics.MDC_CONC_GLU_VENOUS_WHOLEBLOOD,
    GlucoseType.VENOUS_PLASMA: metrics.MDC_CONC_GLU_VENOUS_PLASMA,
    GlucoseType.ARTERIAL_WHOLE_BLOOD: metrics.MDC_CONC_GLU_ARTERIAL_WHOLEBLOOD,
    GlucoseType.ARTERIAL_PLASMA: metrics.MDC_CONC_GLU_ARTERIAL_PLASMA,
    GlucoseType.UNDETERMINED_WHOLE_BLOOD: metrics.MDC_CONC_GLU_GEN,
    GlucoseType.UNDETERMINED_PLASMA: metrics.MDC_CONC_GLU_GEN,
    GlucoseType.INTERSTITIAL_FLUID: metrics.MDC_CONC_GLU_ISF,
    GlucoseType.CONTROL_SOLUTION: metrics.MDC_CONC_GLU_CONTROL,
}
CARB_METRICS: dict[CarbohydrateId, Metric] = {
    CarbohydrateId.BREAKFAST: metrics.MDC_CTXT_GLU_CARB_BREAKFAST,
    CarbohydrateId.LUNCH: metrics.MDC_CTXT_GLU_CARB_LUNCH,
    CarbohydrateId.DINNER: metrics.MDC_CTXT_GLU_CARB_DINNER,
    CarbohydrateId.SNACK: metrics.MDC_CTXT_GLU_CARB_SNACK,
    CarbohydrateId.DRINK: metrics.MDC_CTXT_GLU_CARB_DRINK,
    CarbohydrateId.SUPPER: metrics.MDC_CTXT_GLU_CARB_SUPPER,
    CarbohydrateId.BRUNCH: metrics.MDC_CTXT_GLU_CARB_BRUNCH,
}
MEDICATION_METRICS: dict[MedicationId, Metric] = {
    MedicationId.RAPID_ACTING_INSULIN: metrics.MDC_CTXT_MEDICATION_RAPIDACTING,
    MedicationId.SHORT_ACTING_INSULIN: metrics.MDC_CTXT_MEDICATION_SHORTACTING,
    MedicationId.INTERMEDIATE_ACTING_INSULIN: metrics.MDC_CTXT_MEDICATION_INTERMEDIATEACTING,
    MedicationId.LONG_ACTING_INSULIN: metrics.MDC_CTXT_MEDICATION_LONGACTING,
    MedicationId.PRE_MIXED_INSULIN: metrics.MDC_CTXT_MEDICATION_PREMIX,
}


def measurements_from_measurement(
    parsed: GlucoseMeasurement, device_id: str, received: ReceiveTime
) -> list[Measurement]:
    """The concentration in mg/dL (kg/L records) or mmol/L (mol/L records).

    Control-solution readings are marked TEST; annunciation bits mark INVALID, OVER_RANGE,
    UNDER_RANGE or QUESTIONABLE. Device time is base time + offset.
    """
    if parsed.concentration is None:
        return []
    metric = TYPE_METRICS[parsed.glucose_type or GlucoseType.UNDETERMINED_WHOLE_BLOOD]
    quality = parsed.concentration.quality
    if parsed.sensor_status is not None:
        quality |= parsed.sensor_status.quality()
    if parsed.glucose_type is GlucoseType.CONTROL_SOLUTION or (
        parsed.sample_location is SampleLocation.CONTROL_SOLUTION
    ):
        quality |= Quality.TEST
    if parsed.concentration_unit is ConcentrationUnit.KG_PER_L:
        value, unit = parsed.concentration_mg_dl, "mg/dL"
    else:
        value, unit = parsed.concentration_mmol_l, "mmol/L"
    device_ns = None if parsed.timestamp is None else device_time_ns(parsed.timestamp)
    return [metrics.measurement(metric, value, quality, device_id, received, device_ns, unit)]


def measurements_from_context(
    parsed: GlucoseMeasurementContext, device_id: str, received: ReceiveTime
) -> list[Measurement]:
    """Carbohydrate (g), exercise intensity (%) and duration (s), medication (mg or mL), HbA1c (%).

    The context has no time of its own (it belongs to the measurement with the same
    sequence number), so ``device_time_ns`` stays ``None``.
    """
    out: list[Measurement] = []

    def add(metric: Metric, value: float | None, quality: Quality, unit: str | None = None) -> None:
        out.append(metrics.measurement(metric, value, quality, device_id, received, None, unit))

    if parsed.carbohydrate_id is not None and parsed.carbohydrate_kg is not None:
        carb = parsed.carbohydrate_kg
        add(CARB_METRICS[parsed.carbohydrate_id], carb.scaled(3), carb.quality)
    if parsed.exercise_intensity_percent is not None:
        add(metrics.MDC_CTXT_GLU_EXERCISE, parsed.exercise_intensity_percent, Quality(0))
    if parsed.exercise_duration_s is not None:
        overrun = parsed.exercise_duration_s == EXERCISE_DURATION_OVERRUN
        add(
            metrics.EDGETWIN_BLE_EXERCISE_DURATION,
            None if overrun else parsed.exercise_duration_s,
            Quality.OVER_RANGE if overrun else Quality(0),
        )
    if parsed.medication_id is not None and parsed.medication is not None:
        med = parsed.medication
        litres = parsed.medication_unit is MedicationUnit.LITRE
        add(
            MEDICATION_METRICS[parsed.medication_id],
            med.scaled(3 if litres else 6),
            med.quality,
            "mL" if litres else "mg",
        )
    if parsed.hba1c_percent is not None:
        hba1c = parsed.hba1c_percent
        add(metrics.MDC_CONC_HBA1C, hba1c.value, hba1c.quality)
    return out


def to_measurements(
    parsed: GlucoseMeasurement | GlucoseMeasurementContext,
    device_id: str,
    received: ReceiveTime,
) -> list[Measurement]:
    """Measurements of a Glucose Measurement or of its Context."""
    if isinstance(parsed, GlucoseMeasurement):
        return measurements_from_measurement(parsed, device_id, received)
    return measurements_from_context(parsed, device_id, received)
