"""decode_frame: one framed frame to a JSON-able summary."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.intellivue import requests
from drivers.intellivue.decode import decode_frame
from drivers.intellivue.framing import encode_frame, escape, fcs
from gateway.errors import FramingError
from hil.intellivue_sim import encoder


def test_poll_result_summary_is_json():
    objects = [
        encoder.SimNumeric(1, (encoder.SimValue(0x4BB8, 544, 97.0),), label=0x00024BB8),
        encoder.SimNumeric(2, (encoder.SimValue(0x4182, 2720, "nan", 0x8000),)),
    ]
    wire = encoder.frame(encoder.poll_result(objects, invoke_id=3, obj_code=6, rel_time=42))
    summary = decode_frame(wire)
    assert json.loads(json.dumps(summary)) == summary
    assert summary["fcs"]["ok"] is True
    assert summary["header"]["ok"] is True
    assert summary["error"] is None
    apdu = summary["apdu"]
    assert apdu["kind"] == "poll_result"
    assert apdu["rel_time"] == 42
    assert [(n["label"], n["mdc"], n["value"], n["unit"]) for n in apdu["numerics"]] == [
        ("SpO2", 150456, 97.0, "%"),
        ("HR", 147842, None, "/min"),
    ]
    assert apdu["numerics"][1]["quality"] == ["invalid"]


def test_mds_create_and_association_summaries():
    when = datetime(2021, 4, 22, 11, 47, 26)  # noqa: DTZ001
    mds = decode_frame(encoder.frame(encoder.mds_create_event(when=when, rel_time=5)))
    assert mds["apdu"]["kind"] == "mds_create_event"
    assert mds["apdu"]["abs_time"] == "2021-04-22T11:47:26"
    aarq = decode_frame(requests.aarq())
    assert aarq["apdu"]["type"] == "CN"
    assert aarq["apdu"]["user_info"]["poll_profile"]["max_mtu_rx"] == 1456
    assert decode_frame(requests.poll_waves(1, 1))["apdu"]["kind"] == "poll_request"
    assert decode_frame(requests.keep_alive(1, 1))["apdu"]["obj_type"] == [1, 33]


def test_bad_fcs_is_reported_not_raised():
    body = bytearray(b"\x11\x01\x00\x01\x0a")
    body += (fcs(bytes(body)) ^ 0x0101).to_bytes(2, "little")
    summary = decode_frame(b"\xc0" + escape(bytes(body)) + b"\xc1")
    assert summary["fcs"]["ok"] is False
    assert summary["fcs"]["received"] != summary["fcs"]["computed"]


def test_bad_apdu_is_reported_with_offset():
    summary = decode_frame(encode_frame(b"\xe1\x00\x00\x02\x00\x02\x00\x09"))
    assert summary["fcs"]["ok"] is True
    assert summary["apdu"] is None
    assert summary["error"]["type"] == "FramingError"
    assert summary["error"]["offset"] == 6


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x11\x01\x00\x00",  # no BOF
        b"\xc0\x11\x01\x00\x00\xff\xff",  # no EOF
        encode_frame(b"\x01") + encode_frame(b"\x02"),  # two frames
        b"\xc0\x11\x01\x00\x7d\xc1",  # aborted
        b"\xc0\x11\xc1",  # too short
    ],
)
def test_not_one_frame_raises_framing_error(data):
    with pytest.raises(FramingError):
        decode_frame(data)


@given(st.binary(max_size=200))
@settings(max_examples=300)
def test_fuzz_decode_frame(data):
    for candidate in (data, b"\xc0" + data + b"\xc1", encode_frame(data)):
        try:
            summary = decode_frame(candidate)
        except FramingError:
            continue
        json.dumps(summary)
