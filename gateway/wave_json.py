"""The JSON text of a waveform row, written directly (the envelope's hot path).

A row of waveform chunks is most of what the gateway writes. Building a dict per chunk
and handing the list to ``json.dumps`` cost about a fifth of the gateway's time in the
flood benchmark; the chunks' fields are integers, floats and a few short strings, so their
text can be written with the same spelling ``json.dumps(separators=(",", ":"))`` uses:
the output is byte for byte what :func:`gateway.envelope.encode_batch` gave before
(tests/test_wave_json.py checks that on generated chunks).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from gateway.model import WaveformChunk

_STRINGS: dict[str, str] = {}  # unit -> its JSON text
_QUALITY: dict[int, str] = {}  # quality bits -> JSON text of the flag names


def _string(text: str) -> str:
    out = _STRINGS.get(text)
    if out is None:
        out = json.dumps(text)
        if len(_STRINGS) < 1024:
            _STRINGS[text] = out
    return out


def _number(x: float) -> str | None:
    """A float's JSON text, or None when JSON has none (NaN, infinities)."""
    x = float(x)
    return float.__repr__(x) if math.isfinite(x) else None


def chunk_texts(chunks: Sequence[WaveformChunk], seqs: Sequence[int]) -> list[str] | None:
    """The JSON objects of ``chunks`` numbered ``seqs``; None if one needs the general
    encoder (a non-finite gain or offset, which it refuses with its own error)."""
    from gateway.envelope import wave_data  # the packing rule lives with the envelope

    out: list[str] = []
    for r, seq in zip(chunks, seqs, strict=True):
        gain, offset = _number(r.gain), _number(r.offset)
        if gain is None or offset is None:
            return None
        quality = _QUALITY.get(int(r.quality))
        if quality is None:
            quality = _QUALITY[int(r.quality)] = json.dumps(
                r.quality.names(), separators=(",", ":")
            )
        data = wave_data(r.samples)
        if "samples_b64" in data:
            samples = f'"dtype":"{data["dtype"]}","samples_b64":"{data["samples_b64"]}"'
        else:
            values = json.dumps(data["samples"], separators=(",", ":"), allow_nan=False)
            samples = f'"samples":{values}'
        out.append(
            f'{{"seq":{int(seq)},"t_rx_ns":{int(r.received.wall_ns)},'
            f'"start_ns":{int(r.start_ns)},"period_ns":{int(r.sample_period_ns)},'
            f'"mdc":{int(r.mdc_code)},"unit":{_string(r.unit)},"gain":{gain},'
            f'"offset":{offset},{samples},"quality":{quality}}}'
        )
    return out
