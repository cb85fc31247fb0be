"""The firmware's encoders agree with the gateway's parsers (hypothesis round trips).

Firmware bytes (``hil/firmware``, imported flat as on a board) are fed to ``drivers.ble``
parsers and to the Nonin / Masimo decoders in ``drivers/``; the decoded values must be the
ones encoded.
"""

from __future__ import annotations

from datetime import datetime

import fw_frames
import fw_gatt
import fw_mder
import fw_racp
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble import battery, blood_pressure, device_info, heart_rate, plx, racp, thermometer
from drivers.ble.ieee11073 import Special, decode_float, decode_sfloat
from drivers.masimo.codec import Exception_, MasimoDecoder, parse_line
from drivers.nonin.codec import Format7Decoder, Format8Decoder, Packet7, Record8
from gateway.errors import ParseError

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
# device local time: the Date Time field has no zone
stamps = st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31)).map(  # noqa: DTZ001
    lambda d: (d.year, d.month, d.day, d.hour, d.minute, d.second)
)
EXAMPLES = settings(max_examples=150, deadline=None)


def as_datetime(stamp: tuple[int, int, int, int, int, int]) -> datetime:
    return datetime(*stamp)  # noqa: DTZ001 - device local time


@EXAMPLES
@given(finite, st.integers(min_value=-4, max_value=3))
def test_sfloat_round_trip(value: float, exponent: int) -> None:
    word = fw_mder.sfloat(value, exponent)
    decoded = decode_sfloat(word)
    if decoded.special is not None:  # too large for any exponent
        assert decoded.special in (Special.POSITIVE_INFINITY, Special.NEGATIVE_INFINITY)
        assert abs(value) > 2045 * 10**7
        return
    assert decoded.exponent >= exponent
    assert abs(decoded.as_float() - value) <= 0.5 * 10.0**decoded.exponent * (1 + 1e-9)


@EXAMPLES
@given(finite, st.integers(min_value=-6, max_value=3))
def test_float_round_trip(value: float, exponent: int) -> None:
    decoded = decode_float(fw_mder.float32(value, exponent))
    assert decoded.special is None
    assert abs(decoded.as_float() - value) <= 0.5 * 10.0**decoded.exponent * (1 + 1e-9)


def test_special_values_parse_as_specials() -> None:
    assert decode_sfloat(fw_mder.sfloat(None)).special is Special.NAN
    assert decode_sfloat(fw_mder.sfloat(float("inf"))).special is Special.POSITIVE_INFINITY
    assert decode_sfloat(fw_mder.sfloat(float("-inf"))).special is Special.NEGATIVE_INFINITY
    assert decode_float(fw_mder.float32(None)).special is Special.NAN
    assert decode_float(fw_mder.float32(float("-inf"))).special is Special.NEGATIVE_INFINITY
    raw = {
        fw_mder.SFLOAT_NRES: Special.NRES,
        fw_mder.SFLOAT_RESERVED: Special.RESERVED,
        fw_mder.SFLOAT_POS_INF: Special.POSITIVE_INFINITY,
    }
    for word, special in raw.items():
        data = fw_mder.raw_sfloat_bytes(word)
        assert decode_sfloat(data[0] | data[1] << 8).special is special
    data = fw_mder.raw_float_bytes(fw_mder.FLOAT_NRES)
    assert decode_float(int.from_bytes(data, "little")).special is Special.NRES


@EXAMPLES
@given(
    st.integers(min_value=0, max_value=0xFFFF),
    st.sampled_from([0, 2, 3]),
    st.none() | st.integers(min_value=0, max_value=0xFFFF),
    st.lists(st.integers(min_value=0, max_value=0xFFFF), max_size=7),
)
def test_heart_rate(bpm: int, contact: int, energy: int | None, rr: list[int]) -> None:
    m = heart_rate.parse_heart_rate_measurement(
        fw_gatt.heart_rate_measurement(bpm, contact, energy, rr)
    )
    assert m.heart_rate_bpm == bpm
    assert m.value_is_uint16 == (bpm > 255)
    assert m.sensor_contact_supported == (contact >= 2)
    assert m.sensor_contact_detected == (contact == 3)
    assert m.energy_expended_kj == energy
    assert list(m.rr_intervals_1024) == rr


@EXAMPLES
@given(
    st.none() | st.floats(min_value=0, max_value=100),
    st.none() | st.floats(min_value=0, max_value=400),
    st.none() | st.integers(min_value=0, max_value=0xFFFF),
    st.none() | st.integers(min_value=0, max_value=0xFFFFFF),
    st.none() | st.floats(min_value=0, max_value=20),
)
def test_plx_continuous(
    spo2: float | None, pr: float | None, ms: int | None, dss: int | None, pai: float | None
) -> None:
    m = plx.parse_plx_continuous(fw_gatt.plx_continuous(spo2, pr, ms, dss, pai))
    for got, want in ((m.spo2_percent, spo2), (m.pulse_rate_bpm, pr)):
        if want is None:
            assert got.special is Special.NAN
        else:
            assert got.value is not None and abs(got.value - want) <= 0.5
    assert (m.measurement_status.raw if m.measurement_status else None) == ms
    assert (m.device_sensor_status.raw if m.device_sensor_status else None) == dss
    if pai is None:
        assert m.pulse_amplitude_index_percent is None
    else:
        assert m.pulse_amplitude_index_percent is not None
        assert abs(m.pulse_amplitude_index_percent.as_float() - pai) <= 0.005 + 1e-9
    assert m.spo2_fast_percent is None and m.spo2_slow_percent is None


def test_plx_features() -> None:
    f = plx.parse_plx_features(
        fw_gatt.plx_features(
            fw_gatt.PLX_FEAT_MEASUREMENT_STATUS | fw_gatt.PLX_FEAT_DEVICE_SENSOR_STATUS,
            fw_gatt.PLX_MS_VALIDATED | fw_gatt.PLX_MS_UNAVAILABLE,
            fw_gatt.PLX_DSS_SENSOR_DISCONNECTED,
        )
    )
    assert f.measurement_status_support is not None
    assert f.measurement_status_support.raw == 0x2080
    assert f.device_sensor_status_support is not None
    assert f.device_sensor_status_support.raw == 0x8000


@EXAMPLES
@given(
    st.floats(min_value=-50, max_value=150),
    st.booleans(),
    st.none() | stamps,
    st.none() | st.integers(min_value=1, max_value=9),
)
def test_temperature(
    value: float,
    fahrenheit: bool,
    stamp: tuple[int, int, int, int, int, int] | None,
    kind: int | None,
) -> None:
    m = thermometer.parse_temperature_measurement(
        fw_gatt.temperature_measurement(value, fahrenheit, stamp, kind)
    )
    assert abs(m.temperature.as_float() - value) <= 0.005 + 1e-9
    assert (m.unit is thermometer.TemperatureUnit.FAHRENHEIT) == fahrenheit
    assert m.timestamp == (None if stamp is None else as_datetime(stamp))
    assert (None if m.temperature_type is None else int(m.temperature_type)) == kind


@EXAMPLES
@given(
    st.floats(min_value=0, max_value=300),
    st.floats(min_value=0, max_value=300),
    st.none() | st.floats(min_value=0, max_value=300),
    st.none() | stamps,
    st.none() | st.floats(min_value=0, max_value=300),
    st.none() | st.integers(min_value=0, max_value=255),
    st.none() | st.integers(min_value=0, max_value=0x3F).filter(lambda s: s >> 3 & 3 != 3),
)
def test_blood_pressure(
    sys_: float,
    dia: float,
    mean: float | None,
    stamp: tuple[int, int, int, int, int, int] | None,
    pulse: float | None,
    user: int | None,
    status: int | None,
) -> None:
    data = fw_gatt.blood_pressure_measurement(sys_, dia, mean, stamp, pulse, user, status)
    m = blood_pressure.parse_blood_pressure_measurement(data)
    assert m.unit is blood_pressure.PressureUnit.MMHG
    assert abs(m.systolic.as_float() - sys_) <= 0.5
    assert abs(m.diastolic.as_float() - dia) <= 0.5
    if mean is None:
        assert m.mean_arterial_pressure.special is Special.NAN
    else:
        assert abs(m.mean_arterial_pressure.as_float() - mean) <= 0.5
    assert m.timestamp == (None if stamp is None else as_datetime(stamp))
    assert (m.pulse_rate_bpm is None) == (pulse is None)
    assert m.user_id == user
    assert (None if m.measurement_status is None else m.measurement_status.raw) == status


def test_blood_pressure_kpa_and_feature() -> None:
    m = blood_pressure.parse_blood_pressure_measurement(
        fw_gatt.blood_pressure_measurement(16.0, 10.7, 12.4, kpa=True)
    )
    assert m.unit is blood_pressure.PressureUnit.KPA
    assert m.diastolic.value == 10.7
    f = blood_pressure.parse_blood_pressure_feature(fw_gatt.blood_pressure_feature(0x0004))
    assert f.irregular_pulse_detection_supported and not f.body_movement_detection_supported


@given(st.floats(min_value=-10, max_value=200))
def test_battery(percent: float) -> None:
    level = battery.parse_battery_level(fw_gatt.battery_level(percent)).level_percent
    assert level == max(0, min(100, int(percent + 0.5)))


@given(st.text(max_size=20).filter(lambda s: "\x00" not in s))
def test_device_information(text: str) -> None:
    parsed = device_info.parse_device_information_string(
        fw_gatt.MANUFACTURER_NAME, fw_gatt.utf8_string(text)
    )
    assert parsed.value == text


@given(st.integers(min_value=0, max_value=0xFFFF))
def test_racp_responses_and_requests(n: int) -> None:
    count = racp.parse_racp_response(fw_racp.number_of_records(n))
    assert isinstance(count, racp.RacpNumberOfRecords) and count.count == n
    # the gateway's own requests are understood by the firmware
    assert fw_racp.parse_request(racp.encode_report_records_from(n)) == (1, 3, (n,))
    assert fw_racp.parse_request(racp.encode_report_number_of_records_from(n)) == (4, 3, (n,))
    assert fw_racp.parse_request(racp.encode_report_all_records()) == (1, 1, ())


@given(st.sampled_from([1, 2, 3, 4]), st.integers(min_value=1, max_value=9))
def test_racp_response_code(op: int, code: int) -> None:
    r = racp.parse_racp_response(fw_racp.response_code(op, code))
    assert isinstance(r, racp.RacpResponse)
    assert (r.request_op_code, int(r.response_code)) == (op, code)


rates = st.integers(min_value=0, max_value=511)
spo2s = st.integers(min_value=0, max_value=127)


@EXAMPLES
@given(
    st.lists(
        st.tuples(rates, spo2s, st.integers(min_value=0, max_value=0x3FFF)), min_size=1, max_size=4
    ),
    st.sampled_from([0, fw_frames.N7_GPRF, fw_frames.N7_SNSD | fw_frames.N7_ARTF]),
    st.integers(min_value=0, max_value=0x0B),
    st.integers(min_value=1, max_value=124),
)
def test_nonin7_stream(
    packets: list[tuple[int, int, int]], status: int, stat2: int, cut: int
) -> None:
    wave = fw_frames.PlethWave()
    stream = b""
    plethes = []
    for hr, spo2, timer in packets:
        pleth = wave.samples(float(hr % 250))
        plethes.append(pleth)
        stream += fw_frames.nonin7_packet(hr, spo2, pleth, status, timer, stat2)
    dec = Format7Decoder()
    out = dec.feed(stream[:cut]) + dec.feed(stream[cut:])
    assert all(isinstance(p, Packet7) for p in out), out
    assert [(p.hr, p.spo2, p.timer) for p in out if isinstance(p, Packet7)] == packets
    for p, pleth in zip(out, plethes, strict=True):
        assert isinstance(p, Packet7)
        assert list(p.pleth) == pleth
        assert int(p.stat2) == stat2 & 0x2F  # the STAT2 bits the decoder knows
        assert p.e_hr == p.hr_d == p.hr and p.spo2_d == p.spo2_fast == p.spo2
        assert int(p.flags) == status & 0x7E


@EXAMPLES
@given(
    st.lists(
        st.tuples(rates, spo2s, st.sampled_from([0, 0x04, 0x40, 0x7C])), min_size=1, max_size=8
    )
)
def test_nonin8_stream(records: list[tuple[int, int, int]]) -> None:
    stream = b"".join(fw_frames.nonin8_record(hr, s, st_, 1) for hr, s, st_ in records)
    out = Format8Decoder().feed(stream)
    assert all(isinstance(r, Record8) for r in out)
    assert [(r.hr, r.spo2, int(r.status)) for r in out if isinstance(r, Record8)] == records


@EXAMPLES
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2068, 12, 31)).map(  # noqa: DTZ001
        lambda d: (d.year, d.month, d.day, d.hour, d.minute, d.second)
    ),
    st.none() | st.floats(min_value=0, max_value=100),
    st.none() | st.floats(min_value=0, max_value=300),
    st.none() | st.floats(min_value=0, max_value=20),
    st.integers(min_value=0, max_value=0xFFFF),
    st.integers(min_value=0, max_value=0xFFFFFF),
)
def test_masimo_line(
    stamp: tuple[int, int, int, int, int, int],
    spo2: float | None,
    bpm: float | None,
    pi: float | None,
    alarm: int,
    exc: int,
) -> None:
    reading = parse_line(fw_frames.masimo_line(stamp, spo2, bpm, pi, alarm=alarm, exc=exc))
    assert reading.device_time == as_datetime(stamp)
    for key, want, tol in (("SPO2", spo2, 0.5), ("BPM", bpm, 0.5), ("PI", pi, 0.005 + 1e-9)):
        got = reading.values[key]
        assert (got is None) == (want is None)
        if want is not None and got is not None:
            assert abs(got - want) <= tol
    assert reading.alarm == alarm
    assert reading.raw_exceptions == exc


def test_masimo_sensor_off_is_a_sensor_fault() -> None:
    line = fw_frames.masimo_line(
        (2026, 1, 1, 8, 0, 0),
        None,
        None,
        exc=fw_frames.MASIMO_SENSOR_OFF | fw_frames.MASIMO_NO_SENSOR,
    )
    (reading,) = MasimoDecoder().feed(line)
    assert not isinstance(reading, ParseError)
    assert reading.sensor_fault
    assert reading.exceptions & Exception_.SENSOR_OFF
