"""IEEE 11073 MDC codes with their UCUM units and display labels.

Codes are the 32-bit context-free form (partition << 16 | term code), e.g. SpO2 is
partition 2, term 19384 → 150456. Tables here are data; map protocol codes onto them
rather than scattering numbers through drivers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Metric:
    mdc_code: int
    reference: str  # MDC reference id
    unit: str  # UCUM
    label: str  # short display label


MDC_PULS_OXIM_SAT_O2 = Metric(150456, "MDC_PULS_OXIM_SAT_O2", "%", "SpO2")
MDC_PULS_OXIM_PULS_RATE = Metric(149530, "MDC_PULS_OXIM_PULS_RATE", "/min", "PR")
MDC_PULS_OXIM_PERF_REL = Metric(150448, "MDC_PULS_OXIM_PERF_REL", "%", "PI")
MDC_PULS_OXIM_PLETH = Metric(150452, "MDC_PULS_OXIM_PLETH", "1", "Pleth")
MDC_ECG_HEART_RATE = Metric(147842, "MDC_ECG_HEART_RATE", "/min", "HR")
MDC_PULS_RATE = Metric(149514, "MDC_PULS_RATE", "/min", "Pulse")
MDC_BLD_PULS_RATE_INV = Metric(149522, "MDC_BLD_PULS_RATE_INV", "/min", "IBP pulse")
MDC_PULS_RATE_NON_INV = Metric(149546, "MDC_PULS_RATE_NON_INV", "/min", "NIBP pulse")
MDC_PRESS_BLD_NONINV_SYS = Metric(150021, "MDC_PRESS_BLD_NONINV_SYS", "mm[Hg]", "NIBP sys")
MDC_PRESS_BLD_NONINV_DIA = Metric(150022, "MDC_PRESS_BLD_NONINV_DIA", "mm[Hg]", "NIBP dia")
MDC_PRESS_BLD_NONINV_MEAN = Metric(150023, "MDC_PRESS_BLD_NONINV_MEAN", "mm[Hg]", "NIBP mean")
MDC_RESP_RATE = Metric(151562, "MDC_RESP_RATE", "/min", "RR")
MDC_TEMP_BODY = Metric(150364, "MDC_TEMP_BODY", "Cel", "Temp")
MDC_TEMP = Metric(150344, "MDC_TEMP", "Cel", "Temp")
MDC_MASS_BODY_ACTUAL = Metric(188736, "MDC_MASS_BODY_ACTUAL", "kg", "Weight")
MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD = Metric(
    160184, "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD", "mg/dL", "Glucose"
)
MDC_ATTR_VAL_BATT_CHARGE = Metric(67996, "MDC_ATTR_VAL_BATT_CHARGE", "%", "Battery")
# Parameters with no MDC term we could verify get codes in the private partition
# (IEEE 11073-10101 MDC_PART_PVT = 1024): 1024 << 16 | term. Vendor-private SCADA ids
# (0xF000 up in partition 2, e.g. Philips') pass through unchanged and cannot clash with
# these. Replace a private code when a verified MDC term is found.
MDC_PART_PVT = 1024


def private_code(term: int) -> int:
    """An EdgeTwin-private code: terms 0x0001-0x00FF serial, 0x0100-0x01FF BLE."""
    return MDC_PART_PVT << 16 | term


EDGETWIN_SAT_CO = Metric(private_code(0x01), "EDGETWIN_PRIVATE_SPCO", "%", "SpCO")
EDGETWIN_SAT_MET = Metric(private_code(0x02), "EDGETWIN_PRIVATE_SPMET", "%", "SpMet")
EDGETWIN_PLETH_VAR_IDX = Metric(private_code(0x03), "EDGETWIN_PRIVATE_PVI", "%", "PVI")

BY_CODE: dict[int, Metric] = {m.mdc_code: m for m in globals().values() if isinstance(m, Metric)}


def label_for(mdc_code: int) -> str:
    metric = BY_CODE.get(mdc_code)
    return metric.label if metric else str(mdc_code)
