"""Per-device transfer state of stored-record devices, kept in the gateway's buffer.

One value per device: the last RACP sequence number fully delivered (measurement and its
context), the last measurement sequence number delivered (ahead of the former while a
context is still due), and for spot-check devices the device time of the last delivered
measurement plus digests of the values delivered at that same time.

The state travels as a :class:`~gateway.model.Checkpoint` record right behind the records
it covers, so the buffer stores it in the same SQLite transaction as they are (or a later
one): a crash can never leave the state ahead of the records (lost readings) nor behind
them by more than the uncommitted tail (which the device sends again and the trackers
drop). On start the driver reads it back from ``<state_dir>/buffer.sqlite3``. Without a
``state_dir`` it lives in memory only.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from gateway.buffer import read_cursor
from gateway.model import Checkpoint, ReceiveTime, stream_id_for

#: The buffer file a gateway keeps in its data directory (see gateway.runtime.BUFFER_FILE).
BUFFER_FILE = "buffer.sqlite3"
CURSOR_KEY = "ble_transfer"


@dataclass(frozen=True, slots=True)
class TransferState:
    last_sequence: int | None = None
    last_measurement_sequence: int | None = None
    watermark_ns: int | None = None
    watermark_digests: tuple[str, ...] = field(default=())

    def with_(self, **changes: object) -> TransferState:
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_json(self) -> str:
        return json.dumps(
            {
                "last_sequence": self.last_sequence,
                "last_measurement_sequence": self.last_measurement_sequence,
                "watermark_ns": self.watermark_ns,
                "watermark_digests": list(self.watermark_digests),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> TransferState:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("transfer state: a JSON object expected")

        def opt_int(key: str) -> int | None:
            value = data.get(key)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"transfer state: {key} must be an integer")
            return value

        digests = data.get("watermark_digests", [])
        if not isinstance(digests, list) or not all(isinstance(d, str) for d in digests):
            raise ValueError("transfer state: watermark_digests must be a list of strings")
        return cls(
            opt_int("last_sequence"),
            opt_int("last_measurement_sequence"),
            opt_int("watermark_ns"),
            tuple(digests),
        )


class StateStore:
    """Load a device's :class:`TransferState`; make checkpoints that persist a new one."""

    def __init__(self, buffer_path: Path | None) -> None:
        self.path = buffer_path
        self._memory: dict[str, TransferState] = {}

    @classmethod
    def in_dir(cls, state_dir: str | Path | None) -> StateStore:
        return cls(None if state_dir is None else Path(state_dir) / BUFFER_FILE)

    async def load(self, device_id: str) -> TransferState:
        if device_id in self._memory or self.path is None:
            return self._memory.get(device_id, TransferState())
        text = await asyncio.to_thread(read_cursor, self.path, device_id, CURSOR_KEY)
        state = TransferState() if text is None else TransferState.from_json(text)
        self._memory[device_id] = state
        return state

    def checkpoint(self, device_id: str, state: TransferState, received: ReceiveTime) -> Checkpoint:
        """Remember ``state`` and return the record that stores it with the records before it."""
        self._memory[device_id] = state
        return Checkpoint(
            device_id,
            stream_id_for(device_id, "checkpoint"),
            CURSOR_KEY,
            state.to_json(),
            received,
        )

    def close(self) -> None:
        """Nothing to release: reads use short-lived connections."""
