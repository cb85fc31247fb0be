"""Envelope bodies: JSON by default, CBOR and zstd for metered links, self-describing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiomqtt
from hypothesis import given
from hypothesis import strategies as st
from support import wait_until

from gateway import envelope
from gateway.broker import LocalBroker
from gateway.buffer import Buffer
from gateway.config import MqttConfig
from gateway.model import Measurement, Quality, ReceiveTime
from gateway.payload import content_type, decode_body, encode_body
from gateway.sync import UplinkWorker
from gateway.uplink import MqttUplink

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.dictionaries(st.text(max_size=8), json_values, max_size=6),
    st.sampled_from(["json", "cbor"]),
    st.sampled_from(["none", "zstd"]),
)
def test_every_codec_round_trips_and_says_what_it_is(
    body: dict[str, Any], encoding: str, compression: str
) -> None:
    payload = encode_body(body, encoding, compression)
    assert decode_body(payload) == body
    ctype, indicator = content_type(payload)
    expected = "application/zstd" if compression == "zstd" else f"application/{encoding}"
    assert ctype == expected
    assert indicator == (1 if ctype == "application/json" else 0)


def test_cbor_and_zstd_make_numeric_batches_smaller() -> None:
    records = [
        Measurement(
            "bed01",
            "bed01.150456",
            150456,
            "%",
            97.0 + (i % 3),
            Quality(0),
            ReceiveTime(1_795_000_000_000_000_000 + i * 10**9, i),
        )
        for i in range(60)
    ]
    sizes = {
        (e, c): len(
            envelope.encode_batch(
                records, gateway="gw", site="s", patient="p", first_seq=1, encoding=e, compression=c
            )
        )
        for e in ("json", "cbor")
        for c in ("none", "zstd")
    }
    assert sizes[("cbor", "none")] < sizes[("json", "none")]
    assert sizes[("cbor", "zstd")] < sizes[("cbor", "none")] / 2
    print(f"\n60 SpO2 samples per envelope, bytes: {sizes}")


async def test_cbor_zstd_envelopes_travel_with_their_content_type(
    tmp_path: Path, broker: LocalBroker
) -> None:
    buf = await Buffer.open(
        tmp_path / "b.sqlite3", "gw", "lab", encoding="cbor", compression="zstd"
    )
    await buf.commit(
        [
            Measurement("oxi", "oxi.150456", 150456, "%", 97.0, Quality(0), ReceiveTime(i, i))
            for i in range(10)
        ],
        lambda d: "p-1",
    )
    got: list[tuple[str | None, dict[str, Any]]] = []
    ready = asyncio.Event()

    async def listen() -> None:
        async with aiomqtt.Client(
            broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as c:
            await c.subscribe("edgetwin/v1/lab/gw/numeric/#", qos=1)
            ready.set()
            async for m in c.messages:
                assert isinstance(m.payload, bytes)
                got.append((getattr(m.properties, "ContentType", None), envelope.decode(m.payload)))

    listener = asyncio.create_task(listen())
    await wait_until(ready.is_set)
    worker = UplinkWorker(
        buf,
        lambda: MqttUplink(MqttConfig(port=broker.port), "gw", "lab"),
        site="lab",
        gateway_id="gw",
        window=4,
        wake=asyncio.Event(),
    )
    pump = asyncio.create_task(worker.run())
    await wait_until(lambda: bool(got), what="the envelope")
    pump.cancel()
    listener.cancel()
    await asyncio.gather(pump, listener, return_exceptions=True)
    await buf.close()
    ctype, body = got[0]
    assert ctype == "application/zstd"
    assert body["seq"] == [1, 10]
    assert [s["value"] for s in body["samples"]] == [97.0] * 10
