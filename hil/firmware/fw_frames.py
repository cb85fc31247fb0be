"""Bedside oximeter frames for the UART mode: Nonin formats 7 and 8, Masimo ASCII (portable).

Nonin format 7: packets of 25 five-byte frames (75 frames/s, 3 packets/s): STATUS (bit 7
always set, bit 0 SYNC on frame 1), PLETH MSB, PLETH LSB, FLOAT (the value named by the
frame number), CHK = sum of the first four bytes mod 256. Rates are 9 bit, split as an MSB
byte (bits 8-7 in bits 1-0) and an LSB byte (bits 6-0); 511 and SpO2 127 mean no value.
Nonin format 8: one 4-byte record per second: STATUS (bit 7 set, HR bits 8-7 in bits 1-0),
HR bits 6-0, SpO2, STAT2. Masimo Radical-7: one ASCII line per second, CR LF terminated,
``MM/DD/YY HH:MM:SS SN=... SPO2=098% BPM=072 PI=02.34% ... ALARM=0000 EXC=000000``; dashes
mean no value.
"""

import math

NONIN_MISSING_HR = 511
NONIN_MISSING_SPO2 = 127

# Nonin format 7 STATUS bits
N7_SYNC = 0x01
N7_GPRF = 0x02  # green perfusion (good signal)
N7_RPRF = 0x04
N7_SNSA = 0x08  # sensor alarm
N7_OOT = 0x10
N7_ARTF = 0x20
N7_SNSD = 0x40  # sensor disconnected
# Nonin format 8 STATUS bits
N8_ARTF = 0x04
N8_MPRF = 0x08
N8_LPRF = 0x10
N8_OOT = 0x20
N8_SNSD = 0x40
# STAT2 bits (format 7 frame 8, format 8 byte 4)
STAT2_LOW_BATTERY = 0x01
STAT2_CRITICAL_BATTERY = 0x02
STAT2_SENSOR_FAULT = 0x08

# Masimo EXC bits
MASIMO_NO_SENSOR = 0x001
MASIMO_LOW_PERFUSION = 0x004
MASIMO_SENSOR_OFF = 0x020

FRAMES_PER_PACKET = 25
SAMPLE_RATE_HZ = 75


def _round(x: float) -> int:
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def nonin_rate(value: "float | None") -> int:
    """A 9-bit Nonin heart rate; None (no value) and out-of-range give 511."""
    if value is None:
        return NONIN_MISSING_HR
    v = _round(value)
    return v if 0 <= v < NONIN_MISSING_HR else NONIN_MISSING_HR


def nonin_spo2(value: "float | None") -> int:
    """A 7-bit Nonin SpO2; None (no value) gives 127; clamped to 0..100."""
    if value is None:
        return NONIN_MISSING_SPO2
    return max(0, min(100, _round(value)))


def nonin_stat2(battery: "float | None") -> int:
    """STAT2 battery bits for a battery percentage (low < 20 %, critical < 5 %)."""
    if battery is None:
        return 0
    bits = 0
    if battery < 20:
        bits |= STAT2_LOW_BATTERY
    if battery < 5:
        bits |= STAT2_CRITICAL_BATTERY
    return bits


def nonin8_record(hr: int, spo2: int, status: int = 0, stat2: int = 0) -> bytes:
    """One format 8 record from raw 9-bit HR, 7-bit SpO2 and status bits."""
    return bytes(
        (
            0x80 | (status & 0x7C) | ((hr >> 7) & 0x03),
            hr & 0x7F,
            spo2 & 0x7F,
            stat2 & 0x7F,
        )
    )


def nonin7_frame(status: int, pleth: int, value: int) -> bytes:
    """One format 7 frame with its checksum."""
    b0 = 0x80 | (status & 0x7F)
    b1 = (pleth >> 8) & 0xFF
    b2 = pleth & 0xFF
    b3 = value & 0xFF
    return bytes((b0, b1, b2, b3, (b0 + b1 + b2 + b3) & 0xFF))


def nonin7_values(
    hr: int, spo2: int, timer: int = 0, stat2: int = 0, srev: int = 0x30
) -> "list[int]":
    """The 25 FLOAT bytes of one packet (frame 1 first); extended and display values equal
    the 4-beat ones."""
    hr_msb = (hr >> 7) & 0x03
    hr_lsb = hr & 0x7F
    s = spo2 & 0x7F
    return [
        hr_msb,  # 1 HR MSB
        hr_lsb,  # 2 HR LSB
        s,  # 3 SpO2
        srev & 0x7F,  # 4 SREV
        0,  # 5 reserved
        (timer >> 7) & 0x7F,  # 6 TMR MSB
        timer & 0x7F,  # 7 TMR LSB
        stat2 & 0x7F,  # 8 STAT2
        s,  # 9 SpO2-D
        s,  # 10 SpO2 fast
        s,  # 11 SpO2 beat to beat
        0,  # 12 reserved
        0,  # 13 reserved
        hr_msb,  # 14 E-HR MSB
        hr_lsb,  # 15 E-HR LSB
        s,  # 16 E-SpO2
        s,  # 17 E-SpO2-D
        0,  # 18 reserved
        0,  # 19 reserved
        hr_msb,  # 20 HR-D MSB
        hr_lsb,  # 21 HR-D LSB
        hr_msb,  # 22 E-HR-D MSB
        hr_lsb,  # 23 E-HR-D LSB
        0,  # 24 reserved
        0,  # 25 reserved
    ]


def nonin7_packet(
    hr: int,
    spo2: int,
    pleth: "list[int]",
    status: int = N7_GPRF,
    timer: int = 0,
    stat2: int = 0,
) -> bytes:
    """125 bytes: 25 frames, SYNC on the first, ``pleth`` giving the 25 samples."""
    if len(pleth) != FRAMES_PER_PACKET:
        raise ValueError("a packet carries 25 pleth samples")
    values = nonin7_values(hr, spo2, timer, stat2)
    out = bytearray()
    for k in range(FRAMES_PER_PACKET):
        flags = status & 0x7E
        if k == 0:
            flags |= N7_SYNC
        out += nonin7_frame(flags, pleth[k], values[k])
    return bytes(out)


class PlethWave:
    """A plausible 16-bit pleth shape at 75 Hz whose period follows the pulse rate."""

    def __init__(self, baseline: int = 16384, amplitude: int = 6000) -> None:
        self.baseline = baseline
        self.amplitude = amplitude
        self.phase = 0.0

    def samples(self, rate_per_min: "float | None", n: int = FRAMES_PER_PACKET) -> "list[int]":
        """The next ``n`` samples; a flat line when there is no pulse."""
        if rate_per_min is None or rate_per_min <= 0:
            return [0] * n
        step = rate_per_min / 60.0 / SAMPLE_RATE_HZ
        out = []
        for _ in range(n):
            p = self.phase
            # fast systolic upstroke, slower decay with a dicrotic bump
            shape = math.sin(math.pi * p) ** 3 + 0.15 * math.sin(3 * math.pi * p) ** 2
            out.append(max(0, min(0xFFFF, self.baseline + int(self.amplitude * shape))))
            p += step
            self.phase = p - int(p)
        return out


def _masimo_num(value: "float | None", digits: int, dashes: str) -> str:
    if value is None:
        return dashes
    v = max(0, _round(value))
    text = str(v)
    return "0" * (digits - len(text)) + text if len(text) < digits else text


def _masimo_pi(value: "float | None") -> str:
    if value is None:
        return "--.--"
    hundredths = max(0, _round(value * 100))
    whole = str(hundredths // 100)
    frac = str(hundredths % 100)
    return (
        ("0" + whole if len(whole) < 2 else whole) + "." + ("0" + frac if len(frac) < 2 else frac)
    )


def _two(n: int) -> str:
    return str(n) if n >= 10 else "0" + str(n)


def _hex(n: int, width: int) -> str:
    text = "%X" % n  # noqa: UP031 - MicroPython has no format-spec mini-language guarantee
    return "0" * (width - len(text)) + text


def masimo_line(
    stamp: "tuple[int, int, int, int, int, int]",
    spo2: "float | None",
    bpm: "float | None",
    pi: "float | None" = None,
    serial: str = "0000070986",
    alarm: int = 0,
    exc: int = 0,
) -> bytes:
    """One Radical-7 output line with CR LF; ``None`` values are sent as dashes."""
    y, mo, d, h, mi, s = stamp
    words = [
        _two(mo)
        + "/"
        + _two(d)
        + "/"
        + _two(y % 100)
        + " "
        + _two(h)
        + ":"
        + _two(mi)
        + ":"
        + _two(s),
        "SN=" + serial,
        "SPO2=" + _masimo_num(spo2, 3, "---") + "%",
        "BPM=" + _masimo_num(bpm, 3, "---"),
        "PI=" + _masimo_pi(pi) + "%",
        "SPCO=--.-%",
        "SPMET=--.-%",
        "DESAT=--",
        "PIDELTA=+--",
        "PVI=---",
        "ALARM=" + _hex(alarm, 4),
        "EXC=" + _hex(exc, 6),
    ]
    return (" ".join(words) + "\r\n").encode("ascii")
