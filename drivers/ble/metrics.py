"""MDC codes and UCUM units of the BLE health-profile fields, and one Measurement builder.

Codes come from :mod:`gateway.codes` where it has them; the others are kept here (the
gateway table is not ours to extend). Codes are ``partition << 16 | term``:

* IEEE 11073-10101 SCADA (partition 2) terms verified against public 11073 nomenclature
  headers (glucose, temperature sites, height, BMI, RR interval, cuff pressure).
* IEEE 11073-10417 glucose-context terms live in partition 128 (MDC_PART_PHD_DM).
* Fields with no MDC term we could verify get EdgeTwin-private codes
  ``codes.private_code(0x01nn)`` (partition MDC_PART_PVT = 1024)
"""

from __future__ import annotations

import math

from gateway import codes
from gateway.codes import Metric
from gateway.model import MISSING_REASONS, Measurement, Quality, ReceiveTime, stream_id_for

_SCADA = 2 << 16
_PHD_DM = 128 << 16
_PRIVATE_BLE = codes.private_code(0x0100)

# --- IEEE 11073-10101 terms not in gateway.codes ---------------------------------------------
MDC_ECG_TIME_PD_RR_GL = Metric(_SCADA | 16168, "MDC_ECG_TIME_PD_RR_GL", "ms", "RR interval")
MDC_PRESS_CUFF = Metric(_SCADA | 19228, "MDC_PRESS_CUFF", "mm[Hg]", "Cuff")
MDC_TEMP_TYMP = Metric(_SCADA | 19320, "MDC_TEMP_TYMP", "Cel", "Temp tymp")
MDC_TEMP_RECT = Metric(_SCADA | 57348, "MDC_TEMP_RECT", "Cel", "Temp rect")
MDC_TEMP_ORAL = Metric(_SCADA | 57352, "MDC_TEMP_ORAL", "Cel", "Temp oral")
MDC_TEMP_EAR = Metric(_SCADA | 57356, "MDC_TEMP_EAR", "Cel", "Temp ear")
MDC_TEMP_FINGER = Metric(_SCADA | 57360, "MDC_TEMP_FINGER", "Cel", "Temp finger")
MDC_TEMP_TOE = Metric(_SCADA | 57376, "MDC_TEMP_TOE", "Cel", "Temp toe")
MDC_TEMP_AXILLA = Metric(_SCADA | 57380, "MDC_TEMP_AXILLA", "Cel", "Temp axilla")
MDC_TEMP_GIT = Metric(_SCADA | 57384, "MDC_TEMP_GIT", "Cel", "Temp GI tract")
MDC_LEN_BODY_ACTUAL = Metric(_SCADA | 57668, "MDC_LEN_BODY_ACTUAL", "m", "Height")
MDC_RATIO_MASS_BODY_LEN_SQ = Metric(_SCADA | 57680, "MDC_RATIO_MASS_BODY_LEN_SQ", "kg/m2", "BMI")
MDC_CONC_GLU_GEN = Metric(_SCADA | 28948, "MDC_CONC_GLU_GEN", "mg/dL", "Glucose")
MDC_CONC_GLU_CAPILLARY_PLASMA = Metric(
    _SCADA | 29116, "MDC_CONC_GLU_CAPILLARY_PLASMA", "mg/dL", "Glucose cap plasma"
)
MDC_CONC_GLU_VENOUS_WHOLEBLOOD = Metric(
    _SCADA | 29120, "MDC_CONC_GLU_VENOUS_WHOLEBLOOD", "mg/dL", "Glucose ven blood"
)
MDC_CONC_GLU_VENOUS_PLASMA = Metric(
    _SCADA | 29124, "MDC_CONC_GLU_VENOUS_PLASMA", "mg/dL", "Glucose ven plasma"
)
MDC_CONC_GLU_ARTERIAL_WHOLEBLOOD = Metric(
    _SCADA | 29128, "MDC_CONC_GLU_ARTERIAL_WHOLEBLOOD", "mg/dL", "Glucose art blood"
)
MDC_CONC_GLU_ARTERIAL_PLASMA = Metric(
    _SCADA | 29132, "MDC_CONC_GLU_ARTERIAL_PLASMA", "mg/dL", "Glucose art plasma"
)
MDC_CONC_GLU_CONTROL = Metric(_SCADA | 29136, "MDC_CONC_GLU_CONTROL", "mg/dL", "Glucose control")
MDC_CONC_GLU_ISF = Metric(_SCADA | 29140, "MDC_CONC_GLU_ISF", "mg/dL", "Glucose ISF")
MDC_CONC_HBA1C = Metric(_SCADA | 29148, "MDC_CONC_HBA1C", "%", "HbA1c")

# --- IEEE 11073-10417 glucose context (MDC_PART_PHD_DM) -------------------------------------
MDC_CTXT_GLU_EXERCISE = Metric(_PHD_DM | 29152, "MDC_CTXT_GLU_EXERCISE", "%", "Exercise")
MDC_CTXT_GLU_CARB_BREAKFAST = Metric(_PHD_DM | 29160, "MDC_CTXT_GLU_CARB_BREAKFAST", "g", "Carbs")
MDC_CTXT_GLU_CARB_LUNCH = Metric(_PHD_DM | 29164, "MDC_CTXT_GLU_CARB_LUNCH", "g", "Carbs")
MDC_CTXT_GLU_CARB_DINNER = Metric(_PHD_DM | 29168, "MDC_CTXT_GLU_CARB_DINNER", "g", "Carbs")
MDC_CTXT_GLU_CARB_SNACK = Metric(_PHD_DM | 29172, "MDC_CTXT_GLU_CARB_SNACK", "g", "Carbs")
MDC_CTXT_GLU_CARB_DRINK = Metric(_PHD_DM | 29176, "MDC_CTXT_GLU_CARB_DRINK", "g", "Carbs")
MDC_CTXT_GLU_CARB_SUPPER = Metric(_PHD_DM | 29180, "MDC_CTXT_GLU_CARB_SUPPER", "g", "Carbs")
MDC_CTXT_GLU_CARB_BRUNCH = Metric(_PHD_DM | 29184, "MDC_CTXT_GLU_CARB_BRUNCH", "g", "Carbs")
MDC_CTXT_MEDICATION_RAPIDACTING = Metric(
    _PHD_DM | 29192, "MDC_CTXT_MEDICATION_RAPIDACTING", "mg", "Medication"
)
MDC_CTXT_MEDICATION_SHORTACTING = Metric(
    _PHD_DM | 29196, "MDC_CTXT_MEDICATION_SHORTACTING", "mg", "Medication"
)
MDC_CTXT_MEDICATION_INTERMEDIATEACTING = Metric(
    _PHD_DM | 29200, "MDC_CTXT_MEDICATION_INTERMEDIATEACTING", "mg", "Medication"
)
MDC_CTXT_MEDICATION_LONGACTING = Metric(
    _PHD_DM | 29204, "MDC_CTXT_MEDICATION_LONGACTING", "mg", "Medication"
)
MDC_CTXT_MEDICATION_PREMIX = Metric(
    _PHD_DM | 29208, "MDC_CTXT_MEDICATION_PREMIX", "mg", "Medication"
)

# --- private EdgeTwin codes (no verified MDC term) ------------------------------------------
EDGETWIN_BLE_ENERGY_EXPENDED = Metric(
    _PRIVATE_BLE | 0x01, "EDGETWIN_PRIVATE_ENERGY_EXPENDED", "kJ", "Energy"
)
EDGETWIN_BLE_SPO2_FAST = Metric(_PRIVATE_BLE | 0x02, "EDGETWIN_PRIVATE_SPO2_FAST", "%", "SpO2 fast")
EDGETWIN_BLE_PR_FAST = Metric(_PRIVATE_BLE | 0x03, "EDGETWIN_PRIVATE_PR_FAST", "/min", "PR fast")
EDGETWIN_BLE_SPO2_SLOW = Metric(_PRIVATE_BLE | 0x04, "EDGETWIN_PRIVATE_SPO2_SLOW", "%", "SpO2 slow")
EDGETWIN_BLE_PR_SLOW = Metric(_PRIVATE_BLE | 0x05, "EDGETWIN_PRIVATE_PR_SLOW", "/min", "PR slow")
EDGETWIN_BLE_EXERCISE_DURATION = Metric(
    _PRIVATE_BLE | 0x06, "EDGETWIN_PRIVATE_EXERCISE_DURATION", "s", "Exercise time"
)
EDGETWIN_BLE_CGM_TREND = Metric(
    _PRIVATE_BLE | 0x07, "EDGETWIN_PRIVATE_CGM_TREND", "mg/dL/min", "Glucose trend"
)
EDGETWIN_BLE_CGM_QUALITY = Metric(
    _PRIVATE_BLE | 0x08, "EDGETWIN_PRIVATE_CGM_QUALITY", "%", "CGM quality"
)

#: Every metric this package emits, by code (gateway.codes ones included).
BLE_METRICS: dict[int, Metric] = {
    m.mdc_code: m
    for m in [
        codes.MDC_ECG_HEART_RATE,
        codes.MDC_PULS_OXIM_SAT_O2,
        codes.MDC_PULS_OXIM_PULS_RATE,
        codes.MDC_PULS_OXIM_PERF_REL,
        codes.MDC_PULS_RATE_NON_INV,
        codes.MDC_PRESS_BLD_NONINV_SYS,
        codes.MDC_PRESS_BLD_NONINV_DIA,
        codes.MDC_PRESS_BLD_NONINV_MEAN,
        codes.MDC_TEMP_BODY,
        codes.MDC_MASS_BODY_ACTUAL,
        codes.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD,
        codes.MDC_ATTR_VAL_BATT_CHARGE,
        *(v for v in list(globals().values()) if isinstance(v, Metric)),
    ]
}


def measurement(
    metric: Metric,
    value: float | None,
    quality: Quality,
    device_id: str,
    received: ReceiveTime,
    device_time_ns: int | None,
    unit: str | None = None,
) -> Measurement:
    """One Measurement of ``metric``; ``None`` becomes NaN, which needs a reason in ``quality``."""
    value = math.nan if value is None else float(value)
    if math.isnan(value) and not quality & MISSING_REASONS:
        quality |= Quality.UNAVAILABLE
    return Measurement(
        device_id=device_id,
        stream_id=stream_id_for(device_id, str(metric.mdc_code)),
        mdc_code=metric.mdc_code,
        unit=metric.unit if unit is None else unit,
        value=value,
        quality=quality,
        received=received,
        device_time_ns=device_time_ns,
    )
