"""Build the seed corpus ``fuzz/corpus/<target>/`` from the specifications.

Seeds are made with the spec-side encoders of the simulators (``hil``, which share no code
with the parsers) or written out by hand below. ``valid-*`` seeds must decode to values
and no error (the regression tests check that); ``edge-*`` seeds are malformed on purpose.
Every seed starts with the harness's control byte (see :func:`fuzz.harness.split`): 0x80
feeds the rest in one chunk, 0x00-0x7F in chunks of ``n + 1`` bytes, and bit 6 selects a
mode per harness (Nonin format 8; Datex/IntelliVue: frame the rest with a good checksum).

Run ``python fuzz/seeds.py`` to (re)write the corpus; it only adds and overwrites seeds.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

if __name__ == "__main__":  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zstandard

from fuzz.harness import CORPUS_DIR
from hil.ble import encoders as ble
from hil.intellivue_sim import encoder as iv
from hil.serial_sim import datex_encoder as dx
from hil.serial_sim import nonin_encoder as nn

ONE_CHUNK = b"\x80"
STAMP = datetime(2024, 5, 20, 7, 30)  # noqa: DTZ001

# Masimo Rad-8 "Serial 1" lines as the operator's manual prints them (CR LF terminated).
MASIMO_LINE = (
    b"05/15/07 08:12:21 SN=0000070986 SPO2=098% BPM=072 PI=02.34% SPCO=--.-% "
    b"SPMET=--.-% DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000000\r\n"
)
MASIMO_NO_SENSOR = b"05/15/07 08:12:22 SN=---------- SPO2=---% BPM=--- ALARM=0000 EXC=000001\r\n"
# A colour Radical-7 adds SPHB, SPOC, RESVD and EXC1 (words are read by name).
MASIMO_COLOUR = (
    b"05/15/07 08:12:23 SN=0000070986 SPO2=097% BPM=071 PI=01.10% SPCO=00.5% SPMET=01.2% "
    b"SPHB=13.4 SPOC=19.0 DESAT=-- PIDELTA=+-- PVI=012 RESVD=00 ALARM=0000 EXC=000000 "
    b"EXC1=00000000\r\n"
)


def masimo() -> dict[str, bytes]:
    return {
        "valid-line": ONE_CHUNK + MASIMO_LINE,
        "valid-two-lines-7-byte-chunks": b"\x06" + MASIMO_LINE + MASIMO_NO_SENSOR,
        "valid-radical7-colour-line": ONE_CHUNK + MASIMO_COLOUR,
        "edge-garbage-then-line": ONE_CHUNK + b"\xff\x00 noise\r\n" + MASIMO_LINE,
    }


def nonin() -> dict[str, bytes]:
    packet = nn.encode_packet7(nn.PacketValues(hr=300, spo2=95, stat2=nn.SMARTPOINT))
    record = nn.encode_record8(0x04, hr=72, spo2=97, stat2=nn.LOW_BATTERY)
    return {
        "valid-format7-packet": ONE_CHUNK + packet,
        "valid-format7-two-packets-3-byte-chunks": b"\x02" + packet + packet,
        "valid-format8-records": b"\xc0" + record + record,
        "edge-format7-joined-mid-packet": ONE_CHUNK + packet[37:] + packet,
    }


def datex() -> dict[str, bytes]:
    basic = {"ecg": {"status": 3, "hr": 72}, "spo2": {"status": 3, "spo2": 9700, "pr": 71}}
    phdb = dx.phdb_record(1_700_000_000, basic)
    wave = dx.wave_record([dx.Wave(1, list(range(-50, 50))), dx.Wave(8, [100] * 20)])
    return {
        "valid-phdb-displayed": ONE_CHUNK + dx.frame(phdb),
        "valid-wave-ecg-pleth-5-byte-chunks": b"\x04" + dx.frame(wave),
        "valid-phdb-request-framed-by-harness": b"\xc0" + dx.phdb_request(1, 10, 1),
        "valid-wave-request": ONE_CHUNK + dx.frame(dx.wave_request(0, [1, 8])),
        "valid-alarm-request": ONE_CHUNK + dx.frame(dx.alarm_request(0)),
    }


def intellivue() -> dict[str, bytes]:
    mds = iv.mds_create_event(when=STAMP, rel_time=8000, bed_label="Bed 7")
    numerics = iv.poll_result(
        [
            iv.SimNumeric(1, (iv.SimValue(0x4BB8, 544, 97.0),), label=0x00024BB8),
            iv.SimNumeric(2, (iv.SimValue(0x4182, 2720, "nan", 0x8000),)),
            iv.SimNumeric(
                3,
                tuple(iv.SimValue(p, 3872, v) for p, v in ((0x4A05, 120.0), (0x4A06, 80.0))),
                compound=True,
            ),
        ],
        invoke_id=3,
        obj_code=6,
        rel_time=8800,
    )
    waves = iv.poll_result(
        [iv.SimWave(9, (iv.SimArray(0x0102, tuple(range(8000, 8032))),), label=0x0002_0102)],
        invoke_id=4,
        obj_code=9,
        rel_time=8900,
    )
    alerts = iv.poll_result(
        [
            iv.SimAlerts(
                7,
                condition=(0x0008, 3, 0x0400, 0x0001, 0x0400),
                patient=(iv.SimAlarm(0x4182, 0x1234, 0x0400, "HR High", alert_state=0x0008),),
                technical=(iv.SimAlarm(0x4BB8, 0x0200, 0x0001, "SpO2 No Sensor"),),
            )
        ],
        invoke_id=5,
        obj_code=54,
    )
    return {
        "valid-association-accept": ONE_CHUNK + iv.frame(iv.aare()),
        "valid-mds-create-and-numerics": ONE_CHUNK + iv.frame(mds) + iv.frame(numerics),
        "valid-waves-framed-by-harness": b"\xc0" + waves,
        "valid-alerts-9-byte-chunks": b"\x08" + iv.frame(mds) + iv.frame(alerts),
        "valid-release-and-abort": ONE_CHUNK
        + iv.frame(iv.release_response())
        + iv.frame(iv.abort()),
    }


def ble_seeds() -> dict[str, bytes]:
    from fuzz.fuzz_ble import target_index

    def seed(target: str, value: bytes) -> bytes:
        return bytes([target_index(target)]) + value

    cgm = ble.cgm_measurement([ble.cgm_record(120, 5, status_octet=1, trend=1.0, quality=95)])
    return {
        "valid-heart-rate": seed(
            "0x2A37", ble.heart_rate_measurement(72, contact=True, energy_kj=10, rr_1024=[800])
        ),
        "valid-plx-continuous": seed(
            "0x2A5F", ble.plx_continuous(97, 60, fast=(96, 61), measurement_status=0, pai=1)
        ),
        "valid-blood-pressure": seed(
            "0x2A35",
            ble.blood_pressure_measurement(
                120, 80, 93, timestamp=STAMP, pulse_rate=70, user_id=1, status=ble.bp_status()
            ),
        ),
        "valid-thermometer-session": seed(
            "thermometer:0x2A1C", ble.temperature_measurement(37.6, timestamp=STAMP)
        ),
        "valid-weight": seed("0x2A9D", ble.weight_measurement(14000, timestamp=STAMP)),
        "valid-glucose": seed("0x2A18", ble.glucose_measurement(1, STAMP, concentration=(95, -5))),
        "valid-glucose-context": seed(
            "0x2A34", ble.glucose_measurement_context(1, carbohydrate=(1, (50, -3)), meal=1)
        ),
        "valid-cgm": seed("cgm", cgm),
        "valid-racp-response": seed("racp-response", ble.racp_response_code(1, 1)),
        "valid-current-time": seed("0x2A2B", ble.current_time(STAMP)),
        "edge-heart-rate-oversized-600-bytes": seed("0x2A37", b"\x10\x48" + b"\x20\x03" * 299),
    }


CONFIG = b"""\
[gateway]
id = "gw-1"
site = "ward-7"

[mqtt]
host = "127.0.0.1"
port = 1883

[[patients]]
id = "p-1"
bed = "7"

[[devices]]
id = "spo2-1"
kind = "masimo"
patient = "p-1"
port = "/dev/ttyUSB0"

[[devices]]
id = "hr-1"
kind = "ble"
patient = "p-1"
address = "F6:00:00:00:00:01"
"""


def config() -> dict[str, bytes]:
    examples = Path(__file__).resolve().parents[1] / "examples"
    seeds = {"valid-minimal": CONFIG}
    for path in sorted(examples.glob("*.toml")):
        seeds[f"valid-example-{path.stem}"] = path.read_bytes()
    seeds["edge-bad-syntax"] = b"[gateway\nid = 1\n"
    return seeds


ENVELOPE = (
    b'{"v":1,"gateway":"gw-1","site":"site-1","stream":"dev-1.150456","device":"dev-1",'
    b'"patient":"p-1","kind":"numeric","seq":[17,18],"mdc":150456,"unit":"%","samples":['
    b'{"seq":17,"t_rx_ns":1700000000000000000,"t_dev_ns":null,"value":97.0,"quality":[]},'
    b'{"seq":18,"t_rx_ns":1700000001000000000,"t_dev_ns":null,"value":null,'
    b'"quality":["invalid"]}]}'
)


def envelope() -> dict[str, bytes]:
    import json

    import cbor2

    body = json.loads(ENVELOPE)
    return {
        "valid-json": ENVELOPE,
        "valid-cbor": cbor2.dumps(body),
        "valid-json-zstd": zstandard.ZstdCompressor(level=3).compress(ENVELOPE),
        "edge-not-a-map": b"[1,2,3]",
    }


def desired() -> dict[str, bytes]:
    limit = (
        b'{"vital":"spo2","side":"low","threshold":80,"priority":"high",'
        b'"onset_delay_s":5,"clear_delay_s":5}'
    )
    return {
        "valid-inputs": b'{"version":3,"patients":{"p-1":{"on_oxygen":true}}}',
        "valid-all-keys": (
            b'{"version":1,"patients":{"p-1":{"consciousness":"V","on_oxygen":true,'
            b'"spo2_scale":2},"p-2":{}},"alarm_limits":[' + limit + b"]}"
        ),
        "valid-clear-limits": b'{"version":7,"alarm_limits":[]}',
        "edge-device-change": b'{"version":1,"devices":[]}',
    }


SEEDS = {
    "masimo": masimo,
    "nonin": nonin,
    "datex": datex,
    "intellivue": intellivue,
    "ble": ble_seeds,
    "config": config,
    "envelope": envelope,
    "desired": desired,
}


def write(root: Path = CORPUS_DIR) -> int:
    count = 0
    for target, build in SEEDS.items():
        folder = root / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in build().items():
            (folder / name).write_bytes(data)
            count += 1
    return count


if __name__ == "__main__":
    print(f"wrote {write()} seeds under {CORPUS_DIR}")
