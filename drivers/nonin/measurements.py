"""Turn Nonin packets (format 7) and records (format 8) into EdgeTwin records.

Published values are the standard-mode 4-beat averages (HR, SpO2) and, for format 7, the
75 Hz pleth. HR 511 and SpO2 127 (or anything above 100 %) mean "no value": they become NaN
with ``UNAVAILABLE``, never numbers. Status bits become quality flags on every value of the
packet: sensor disconnected -> UNAVAILABLE, sensor alarm / sensor fault -> INVALID,
artifact -> ARTIFACT, out of track and (format 8) low perfusion -> QUESTIONABLE.
"""

from __future__ import annotations

import math

import numpy as np

from drivers.nonin.codec import (
    FRAMES_PER_PACKET,
    MISSING_HR,
    MISSING_SPO2,
    SAMPLE_RATE_HZ,
    Packet7,
    Record8,
    Stat2,
    Status,
    Status8,
)
from gateway import codes
from gateway.model import Measurement, Quality, ReceiveTime, WaveformChunk, stream_id_for

SAMPLE_PERIOD_NS = 1_000_000_000 // SAMPLE_RATE_HZ
MAX_SPO2 = 100


def packet_quality(packet: Packet7) -> Quality:
    """Quality flags implied by the status bits of any frame of the packet."""
    flags = packet.flags
    q = Quality(0)
    if flags & Status.SNSD:
        q |= Quality.UNAVAILABLE
    if flags & Status.SNSA:
        q |= Quality.INVALID
    if flags & Status.ARTF:
        q |= Quality.ARTIFACT
    if flags & Status.OOT:
        q |= Quality.QUESTIONABLE
    return q


def record8_quality(record: Record8) -> Quality:
    q = Quality(0)
    if record.status & Status8.SNSD:
        q |= Quality.UNAVAILABLE
    if record.stat2 & Stat2.SENSOR_FAULT:
        q |= Quality.INVALID
    if record.status & Status8.ARTF:
        q |= Quality.ARTIFACT
    if record.status & (Status8.OOT | Status8.LPRF):
        q |= Quality.QUESTIONABLE
    return q


def _numeric(
    metric: codes.Metric,
    value: float,
    quality: Quality,
    device_id: str,
    received: ReceiveTime,
) -> Measurement:
    return Measurement(
        device_id=device_id,
        stream_id=stream_id_for(device_id, str(metric.mdc_code)),
        mdc_code=metric.mdc_code,
        unit=metric.unit,
        value=value,
        quality=quality,
        received=received,
    )


def _vitals(
    hr: int, spo2: int, quality: Quality, device_id: str, received: ReceiveTime
) -> list[Measurement]:
    out = []
    if spo2 == MISSING_SPO2 or spo2 > MAX_SPO2:
        out.append(
            _numeric(
                codes.MDC_PULS_OXIM_SAT_O2,
                math.nan,
                quality | Quality.UNAVAILABLE,
                device_id,
                received,
            )
        )
    else:
        out.append(_numeric(codes.MDC_PULS_OXIM_SAT_O2, spo2, quality, device_id, received))
    if hr == MISSING_HR:
        out.append(
            _numeric(
                codes.MDC_PULS_OXIM_PULS_RATE,
                math.nan,
                quality | Quality.UNAVAILABLE,
                device_id,
                received,
            )
        )
    else:
        out.append(_numeric(codes.MDC_PULS_OXIM_PULS_RATE, hr, quality, device_id, received))
    return out


def to_records(
    packet: Packet7 | Record8, device_id: str, received: ReceiveTime
) -> list[Measurement | WaveformChunk]:
    """SpO2 and pulse rate (and, for format 7, one 25-sample pleth chunk).

    A format 7 packet is complete when its last frame arrives, so the pleth chunk's first
    sample is dated ``received - 24 sample periods`` (the oximeter sends no clock).
    """
    out: list[Measurement | WaveformChunk] = []
    if isinstance(packet, Record8):
        out.extend(_vitals(packet.hr, packet.spo2, record8_quality(packet), device_id, received))
        return out
    quality = packet_quality(packet)
    out.extend(_vitals(packet.hr, packet.spo2, quality, device_id, received))
    pleth = codes.MDC_PULS_OXIM_PLETH
    out.append(
        WaveformChunk(
            device_id=device_id,
            stream_id=stream_id_for(device_id, str(pleth.mdc_code)),
            mdc_code=pleth.mdc_code,
            unit=pleth.unit,
            start_ns=received.wall_ns - (FRAMES_PER_PACKET - 1) * SAMPLE_PERIOD_NS,
            sample_period_ns=SAMPLE_PERIOD_NS,
            samples=np.asarray(packet.pleth, dtype=np.int32),
            received=received,
            quality=quality,
        )
    )
    return out
