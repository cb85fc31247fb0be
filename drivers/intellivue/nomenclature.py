"""IntelliVue nomenclature: physiological ids to MDC codes, unit codes to UCUM.

IntelliVue physiological ids live in the SCADA partition (2) of the IEEE 11073-10101
nomenclature, so the context-free MDC code is ``2 << 16 | physio_id`` (SpO2 19384 ->
150456). Two Philips-private ids have a standard code that OpenICE maps them to
(``mdpnp/mdpnp:interop-lab/demo-devices/.../intellivue/intellivue.map``): the pleth pulse
rate and the NBP pulse rate. Ids and unit codes follow ``xeonfusion/VSCaptureMP:Class2.cs``
(enums ``AlertSource`` and ``UnitCode``), which reproduce the Philips Data Export guide.

Labels (``NOM_ATTR_ID_LABEL``) are TextIds; for SCADA terms the TextId is ``0x0002xxxx``
with the physio id in the low 16 bits (``NLS_NOM_ECG_ELEC_POTL_II`` = 0x00020102). A wave
may carry the generic physio id (``NOM_ECG_ELEC_POTL``) and name the lead only in its label,
so :func:`metric_id` prefers the label there.
"""

from __future__ import annotations

from dataclasses import dataclass

PARTITION_SCADA = 2
NOM_ECG_ELEC_POTL = 0x0100  # generic ECG, the lead is in the label
NOM_METRIC_NOS = 0xEFFF  # "metric not otherwise specified"
GENERIC_IDS = frozenset({NOM_ECG_ELEC_POTL, NOM_METRIC_NOS})

# Unit codes (partition DIM) used below.
DIM_DIMLESS = 512
DIM_PERCENT = 544
DIM_BEAT_PER_MIN = 2720
DIM_RESP_PER_MIN = 2784
DIM_MMHG = 3872
DIM_MILLI_VOLT = 4274
DIM_DEGC = 6048
DIM_SEC = 2176
DIM_MILLI_SEC = 2194
DIM_L_PER_MIN = 3072
DIM_MILLI_L = 1618


@dataclass(frozen=True, slots=True)
class Physio:
    """One physiological id: its IntelliVue name, a short label, MDC code, usual unit."""

    physio_id: int
    name: str
    label: str
    mdc_code: int
    unit_code: int | None


def _scada(physio_id: int) -> int:
    return PARTITION_SCADA << 16 | physio_id


# (physio id, NOM_ name, label, unit code); MDC code defaults to 2 << 16 | id.
_ROWS: tuple[tuple[int, str, str, int | None], ...] = (
    (0x0100, "NOM_ECG_ELEC_POTL", "ECG", DIM_MILLI_VOLT),
    (0x0101, "NOM_ECG_ELEC_POTL_I", "ECG I", DIM_MILLI_VOLT),
    (0x0102, "NOM_ECG_ELEC_POTL_II", "ECG II", DIM_MILLI_VOLT),
    (0x0103, "NOM_ECG_ELEC_POTL_V1", "ECG V1", DIM_MILLI_VOLT),
    (0x0104, "NOM_ECG_ELEC_POTL_V2", "ECG V2", DIM_MILLI_VOLT),
    (0x0105, "NOM_ECG_ELEC_POTL_V3", "ECG V3", DIM_MILLI_VOLT),
    (0x0106, "NOM_ECG_ELEC_POTL_V4", "ECG V4", DIM_MILLI_VOLT),
    (0x0107, "NOM_ECG_ELEC_POTL_V5", "ECG V5", DIM_MILLI_VOLT),
    (0x0108, "NOM_ECG_ELEC_POTL_V6", "ECG V6", DIM_MILLI_VOLT),
    (0x013D, "NOM_ECG_ELEC_POTL_III", "ECG III", DIM_MILLI_VOLT),
    (0x013E, "NOM_ECG_ELEC_POTL_AVR", "ECG aVR", DIM_MILLI_VOLT),
    (0x013F, "NOM_ECG_ELEC_POTL_AVL", "ECG aVL", DIM_MILLI_VOLT),
    (0x0140, "NOM_ECG_ELEC_POTL_AVF", "ECG aVF", DIM_MILLI_VOLT),
    (0x0143, "NOM_ECG_ELEC_POTL_V", "ECG V", DIM_MILLI_VOLT),
    (0x014B, "NOM_ECG_ELEC_POTL_MCL", "ECG MCL", DIM_MILLI_VOLT),
    (0x0300, "NOM_ECG_AMPL_ST", "ST", None),
    (0x0301, "NOM_ECG_AMPL_ST_I", "ST I", None),
    (0x0302, "NOM_ECG_AMPL_ST_II", "ST II", None),
    (0x0303, "NOM_ECG_AMPL_ST_V1", "ST V1", None),
    (0x0304, "NOM_ECG_AMPL_ST_V2", "ST V2", None),
    (0x0305, "NOM_ECG_AMPL_ST_V3", "ST V3", None),
    (0x0306, "NOM_ECG_AMPL_ST_V4", "ST V4", None),
    (0x0307, "NOM_ECG_AMPL_ST_V5", "ST V5", None),
    (0x0308, "NOM_ECG_AMPL_ST_V6", "ST V6", None),
    (0x033D, "NOM_ECG_AMPL_ST_III", "ST III", None),
    (0x033E, "NOM_ECG_AMPL_ST_AVR", "ST aVR", None),
    (0x033F, "NOM_ECG_AMPL_ST_AVL", "ST aVL", None),
    (0x0340, "NOM_ECG_AMPL_ST_AVF", "ST aVF", None),
    (16160, "NOM_ECG_TIME_PD_QT_GL", "QT", DIM_MILLI_SEC),
    (16164, "NOM_ECG_TIME_PD_QTc", "QTc", DIM_MILLI_SEC),
    (16770, "NOM_ECG_CARD_BEAT_RATE", "HR", DIM_BEAT_PER_MIN),
    (16778, "NOM_ECG_CARD_BEAT_RATE_BTB", "HR btb", DIM_BEAT_PER_MIN),
    (16993, "NOM_ECG_V_P_C_CNT", "PVC", None),
    (18442, "NOM_PULS_RATE", "Pulse", DIM_BEAT_PER_MIN),
    (18466, "NOM_PLETH_PULS_RATE", "Pulse (SpO2)", DIM_BEAT_PER_MIN),
    (18700, "NOM_OUTPUT_CARD_INDEX", "CI", None),
    (18944, "NOM_PRESS_BLD", "BP", DIM_MMHG),
    (18945, "NOM_PRESS_BLD_SYS", "BP sys", DIM_MMHG),
    (18946, "NOM_PRESS_BLD_DIA", "BP dia", DIM_MMHG),
    (18947, "NOM_PRESS_BLD_MEAN", "BP mean", DIM_MMHG),
    (18948, "NOM_PRESS_BLD_NONINV", "NBP", DIM_MMHG),
    (18949, "NOM_PRESS_BLD_NONINV_SYS", "NBP sys", DIM_MMHG),
    (18950, "NOM_PRESS_BLD_NONINV_DIA", "NBP dia", DIM_MMHG),
    (18951, "NOM_PRESS_BLD_NONINV_MEAN", "NBP mean", DIM_MMHG),
    (18956, "NOM_PRESS_BLD_AORT", "Ao", DIM_MMHG),
    (18957, "NOM_PRESS_BLD_AORT_SYS", "Ao sys", DIM_MMHG),
    (18958, "NOM_PRESS_BLD_AORT_DIA", "Ao dia", DIM_MMHG),
    (18959, "NOM_PRESS_BLD_AORT_MEAN", "Ao mean", DIM_MMHG),
    (18960, "NOM_PRESS_BLD_ART", "ART", DIM_MMHG),
    (18961, "NOM_PRESS_BLD_ART_SYS", "ART sys", DIM_MMHG),
    (18962, "NOM_PRESS_BLD_ART_DIA", "ART dia", DIM_MMHG),
    (18963, "NOM_PRESS_BLD_ART_MEAN", "ART mean", DIM_MMHG),
    (18964, "NOM_PRESS_BLD_ART_ABP", "ABP", DIM_MMHG),
    (18965, "NOM_PRESS_BLD_ART_ABP_SYS", "ABP sys", DIM_MMHG),
    (18966, "NOM_PRESS_BLD_ART_ABP_DIA", "ABP dia", DIM_MMHG),
    (18967, "NOM_PRESS_BLD_ART_ABP_MEAN", "ABP mean", DIM_MMHG),
    (18972, "NOM_PRESS_BLD_ART_PULM", "PAP", DIM_MMHG),
    (18973, "NOM_PRESS_BLD_ART_PULM_SYS", "PAP sys", DIM_MMHG),
    (18974, "NOM_PRESS_BLD_ART_PULM_DIA", "PAP dia", DIM_MMHG),
    (18975, "NOM_PRESS_BLD_ART_PULM_MEAN", "PAP mean", DIM_MMHG),
    (18980, "NOM_PRESS_BLD_ART_PULM_WEDGE", "PAWP", DIM_MMHG),
    (18992, "NOM_PRESS_BLD_ATR_LEFT", "LAP", DIM_MMHG),
    (18995, "NOM_PRESS_BLD_ATR_LEFT_MEAN", "LAP mean", DIM_MMHG),
    (18996, "NOM_PRESS_BLD_ATR_RIGHT", "RAP", DIM_MMHG),
    (18999, "NOM_PRESS_BLD_ATR_RIGHT_MEAN", "RAP mean", DIM_MMHG),
    (19012, "NOM_PRESS_BLD_VEN_CENT", "CVP", DIM_MMHG),
    (19013, "NOM_PRESS_BLD_VEN_CENT_SYS", "CVP sys", DIM_MMHG),
    (19014, "NOM_PRESS_BLD_VEN_CENT_DIA", "CVP dia", DIM_MMHG),
    (19015, "NOM_PRESS_BLD_VEN_CENT_MEAN", "CVP mean", DIM_MMHG),
    (19204, "NOM_OUTPUT_CARD", "C.O.", DIM_L_PER_MIN),
    (19244, "NOM_SAT_O2", "SO2", DIM_PERCENT),
    (19252, "NOM_SAT_O2_ART", "SaO2", DIM_PERCENT),
    (19260, "NOM_SAT_O2_VEN", "SvO2", DIM_PERCENT),
    (19272, "NOM_TEMP", "Temp", DIM_DEGC),
    (19280, "NOM_TEMP_ART", "Tart", DIM_DEGC),
    (19284, "NOM_TEMP_AWAY", "Tairway", DIM_DEGC),
    (19296, "NOM_TEMP_CORE", "Tcore", DIM_DEGC),
    (19300, "NOM_TEMP_ESOPH", "Teso", DIM_DEGC),
    (19308, "NOM_TEMP_NASOPH", "Tnaso", DIM_DEGC),
    (19316, "NOM_TEMP_SKIN", "Tskin", DIM_DEGC),
    (19320, "NOM_TEMP_TYMP", "Ttymp", DIM_DEGC),
    (19324, "NOM_TEMP_VEN", "Tven", DIM_DEGC),
    (19376, "NOM_PULS_OXIM_PERF_REL", "Perf", DIM_DIMLESS),
    (19380, "NOM_PLETH", "Pleth", DIM_DIMLESS),
    (19384, "NOM_PULS_OXIM_SAT_O2", "SpO2", DIM_PERCENT),
    (20480, "NOM_RESP", "Resp", DIM_DIMLESS),
    (20490, "NOM_RESP_RATE", "RR", DIM_RESP_PER_MIN),
    (20498, "NOM_AWAY_RESP_RATE", "awRR", DIM_RESP_PER_MIN),
    (20652, "NOM_AWAY_CO2", "CO2", DIM_MMHG),
    (20656, "NOM_AWAY_CO2_ET", "etCO2", DIM_MMHG),
    (20666, "NOM_AWAY_CO2_INSP_MIN", "imCO2", DIM_MMHG),
    (20692, "NOM_FLOW_AWAY", "AWF", None),
    (20720, "NOM_PRESS_AWAY", "AWP", None),
    (20784, "NOM_TIME_PD_APNEA", "Apnea", DIM_SEC),
    (20796, "NOM_VOL_AWAY_TIDAL", "TV", DIM_MILLI_L),
    (20808, "NOM_VOL_MINUTE_AWAY", "MV", DIM_L_PER_MIN),
    (20836, "NOM_CONC_AWAY_O2", "O2", DIM_PERCENT),
    (22532, "NOM_PRESS_CEREB_PERF", "CPP", DIM_MMHG),
    (22536, "NOM_PRESS_INTRA_CRAN", "ICP", DIM_MMHG),
    (22539, "NOM_PRESS_INTRA_CRAN_MEAN", "ICP mean", DIM_MMHG),
    (57348, "NOM_TEMP_RECT", "Trect", DIM_DEGC),
    (57364, "NOM_TEMP_BLD", "Tblood", DIM_DEGC),
    (57368, "NOM_TEMP_DIFF", "dTemp", DIM_DEGC),
    (61439, "NOM_METRIC_NOS", "Metric", None),
    (61518, "NOM_EEG_BISPECTRAL_INDEX", "BIS", DIM_DIMLESS),
    (61636, "NOM_TEMP_VESICAL", "Tves", DIM_DEGC),
    (61669, "NOM_PRESS_BLD_NONINV_PULS_RATE", "Pulse (NBP)", DIM_BEAT_PER_MIN),
    (61704, "NOM_TEMP_ORAL", "Toral", DIM_DEGC),
    (61708, "NOM_TEMP_AXIL", "Taxil", DIM_DEGC),
)

#: Standard codes for Philips-private ids (OpenICE ``intellivue.map``).
_MDC_OVERRIDES: dict[int, int] = {
    18466: 149530,  # NOM_PLETH_PULS_RATE -> MDC_PULS_OXIM_PULS_RATE
    61669: 149546,  # NOM_PRESS_BLD_NONINV_PULS_RATE -> MDC_PULS_RATE_NON_INV
}

PHYSIO: dict[int, Physio] = {
    pid: Physio(pid, name, label, _MDC_OVERRIDES.get(pid, _scada(pid)), unit)
    for pid, name, label, unit in _ROWS
}

#: IntelliVue unit code (partition DIM) -> UCUM.
UCUM: dict[int, str] = {
    512: "1",
    544: "%",
    576: "[ppth]",
    608: "[ppm]",
    992: "[pH]",
    1280: "m",
    1297: "cm",
    1298: "mm",
    1299: "um",
    1376: "[in_i]",
    1426: "mL/m2",
    1472: "m2",
    1600: "L",
    1618: "mL",
    1650: "mL/{breath}",
    1728: "g",
    1731: "kg",
    1746: "mg",
    1747: "ug",
    1760: "[lb_av]",
    1955: "kg/m2",
    2048: "g/L",
    2112: "g/dL",
    2130: "mg/dL",
    2176: "s",
    2194: "ms",
    2195: "us",
    2208: "min",
    2240: "h",
    2272: "d",
    2464: "/s",
    2496: "Hz",
    2528: "/min",
    2720: "/min",
    2752: "/min",
    2784: "/min",
    2816: "m/s",
    2848: "L/min/m2",
    2866: "mL/min/m2",
    3040: "L/s",
    3072: "L/min",
    3090: "mL/min",
    3122: "mL/h",
    3186: "mL/kg",
    3840: "Pa",
    3842: "hPa",
    3843: "kPa",
    3872: "mm[Hg]",
    3904: "cm[H2O]",
    3954: "mbar",
    4032: "W",
    4178: "mA",
    4256: "V",
    4274: "mV",
    4275: "uV",
    4288: "Ohm",
    4291: "kOhm",
    4384: "K",
    4416: "[degF]",
    4722: "mmol/L",
    4723: "umol/L",
    4850: "meq/L",
    5906: "mL/cm[H2O]",
    5920: "cm[H2O]/L/s",
    6048: "Cel",
    6432: "dB",
}


def mdc_code(physio_id: int) -> int:
    """Context-free MDC code of a SCADA physiological id."""
    row = PHYSIO.get(physio_id)
    return row.mdc_code if row is not None else _scada(physio_id)


def ucum(unit_code: int) -> str:
    """UCUM unit of an IntelliVue unit code; an annotation naming the code if unknown."""
    return UCUM.get(unit_code, f"{{intellivue-dim-{unit_code}}}")


def metric_id(physio_id: int, label: int | None) -> int:
    """The physio id that identifies a value: the label's SCADA id for generic ids."""
    if physio_id in GENERIC_IDS and label is not None and label >> 16 == PARTITION_SCADA:
        return label & 0xFFFF
    return physio_id


def physio_label(physio_id: int) -> str:
    """Short display label, or the number when the id is not in the table."""
    row = PHYSIO.get(physio_id)
    return row.label if row is not None else str(physio_id)


def default_unit_code(physio_id: int) -> int | None:
    """The unit a physio id is usually sent in, for waves that omit NOM_ATTR_UNIT_CODE."""
    row = PHYSIO.get(physio_id)
    return row.unit_code if row is not None else None
