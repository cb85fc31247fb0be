"""Turn :class:`MasimoReading` lines into typed EdgeTwin measurements."""

from __future__ import annotations

import math
from calendar import timegm

from drivers.masimo.codec import MasimoReading
from gateway import codes
from gateway.model import Measurement, Quality, ReceiveTime, stream_id_for

#: Masimo word -> metric.
METRICS: dict[str, codes.Metric] = {
    "SPO2": codes.MDC_PULS_OXIM_SAT_O2,
    "BPM": codes.MDC_PULS_OXIM_PULS_RATE,
    "PI": codes.MDC_PULS_OXIM_PERF_REL,
    "SPCO": codes.EDGETWIN_SAT_CO,
    "SPMET": codes.EDGETWIN_SAT_MET,
    "PVI": codes.EDGETWIN_PLETH_VAR_IDX,
}


def to_measurements(
    reading: MasimoReading, device_id: str, received: ReceiveTime
) -> list[Measurement]:
    """One measurement per metric word present in the line (dashes become NaN + flag)."""
    base = Quality(0)
    if reading.sensor_fault:
        base |= Quality.INVALID
    elif reading.signal_doubt:
        base |= Quality.QUESTIONABLE
    device_ns = timegm(reading.device_time.timetuple()) * 1_000_000_000
    out: list[Measurement] = []
    for word, metric in METRICS.items():
        if word not in reading.values:
            continue
        value = reading.values[word]
        quality = base
        if value is None:
            quality |= Quality.UNAVAILABLE
        out.append(
            Measurement(
                device_id=device_id,
                stream_id=stream_id_for(device_id, str(metric.mdc_code)),
                mdc_code=metric.mdc_code,
                unit=metric.unit,
                value=math.nan if value is None else value,
                quality=quality,
                received=received,
                device_time_ns=device_ns,
            )
        )
    return out
