"""Bounded hand-off from drivers to the durable buffer, with explicit back-pressure.

Drivers ``await put(record)``; when the queue is full they wait, so memory stays bounded and
a slow disk slows intake instead of growing a list. The committer takes a batch (up to
``max_batch_records`` or ``flush_interval_ms`` after its first record), lets the twins see
it, commits it in one SQLite transaction, then wakes the uplink. Alarms never queue: a
device's alarm is stored at once on the buffer's urgent lane (its own connection and
thread), and so are the alarms the twin raises, ahead of the batch that raised them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence

from gateway.backoff import Backoff
from gateway.buffer import Buffer
from gateway.clock import ClockWatch
from gateway.config import GatewayConfig
from gateway.device_twin import DeviceTwins
from gateway.errors import BufferError_
from gateway.model import (
    Alarm,
    Checkpoint,
    DeviceEvent,
    EventKind,
    ReceiveTime,
    Record,
    stream_id_for,
)
from gateway.twin import PatientTwins

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(
        self,
        config: GatewayConfig,
        buffer: Buffer,
        twins: PatientTwins,
        wake: asyncio.Event,
        device_twins: DeviceTwins | None = None,
    ) -> None:
        self.config = config
        self.buffer = buffer
        self.twins = twins
        self.device_twins = device_twins
        self.wake = wake
        self.queue: asyncio.Queue[Record | None] = asyncio.Queue(maxsize=config.buffer.queue_size)
        self.ingested: Counter[str] = Counter()  # per device
        self.commit_failures = 0
        self.last_seen_ns: dict[str, int] = {}
        self._patient = {d.id: d.patient for d in config.devices}
        self.clock = ClockWatch()

    def patient_of(self, device_id: str) -> str:
        return self._patient.get(device_id, "")  # gateway events belong to no patient

    async def put(self, record: Record) -> None:
        if isinstance(record, Alarm):
            # alarms skip the queue: stored on the buffer's urgent lane and offered upstream
            # at once, not after the records queued ahead of them
            await self._store_alarms([record])
        else:
            await self.queue.put(record)
        device = getattr(record, "device_id", "")
        if device and not isinstance(record, Checkpoint):
            self.ingested[device] += 1
            self.last_seen_ns[device] = record.received.wall_ns

    async def _store_alarms(self, alarms: Sequence[Record], retries: int | None = None) -> None:
        attempt = 0
        backoff = Backoff(base_s=0.05, cap_s=2.0)
        while True:
            try:
                await self.buffer.commit_urgent(alarms, self.patient_of)
                break
            except BufferError_ as exc:
                self.commit_failures += 1
                log.error("cannot store %d alarms yet: %s (retrying)", len(alarms), exc)
                if retries is not None and attempt >= retries:
                    raise
                await asyncio.sleep(backoff.delay(attempt))
                attempt += 1
        self.wake.set()

    async def put_many(self, records: Sequence[Record]) -> None:
        for record in records:
            await self.put(record)

    async def run(self) -> None:
        """Commit batches until :meth:`close` is called, then commit what is left and return."""
        interval = self.config.buffer.flush_interval_ms / 1000
        limit = self.config.buffer.max_batch_records
        queue = self.queue
        closing = False
        while not closing:
            first = await queue.get()
            if first is None:
                return
            batch: list[Record] = [first]
            deadline = time.monotonic() + interval
            while len(batch) < limit:
                # take what is queued without waiting; wait (until the deadline) only when empty
                while len(batch) < limit and not queue.empty():
                    item = queue.get_nowait()
                    if item is None:
                        closing = True
                        break
                    batch.append(item)
                if closing or len(batch) >= limit:
                    break
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                try:
                    async with asyncio.timeout(timeout):
                        item = await queue.get()
                except TimeoutError:
                    break
                if item is None:
                    closing = True
                    break
                batch.append(item)
            await self._commit(batch)

    async def close(self) -> None:
        """Ask :meth:`run` to flush everything queued so far and stop (drivers stopped first)."""
        await self.queue.put(None)

    async def _commit(self, batch: list[Record], retries: int | None = None) -> None:
        batch, step = self.clock.flag(batch)
        if step:
            log.warning(
                "wall clock stepped by %+.3f s (monotonic clock unaffected); records around "
                "the step are flagged clock_stepped, ordering relies on sequence numbers",
                step / 1e9,
            )
            gw = self.config.gateway_id
            batch.append(
                DeviceEvent(
                    gw,
                    stream_id_for(gw, "events"),
                    EventKind.CLOCK_STEP,
                    ReceiveTime.now(),
                    f"wall clock stepped by {step / 1e9:+.3f} s",
                    step / 1e9,
                )
            )
        now = ReceiveTime.now()
        batch = batch + self.twins.observe(batch, now)
        if self.device_twins is not None:
            # one loop turn per twin: together they held the loop for 20-50 ms a batch at
            # 140 beds on a slow machine (alarms and device reads wait behind a turn)
            await asyncio.sleep(0)
            batch = batch + self.device_twins.observe(batch, now)
        alarms = [r for r in batch if isinstance(r, Alarm)]
        if alarms:  # the twin's alarms first, on the urgent lane (alarm streams live there)
            await self._store_alarms(alarms, retries)
            batch = [r for r in batch if not isinstance(r, Alarm)]
        attempt = 0
        backoff = Backoff(base_s=0.2, cap_s=5.0)
        seen, self.last_seen_ns = self.last_seen_ns, {}
        while True:
            try:
                await self.buffer.commit(batch, self.patient_of, seen)
                break
            except BufferError_ as exc:
                self.commit_failures += 1
                log.error(
                    "cannot store %d records yet: %s (holding them, retrying)", len(batch), exc
                )
                if retries is not None and attempt >= retries:
                    raise
                await asyncio.sleep(backoff.delay(attempt))
                attempt += 1
        self.wake.set()
