"""The direct JSON writer for waveform rows gives exactly the general encoder's bytes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gateway import envelope
from gateway.model import Quality, ReceiveTime, WaveformChunk

ints = st.integers(min_value=0, max_value=2**62)
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
sample_arrays = st.one_of(
    hnp.arrays(np.int16, st.integers(0, 40)),
    hnp.arrays(np.int32, st.integers(0, 40)),
    hnp.arrays(np.float64, st.integers(0, 40), elements=st.floats(-1e6, 1e6, width=64)),
)


@st.composite
def chunks(draw: st.DrawFn) -> WaveformChunk:
    return WaveformChunk(
        "dev",
        "dev.131330",
        draw(st.integers(0, 2**31)),
        draw(st.text(max_size=6)),
        draw(ints),
        draw(st.integers(1, 10**9)),
        draw(sample_arrays),
        ReceiveTime(draw(ints), draw(ints)),
        gain=draw(floats),
        offset=draw(floats),
        quality=Quality(draw(st.integers(0, 0x7FF))),
    )


def encode(batch: list[WaveformChunk], first_seq: int) -> bytes:
    return envelope.encode_batch(batch, gateway="gw", site="s", patient="p", first_seq=first_seq)


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(chunks(), min_size=1, max_size=5), first_seq=st.integers(1, 2**40))
def test_fast_and_general_encoders_agree_byte_for_byte(
    batch: list[WaveformChunk], first_seq: int
) -> None:
    try:
        fast: bytes | Exception = encode(batch, first_seq)
    except ValueError as exc:
        fast = exc
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(envelope, "_wave_texts", lambda *_: None)  # the general encoder only
        try:
            general: bytes | Exception = encode(batch, first_seq)
        except ValueError as exc:
            general = exc
    if isinstance(general, Exception):  # NaN or infinite gain/offset: refused by both
        assert isinstance(fast, ValueError)
    else:
        assert fast == general


def test_the_fast_path_is_taken_for_plain_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[int] = []
    real = envelope._wave_texts

    def spy(records, seqs):  # type: ignore[no-untyped-def]
        out = real(records, seqs)
        taken.append(0 if out is None else len(out))
        return out

    monkeypatch.setattr(envelope, "_wave_texts", spy)
    chunk = WaveformChunk(
        "d", "d.1", 1, "mV", 0, 2_000_000, np.arange(8, dtype=np.int16), ReceiveTime(1, 1)
    )
    body = envelope.decode(encode([chunk, chunk], 7))
    assert taken == [2]
    assert [s["seq"] for s in body["samples"]] == [7, 8]
    assert envelope.wave_samples(body["samples"][0]) == list(range(8))
