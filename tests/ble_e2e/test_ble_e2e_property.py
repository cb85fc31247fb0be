"""Property: values encoded by an emulated device (spec-written encoders) come out of the
driver, through bleak, the bumble backend and the emulated air, as the numbers that went in.

Each example builds a fresh emulated ward, so the whole stack (advertising, connection,
discovery, CCCD write, notification) is exercised per example. Expectations are computed
from the generated parameters, not with the parsers.
"""

from __future__ import annotations

import asyncio
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import wait_until

from drivers.base import DriverCounters
from drivers.ble import uuids
from drivers.ble.driver import BleDriver
from drivers.ble.metrics import EDGETWIN_BLE_ENERGY_EXPENDED, MDC_ECG_TIME_PD_RR_GL
from gateway import codes
from gateway.model import Measurement, Quality, Record
from hil.ble import encoders
from hil.ble.devices import HrStrap, PlxOximeter
from hil.ble.harness import Ward
from hil.ble.scenario import Scenario

HR = codes.MDC_ECG_HEART_RATE.mdc_code
RR = MDC_ECG_TIME_PD_RR_GL.mdc_code
EE = EDGETWIN_BLE_ENERGY_EXPENDED.mdc_code
SPO2 = codes.MDC_PULS_OXIM_SAT_O2.mdc_code
PR = codes.MDC_PULS_OXIM_PULS_RATE.mdc_code
PAI = codes.MDC_PULS_OXIM_PERF_REL.mdc_code
QUIET = Scenario([(0, {})])

heart_rates = st.builds(
    dict,
    bpm=st.integers(0, 255),
    wide=st.booleans(),
    contact=st.sampled_from([None, True, False]),
    energy=st.none() | st.integers(0, 0xFFFF),
    rr=st.lists(st.integers(0, 0xFFFF), max_size=6),
)
sfloats = st.one_of(
    st.tuples(st.integers(-2048, 2045), st.integers(-8, 7)).filter(
        lambda p: not (p[1] == 0 and p[0] in (2047, -2048, 2046, -2046, -2047))
    ),
    st.sampled_from(["nan", "nres", "+inf", "-inf", "reserved"]),
)
oximetry = st.tuples(sfloats, sfloats, st.none() | sfloats)


def hr_expected(p: dict[str, object]) -> list[tuple[int, float, bool]]:
    """(mdc, value, questionable) per measurement, from the generated parameters."""
    questionable = p["contact"] is False
    out = [(HR, float(p["bpm"]), questionable)]  # type: ignore[arg-type]
    out += [(RR, raw * 1000 / 1024, questionable) for raw in p["rr"]]  # type: ignore[attr-defined]
    if p["energy"] is not None:
        out.append((EE, float(p["energy"]), False))  # type: ignore[arg-type]
    return out


def number(value: object) -> float:
    if isinstance(value, str):
        return math.nan
    mantissa, exponent = value  # type: ignore[misc]
    return float(mantissa * 10.0**exponent)


async def through_the_stack(
    hr_params: list[dict[str, object]], oxi_values: list[tuple[object, object, object]]
) -> tuple[list[Record], list[Record]]:
    ward = await Ward.open(speed=1.0, adapter="emu-property")
    strap = ward.add(HrStrap("strap", "F3:00:00:00:00:01", ward.clock, QUIET, interval_s=1e6))
    oxi = ward.add(PlxOximeter("oxi", "F3:00:00:00:00:02", ward.clock, QUIET, interval_s=1e6))
    out: dict[str, list[Record]] = {"strap": [], "oxi": []}

    async def consume(name: str) -> None:
        spec = ward.spec(strap if name == "strap" else oxi, silence_timeout_s=1e6)
        async with BleDriver(spec, DriverCounters()) as driver:
            async for record in driver.records():
                out[name].append(record)

    tasks: list[asyncio.Task[None]] = []
    try:
        await ward.start()
        tasks = [asyncio.create_task(consume(n)) for n in out]
        await wait_until(
            lambda: strap.subscribed(strap.hrm) and oxi.subscribed(oxi.continuous),
            what="both subscribed",
        )
        for p in hr_params:
            value = encoders.heart_rate_measurement(
                p["bpm"],  # type: ignore[arg-type]
                uint16=bool(p["wide"]),
                contact=p["contact"],  # type: ignore[arg-type]
                energy_kj=p["energy"],  # type: ignore[arg-type]
                rr_1024=p["rr"],  # type: ignore[arg-type]
            )
            assert await strap.send(strap.hrm, uuids.HEART_RATE_MEASUREMENT, value)
        for spo2, pr, pai in oxi_values:
            value = encoders.plx_continuous(spo2, pr, pai=pai)  # type: ignore[arg-type]
            assert await oxi.send(oxi.continuous, uuids.PLX_CONTINUOUS_MEASUREMENT, value)
        want_hr = sum(len(hr_expected(p)) for p in hr_params)
        want_oxi = sum(3 if pai is not None else 2 for *_, pai in oxi_values)

        def arrived(name: str, want: int, codes_: set[int]) -> bool:
            got = [r for r in out[name] if isinstance(r, Measurement) and r.mdc_code in codes_]
            return len(got) >= want

        await wait_until(lambda: arrived("strap", want_hr, {HR, RR, EE}), what="HR values")
        await wait_until(lambda: arrived("oxi", want_oxi, {SPO2, PR, PAI}), what="PLX values")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await ward.close()
    return out["strap"], out["oxi"]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    hr_params=st.lists(heart_rates, min_size=1, max_size=6),
    oxi_values=st.lists(oximetry, min_size=1, max_size=6),
)
def test_emulator_encodings_decode_to_the_same_numbers_in_the_driver(
    hr_params: list[dict[str, object]], oxi_values: list[tuple[object, object, object]]
) -> None:
    strap_records, oxi_records = asyncio.run(through_the_stack(hr_params, oxi_values))

    got_hr = [
        (r.mdc_code, r.value, bool(r.quality & Quality.QUESTIONABLE))
        for r in strap_records
        if isinstance(r, Measurement) and r.mdc_code in (HR, RR, EE)
    ]
    want_hr = [e for p in hr_params for e in hr_expected(p)]
    assert [(m, q) for m, _, q in got_hr] == [(m, q) for m, _, q in want_hr]
    for (_, got, _), (_, want, _) in zip(got_hr, want_hr, strict=True):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    saturated = [r for r in strap_records if isinstance(r, Measurement) and r.mdc_code == EE]
    for record in saturated:
        assert bool(record.quality & Quality.OVER_RANGE) == (record.value == 0xFFFF)

    got_oxi = [
        r for r in oxi_records if isinstance(r, Measurement) and r.mdc_code in (SPO2, PR, PAI)
    ]
    want_oxi = [
        (mdc, number(v))
        for spo2, pr, pai in oxi_values
        for mdc, v in ((SPO2, spo2), (PR, pr), (PAI, pai))
        if v is not None
    ]
    assert [r.mdc_code for r in got_oxi] == [mdc for mdc, _ in want_oxi]
    for record, (_, want) in zip(got_oxi, want_oxi, strict=True):
        if math.isnan(want):
            assert math.isnan(record.value) and record.quality  # missing says why
        else:
            assert math.isclose(record.value, want, rel_tol=1e-9, abs_tol=1e-12)
