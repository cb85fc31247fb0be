"""Exponential backoff with full jitter, so a fleet never reconnects in lock-step."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 0.5
    cap_s: float = 30.0

    def ceiling(self, attempt: int) -> float:
        return float(min(self.cap_s, self.base_s * 2 ** min(attempt, 30)))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """A uniform delay in [0, ceiling(attempt)] (AWS 'full jitter')."""
        return (rng or random).uniform(0.0, self.ceiling(attempt))
