"""Bit-exact serialisation of model state: NumPy arrays and canonical JSON blobs.

Arrays travel as ``{"dtype", "shape", "data"}`` with the raw little-endian bytes in base64,
so every float (NaN payloads and signed zeros included) comes back bit for bit. Blobs are
canonical JSON (sorted keys, no spaces), so equal states give equal bytes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

#: dtypes a state may hold (anything else is refused on decoding).
_DTYPES = frozenset({"<f8", "<i8", "|b1", "|i1", "|u1", "<i2"})


def encode_array(a: npt.NDArray[Any]) -> dict[str, Any]:
    """A JSON-ready description of ``a`` that :func:`decode_array` turns back into it."""
    le = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    dtype = le.dtype.str
    if dtype not in _DTYPES:
        raise ValueError(f"cannot serialise arrays of dtype {dtype}")
    return {
        "dtype": dtype,
        "shape": list(le.shape),
        "data": base64.b64encode(le.tobytes()).decode("ascii"),
    }


def decode_array(d: Mapping[str, Any]) -> npt.NDArray[Any]:
    """The (writeable) array described by ``d``; malformed input raises ValueError."""
    try:
        dtype = str(d["dtype"])
        shape = tuple(int(n) for n in d["shape"])
        raw = base64.b64decode(str(d["data"]), validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed array in state: {exc}") from exc
    if dtype not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r} in state")
    count = int(np.prod(shape, dtype=np.int64))
    if any(n < 0 for n in shape) or len(raw) != count * np.dtype(dtype).itemsize:
        raise ValueError(f"array data does not match shape {shape} and dtype {dtype}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype[1:], copy=True)


def dumps(obj: Mapping[str, Any]) -> bytes:
    """Canonical JSON bytes (sorted keys, compact, NaN refused: encode it in an array)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def loads(blob: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(blob)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"state blob is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ValueError("state blob must be a JSON object")
    return obj


def float_or_none(x: float) -> float | None:
    """JSON-friendly float: NaN becomes ``None``."""
    return None if np.isnan(x) else float(x)
