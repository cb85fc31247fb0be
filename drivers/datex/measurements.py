"""Turn Datex-Ohmeda PHDB and waveform records into EdgeTwin measurements and chunks.

Only *displayed* basic-class values are published (trend subrecords repeat them at other
times). A group is published only when its status says the module exists. Control codes
(<= -32001) become NaN with a quality flag, never numbers. etCO2 is converted to mmHg with
the ambient pressure sent in the same group: ``et[1/100 %] * amb_press[1/10 mmHg] / 1e5``.

MDC codes used here that ``gateway/codes.py`` does not define are in :data:`EXTRA_METRICS`
(term codes of the SCADA partition, 2 << 16 | term, as listed in IEEE 11073-10101).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from drivers.datex.records import (
    WAVE_CONTROL_LIMIT,
    WAVE_RATES,
    BasicPhdb,
    DatexRecord,
    Group,
    PhdbRecord,
    PhdbSubrecord,
    PhdbType,
    WaveRecord,
    WaveStatus,
    WaveSubrecord,
    WaveType,
    special_quality,
)
from gateway import codes
from gateway.model import Measurement, Quality, ReceiveTime, WaveformChunk, stream_id_for

_S = 2 << 16  # SCADA partition


def _m(term: int, ref: str, unit: str, label: str) -> codes.Metric:
    return codes.Metric(_S | term, ref, unit, label)


# Invasive pressure families: (sys, dia, mean) per DRI pressure label.
MDC_PRESS_BLD = tuple(
    _m(t, r, "mm[Hg]", lb)
    for t, r, lb in (
        (18945, "MDC_PRESS_BLD_SYS", "P sys"),
        (18946, "MDC_PRESS_BLD_DIA", "P dia"),
        (18947, "MDC_PRESS_BLD_MEAN", "P mean"),
    )
)
MDC_PRESS_BLD_ART = tuple(
    _m(t, r, "mm[Hg]", lb)
    for t, r, lb in (
        (18961, "MDC_PRESS_BLD_ART_SYS", "ART sys"),
        (18962, "MDC_PRESS_BLD_ART_DIA", "ART dia"),
        (18963, "MDC_PRESS_BLD_ART_MEAN", "ART mean"),
    )
)
MDC_PRESS_BLD_ART_ABP = tuple(
    _m(t, r, "mm[Hg]", lb)
    for t, r, lb in (
        (18965, "MDC_PRESS_BLD_ART_ABP_SYS", "ABP sys"),
        (18966, "MDC_PRESS_BLD_ART_ABP_DIA", "ABP dia"),
        (18967, "MDC_PRESS_BLD_ART_ABP_MEAN", "ABP mean"),
    )
)
MDC_PRESS_BLD_ART_PULM = tuple(
    _m(t, r, "mm[Hg]", lb)
    for t, r, lb in (
        (18973, "MDC_PRESS_BLD_ART_PULM_SYS", "PA sys"),
        (18974, "MDC_PRESS_BLD_ART_PULM_DIA", "PA dia"),
        (18975, "MDC_PRESS_BLD_ART_PULM_MEAN", "PA mean"),
    )
)
MDC_PRESS_BLD_VEN_CENT = tuple(
    _m(t, r, "mm[Hg]", lb)
    for t, r, lb in (
        (19013, "MDC_PRESS_BLD_VEN_CENT_SYS", "CVP sys"),
        (19014, "MDC_PRESS_BLD_VEN_CENT_DIA", "CVP dia"),
        (19015, "MDC_PRESS_BLD_VEN_CENT_MEAN", "CVP mean"),
    )
)
MDC_AWAY_CO2_ET = _m(20656, "MDC_AWAY_CO2_ET", "mm[Hg]", "etCO2")
MDC_AWAY_RESP_RATE = _m(20498, "MDC_AWAY_RESP_RATE", "/min", "awRR")
MDC_CONC_AWAY_O2_INSP = _m(21124, "MDC_CONC_AWAY_O2_INSP", "%", "FiO2")
MDC_ECG_ELEC_POTL = _m(256, "MDC_ECG_ELEC_POTL", "uV", "ECG")
MDC_PRESS_BLD_WAVE = _m(18944, "MDC_PRESS_BLD", "mm[Hg]", "IBP")
MDC_AWAY_CO2 = _m(20652, "MDC_AWAY_CO2", "%", "CO2")

#: Metrics used by this driver that gateway/codes.py lacks.
EXTRA_METRICS: tuple[codes.Metric, ...] = (
    *MDC_PRESS_BLD,
    *MDC_PRESS_BLD_ART,
    *MDC_PRESS_BLD_ART_ABP,
    *MDC_PRESS_BLD_ART_PULM,
    *MDC_PRESS_BLD_VEN_CENT,
    MDC_AWAY_CO2_ET,
    MDC_AWAY_RESP_RATE,
    MDC_CONC_AWAY_O2_INSP,
    MDC_ECG_ELEC_POTL,
    MDC_PRESS_BLD_WAVE,
    MDC_AWAY_CO2,
)

#: DRI invasive pressure label (Table 3-16) -> (sys, dia, mean) metrics; others generic.
PRESSURE_BY_LABEL: dict[int, tuple[codes.Metric, ...]] = {
    1: MDC_PRESS_BLD_ART,  # ART
    2: MDC_PRESS_BLD_VEN_CENT,  # CVP
    3: MDC_PRESS_BLD_ART_PULM,  # PA
    8: MDC_PRESS_BLD_ART_ABP,  # ABP
}

#: Scalar group values: (group, field, metric, scale to the metric's unit, stream suffix).
SCALARS: tuple[tuple[str, str, codes.Metric, float, str], ...] = (
    ("ecg", "hr", codes.MDC_ECG_HEART_RATE, 1.0, ""),
    ("ecg", "imp_rr", codes.MDC_RESP_RATE, 1.0, ""),
    ("nibp", "sys", codes.MDC_PRESS_BLD_NONINV_SYS, 0.01, ""),
    ("nibp", "dia", codes.MDC_PRESS_BLD_NONINV_DIA, 0.01, ""),
    ("nibp", "mean", codes.MDC_PRESS_BLD_NONINV_MEAN, 0.01, ""),
    ("nibp", "hr", codes.MDC_PULS_RATE_NON_INV, 1.0, ""),
    *((f"t{n}", "temp", codes.MDC_TEMP, 0.01, f".t{n}") for n in range(1, 5)),
    ("spo2", "spo2", codes.MDC_PULS_OXIM_SAT_O2, 0.01, ""),
    ("spo2", "pr", codes.MDC_PULS_OXIM_PULS_RATE, 1.0, ""),
    ("co2", "rr", MDC_AWAY_RESP_RATE, 1.0, ""),
    ("o2", "fi", MDC_CONC_AWAY_O2_INSP, 0.01, ""),
)
NIBP_LABEL_CALIBRATING = 1 << 7

#: Waveform id -> (metric, gain to the metric's unit, stream suffix).
WAVES: dict[int, tuple[codes.Metric, float, str]] = {
    WaveType.ECG1: (MDC_ECG_ELEC_POTL, 1.0, ".ecg1"),
    WaveType.ECG2: (MDC_ECG_ELEC_POTL, 1.0, ".ecg2"),
    WaveType.ECG3: (MDC_ECG_ELEC_POTL, 1.0, ".ecg3"),
    **{
        t: (MDC_PRESS_BLD_WAVE, 0.01, f".p{n}")
        for n, t in enumerate(
            (
                WaveType.INVP1,
                WaveType.INVP2,
                WaveType.INVP3,
                WaveType.INVP4,
                WaveType.INVP5,
                WaveType.INVP6,
                WaveType.INVP7,
                WaveType.INVP8,
            ),
            start=1,
        )
    },
    # Pleth is 1/100 % modulation; codes.py gives pleth the dimensionless unit "1".
    WaveType.PLETH: (codes.MDC_PULS_OXIM_PLETH, 0.0001, ""),
    WaveType.CO2: (MDC_AWAY_CO2, 0.01, ""),
}


def _measurement(
    metric: codes.Metric,
    suffix: str,
    value: float,
    quality: Quality,
    device_id: str,
    received: ReceiveTime,
    device_time_ns: int,
) -> Measurement:
    return Measurement(
        device_id=device_id,
        stream_id=stream_id_for(device_id, f"{metric.mdc_code}{suffix}"),
        mdc_code=metric.mdc_code,
        unit=metric.unit,
        value=value,
        quality=quality,
        received=received,
        device_time_ns=device_time_ns,
    )


def _value(raw: int, scale: float) -> tuple[float, Quality]:
    q = special_quality(raw)
    return (math.nan, q) if q is not None else (raw * scale, Quality(0))


def basic_measurements(
    basic: BasicPhdb, device_id: str, received: ReceiveTime, device_time_ns: int
) -> list[Measurement]:
    """Measurements of one basic-class subrecord (groups whose module exists)."""
    out: list[Measurement] = []
    groups = {g.name: g for g in basic.groups}

    def emit(metric: codes.Metric, suffix: str, value: float, quality: Quality) -> None:
        out.append(
            _measurement(metric, suffix, value, quality, device_id, received, device_time_ns)
        )

    for gname, field, metric, scale, suffix in SCALARS:
        g = groups[gname]
        if not g.exists:
            continue
        value, q = _value(g[field], scale)
        if gname == "nibp" and g.label & NIBP_LABEL_CALIBRATING:
            q |= Quality.CALIBRATING
        emit(metric, suffix, value, q)
    for n in range(1, 7):
        g = groups[f"p{n}"]
        if g.exists:
            family = PRESSURE_BY_LABEL.get(g.label, MDC_PRESS_BLD)
            for metric, field in zip(family, ("sys", "dia", "mean"), strict=True):
                value, q = _value(g[field], 0.01)
                emit(metric, f".p{n}", value, q)
    co2 = groups["co2"]
    if co2.exists:
        value, q = _etco2_mmhg(co2)
        emit(MDC_AWAY_CO2_ET, "", value, q)
    return out


def _etco2_mmhg(co2: Group) -> tuple[float, Quality]:
    et, amb = co2["et"], co2["amb_press"]
    q_et, q_amb = special_quality(et), special_quality(amb)
    if q_et is not None:
        return math.nan, q_et
    if q_amb is not None or amb <= 0:
        return math.nan, Quality.UNAVAILABLE  # no ambient pressure to convert with
    return et * amb / 100_000, Quality(0)


def wave_chunk(sub: WaveSubrecord, device_id: str, received: ReceiveTime) -> WaveformChunk | None:
    """One chunk for a supported waveform with samples, else None."""
    if sub.wave_type not in WAVES or not len(sub.samples) or sub.wave_type not in WAVE_RATES:
        return None
    metric, gain, suffix = WAVES[sub.wave_type]
    period = 1_000_000_000 // WAVE_RATES[sub.wave_type]
    raw = sub.samples.astype(np.int32)
    control = raw <= WAVE_CONTROL_LIMIT
    quality = Quality(0)
    samples: npt.NDArray[np.int32] | npt.NDArray[np.float64] = raw
    if control.any():
        quality |= Quality.INVALID if control.all() else Quality.QUESTIONABLE
        samples = np.where(control, np.nan, raw.astype(np.float64))
    if sub.status & WaveStatus.GAP:
        quality |= Quality.QUESTIONABLE
    if sub.status & WaveStatus.LEAD_OFF:
        quality |= Quality.INVALID
    return WaveformChunk(
        device_id=device_id,
        stream_id=stream_id_for(device_id, f"{metric.mdc_code}{suffix}"),
        mdc_code=metric.mdc_code,
        unit=metric.unit,
        start_ns=received.wall_ns - (len(raw) - 1) * period,
        sample_period_ns=period,
        samples=samples,
        received=received,
        gain=gain,
        quality=quality,
    )


def to_records(
    record: DatexRecord, device_id: str, received: ReceiveTime
) -> list[Measurement | WaveformChunk]:
    """Measurements of displayed basic values, or chunks of supported waveforms.

    Waveform chunks are dated from the receive time: the record header's ``r_time`` has
    one-second resolution, too coarse for samples. A chunk's first sample is dated
    ``received - (n - 1) sample periods``.
    """
    out: list[Measurement | WaveformChunk] = []
    if isinstance(record, PhdbRecord):
        for sub in record.subrecords:
            if (
                isinstance(sub, PhdbSubrecord)
                and sub.sr_type == PhdbType.DISPLAYED
                and sub.basic is not None
            ):
                device_ns = sub.time * 1_000_000_000
                out.extend(basic_measurements(sub.basic, device_id, received, device_ns))
    elif isinstance(record, WaveRecord):
        for wsub in record.subrecords:
            if isinstance(wsub, WaveSubrecord):
                chunk = wave_chunk(wsub, device_id, received)
                if chunk is not None:
                    out.append(chunk)
    return out
