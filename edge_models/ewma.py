"""Time-aware exponentially weighted moving average over a (patients x vitals) grid.

For irregular sampling the weight of a new sample depends on the time since the last one:
``alpha = 1 - exp(-dt / tau)``, so a sample after a long gap counts almost fully and a burst
of samples does not over-weight the present. State is plain NumPy arrays (structure of
arrays), updated for a whole batch at once; the step is a pure function of (state, inputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class EwmaState:
    smoothed: FloatArray  # (P, V), NaN until the first valid sample
    last_t: FloatArray  # (P, V) seconds of the last valid sample, NaN if none
    last_raw: FloatArray  # (P, V) last valid raw value

    @classmethod
    def empty(cls, patients: int, vitals: int) -> EwmaState:
        shape = (patients, vitals)
        return cls(np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan))

    def to_dict(self) -> dict[str, list[list[float | None]]]:
        return {
            name: [[None if np.isnan(v) else float(v) for v in row] for row in arr]
            for name, arr in (
                ("smoothed", self.smoothed),
                ("last_t", self.last_t),
                ("last_raw", self.last_raw),
            )
        }

    @classmethod
    def from_dict(cls, data: dict[str, list[list[float | None]]]) -> EwmaState:
        def arr(name: str) -> FloatArray:
            return np.array(
                [[np.nan if v is None else v for v in row] for row in data[name]], dtype=np.float64
            )

        return cls(arr("smoothed"), arr("last_t"), arr("last_raw"))


def ewma_step(
    state: EwmaState,
    tau_s: float,
    patient: IntArray,
    vital: IntArray,
    t_s: FloatArray,
    x: FloatArray,
) -> EwmaState:
    """Apply a batch of valid samples (any order, repeats allowed) and return the new state.

    Samples of the same cell are applied in time order; a sample older than the cell's last
    one is ignored (late data must not move the estimate backwards in time).
    """
    smoothed = state.smoothed.copy()
    last_t = state.last_t.copy()
    last_raw = state.last_raw.copy()
    if x.size == 0:
        return EwmaState(smoothed, last_t, last_raw)
    order = np.lexsort((t_s, vital, patient))
    p, v, t, val = patient[order], vital[order], t_s[order], x[order]
    cell = p * smoothed.shape[1] + v
    # rank of each sample within its cell, so round k applies every cell's k-th sample
    starts = np.r_[0, np.flatnonzero(np.diff(cell)) + 1]
    rank = np.arange(cell.size) - np.repeat(starts, np.diff(np.r_[starts, cell.size]))
    for k in range(int(rank.max()) + 1):
        sel = rank == k
        pk, vk, tk, xk = p[sel], v[sel], t[sel], val[sel]
        prev_t = last_t[pk, vk]
        prev = smoothed[pk, vk]
        first = np.isnan(prev)
        dt = np.where(first, np.inf, tk - prev_t)
        fresh = first | (dt >= 0)
        alpha = np.where(first, 1.0, 1.0 - np.exp(-np.maximum(dt, 0.0) / tau_s))
        new = np.where(first, xk, prev + alpha * (xk - prev))
        pk, vk = pk[fresh], vk[fresh]
        smoothed[pk, vk] = new[fresh]
        last_t[pk, vk] = tk[fresh]
        last_raw[pk, vk] = xk[fresh]
    return EwmaState(smoothed, last_t, last_raw)
