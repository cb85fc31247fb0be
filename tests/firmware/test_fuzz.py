"""Fuzz: random client writes and random payloads never make the firmware core raise."""

from __future__ import annotations

import fw_driver
import fw_store
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ble import racp


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=12), st.integers(min_value=0, max_value=8))
def test_racp_writes_always_get_a_parseable_answer(data: bytes, n: int) -> None:
    store = fw_store.RecordStore(capacity=5)
    for k in range(n):
        store.add(bytes((k,)))
    records, final = store.handle_racp(data)
    answer = racp.parse_racp_response(final)
    assert {seq for seq, _ in records} <= set(store.sequence_numbers())
    if records:
        assert isinstance(answer, racp.RacpResponse) and answer.success
    else:
        assert final[0] in (5, 6)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.sampled_from(["corrupt", "truncate"]), st.booleans())
def test_damage_never_raises_and_changes_the_value(payload: bytes, kind: str, middle: bool) -> None:
    out = fw_driver.damage(payload, kind, middle)
    if payload and not (kind == "truncate" and payload == b"\r\n"):
        assert out != payload
    if kind == "truncate":
        assert len(out) <= len(payload)
