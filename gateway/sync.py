"""Move committed outbox rows to the broker, in priority order, with a bounded window.

A row leaves the outbox only after its PUBACK (``Buffer.ack``). After any failure the
connection is rebuilt with backoff and every row not acknowledged is sent again: delivery is
at-least-once and receivers dedup on (gateway, stream, seq).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from gateway import envelope
from gateway.backoff import Backoff
from gateway.buffer import BACKLOG_PRIORITY, Buffer, OutboxRow
from gateway.cancellation import stop_if_cancelled
from gateway.errors import EdgeTwinError, UplinkError
from gateway.uplink import Uplink
from gateway.urgent_link import UrgentLink

log = logging.getLogger(__name__)


@dataclass
class UplinkMetrics:
    connected: bool = False
    connects: int = 0
    failures: int = 0
    published_rows: int = 0
    acked_rows: int = 0
    acked_records: int = 0
    #: publishes in flight at most on the current connection (mqtt.inflight_window, or
    #: the broker's Receive Maximum if lower)
    window: int = 0
    last_error: str = ""
    state_changes: list[tuple[int, str]] = field(default_factory=list)


class UplinkWorker:
    def __init__(
        self,
        buffer: Buffer,
        connect: Callable[[], Uplink],
        *,
        site: str,
        gateway_id: str,
        window: int,
        wake: asyncio.Event,
        backlog_bytes: int = 0,
        urgent: UrgentLink | None = None,
        backoff: Backoff | None = None,
        describe: str = "broker",
        subscriptions: Sequence[str] = (),
        on_message: Callable[[str, bytes], Awaitable[None]] | None = None,
    ) -> None:
        self.buffer = buffer
        self.connect = connect
        self.site = site
        self.gateway_id = gateway_id
        self.window = window
        self.backlog_bytes = backlog_bytes  # payload bytes of backlog rows in flight, at most
        #: called with a row and when its PUBACK was read (benchmarks time alarms with it)
        self.on_acked: Callable[[OutboxRow, int], None] | None = None
        #: the alarm connection (gateway/urgent_link.py); None: alarms share this one
        self.urgent = urgent
        if urgent is not None:
            urgent.on_acked = self._urgent_acked
        self.wake = wake
        self.backoff = backoff or Backoff()
        self.describe = describe
        self.metrics = UplinkMetrics()
        self.subscriptions = tuple(subscriptions)
        self.on_message = on_message
        self.stopped = False
        self._logged_error = ""
        self.idle = asyncio.Event()  # set when the outbox was seen empty and nothing in flight
        # while connected: the uplink, the publishes in flight and their rows (send_now)
        self._live: tuple[Uplink, dict[int, asyncio.Task[None]], dict[int, OutboxRow]] | None = None

    def stop(self) -> None:
        """Ask :meth:`run` to return (within about a second), without relying on cancel."""
        self.stopped = True
        self.wake.set()

    def _stop_requested(self) -> bool:
        return self.stopped

    def _urgent_acked(self, row: OutboxRow, acked_ns: int) -> None:
        if self.on_acked is not None:
            self.on_acked(row, acked_ns)

    def _offer_urgent(self, rows: Sequence[OutboxRow]) -> bool:
        """The buffer's urgent sink, on its urgent lane's thread: new alarm rows straight to
        the alarm connection (False: it is not up; the rows then go through :meth:`send_now`
        on the event loop). A row the main connection already has is skipped; read from
        this thread, a row being taken at this very moment can still go out twice, which
        receivers drop by sequence number."""
        assert self.urgent is not None
        if self.stopped:
            return False
        live = self._live
        taken = {} if live is None else live[1]
        acknowledged = self.buffer.acknowledged
        return self.urgent.offer(rows, skip=lambda i: i in taken or acknowledged(i))

    def _urgent_inflight(self) -> frozenset[int]:
        return self.urgent.inflight if self.urgent is not None else frozenset()

    async def run(self) -> None:
        urgent = (
            asyncio.create_task(self.urgent.run(), name="uplink-urgent") if self.urgent else None
        )
        if urgent is not None:
            self.buffer.urgent_sink = self._offer_urgent
        try:
            await self._run_main()
        finally:
            if urgent is not None:
                self.buffer.urgent_sink = None
                urgent.cancel()
                await asyncio.gather(urgent, return_exceptions=True)

    async def _run_main(self) -> None:
        attempt = 0
        while True:
            stop_if_cancelled()  # a connect attempt may have swallowed our cancel
            if self._stop_requested():
                return
            try:
                async with self.connect() as uplink:
                    attempt = 0
                    await self._set_state(True, "")
                    await self._pump_and_receive(uplink)
            except (EdgeTwinError, OSError) as exc:
                await self._set_state(False, str(exc))
            except Exception as exc:  # a bug: log it loudly, keep the data, retry
                log.exception("uplink failed unexpectedly; retrying")
                await self._set_state(False, f"internal error: {exc!r}")
            if self._stop_requested():
                return
            delay = self.backoff.delay(attempt)
            attempt += 1
            waker = asyncio.create_task(self.wake.wait())
            try:
                await asyncio.wait({waker}, timeout=delay)  # a stop() ends the wait early
            finally:
                waker.cancel()
            self.wake.clear()

    async def _set_state(self, connected: bool, error: str) -> None:
        was = self.metrics.connected
        self.metrics.connected = connected
        if connected:
            self.metrics.connects += 1
            log.info("uplink connected to %s", self.describe)
        else:
            self.metrics.failures += 1
            self.metrics.last_error = error
            if error != self._logged_error:  # one line per distinct problem, not per retry
                self._logged_error = error
                log.warning(
                    "uplink to %s unavailable (%s); buffering locally, retrying with backoff",
                    self.describe,
                    error,
                )
        if connected != was or not connected:
            self.metrics.state_changes.append((time.time_ns(), "up" if connected else "down"))
            del self.metrics.state_changes[:-50]
            with contextlib.suppress(EdgeTwinError):
                await self.buffer.set_meta(
                    {
                        "uplink_state": "connected" if connected else "disconnected",
                        "uplink_since_ns": str(time.time_ns()),
                        "uplink_error": error[:300],
                    }
                )

    async def _pump_and_receive(self, uplink: Uplink) -> None:
        """Publish the outbox; alongside, receive our subscriptions. Either failing ends both."""
        if not (self.subscriptions and self.on_message is not None):
            await self._pump(uplink)
            return
        pump = asyncio.create_task(self._pump(uplink), name="uplink-pump")
        receive = asyncio.create_task(self._receive(uplink), name="uplink-receive")
        try:
            done, _ = await asyncio.wait({pump, receive}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise the failure that ended it
            if not self.stopped:
                raise UplinkError("receiving subscriptions ended")
        finally:
            for task in (pump, receive):
                task.cancel()
            await asyncio.gather(pump, receive, return_exceptions=True)

    async def _receive(self, uplink: Uplink) -> None:
        """Hand every message of our subscriptions (desired state) to ``on_message``."""
        assert self.on_message is not None
        for topic in self.subscriptions:
            await uplink.subscribe(topic)
        async for topic, payload in uplink.messages():
            try:
                await self.on_message(topic, payload)
            except Exception:  # a bad message must never take the uplink down
                log.exception("handling a message on %s failed", topic)

    def send_now(self, rows: Sequence[OutboxRow]) -> None:
        """Publish rows just committed on the urgent lane (alarms) at once, without waiting
        for the pump's next outbox read; beyond the window if need be (alarms are few).

        Not connected: nothing to do, the rows are in the outbox and go out on reconnect.
        A row the pump has already picked up is not published twice.
        """
        if self.stopped:
            return
        live = self._live
        if live is None:
            return
        uplink, inflight, rows_by_id = live
        for row in rows:
            if row.id not in inflight:
                self._publish(uplink, inflight, rows_by_id, row)
                self.idle.clear()  # something is in flight now, whatever the pump last saw
        self.wake.set()  # the pump waits on the new publishes too

    def _publish(
        self,
        uplink: Uplink,
        inflight: dict[int, asyncio.Task[None]],
        rows_by_id: dict[int, OutboxRow],
        row: OutboxRow,
    ) -> None:
        topic = envelope.topic(self.site, self.gateway_id, row.kind, row.stream_id)
        # twin state is retained: a consumer that subscribes later gets the latest reported
        # state of every twin at once
        inflight[row.id] = asyncio.create_task(
            self._send(uplink, topic, row), name=f"publish-{row.id}"
        )
        rows_by_id[row.id] = row
        self.metrics.published_rows += 1

    async def _send(self, uplink: Uplink, topic: str, row: OutboxRow) -> None:
        acked_ns = await uplink.publish(topic, row.payload, retain=row.kind == "twin")
        if self.on_acked is not None:
            self.on_acked(row, acked_ns or time.monotonic_ns())

    async def _pump(self, uplink: Uplink) -> None:
        # the broker may accept fewer unacknowledged publishes than we would send
        window = max(1, min(self.window, uplink.send_quota))
        reserved = max(1, window // 8)
        self.metrics.window = window
        inflight: dict[int, asyncio.Task[None]] = {}
        rows_by_id: dict[int, OutboxRow] = {}
        self._live = (uplink, inflight, rows_by_id)
        try:
            while not self.stopped:
                self.wake.clear()
                free = window - len(inflight)
                backlog = [r for r in rows_by_id.values() if r.priority >= BACKLOG_PRIORITY]
                # keep a few places of the window for the urgent lane (alarms, twin state),
                # and bound the backlog's bytes on the wire: an alarm is not queued behind
                # megabytes of waveforms on the same connection
                backlog_free = window - reserved - len(backlog)
                if (
                    self.backlog_bytes
                    and backlog_free > 0
                    and sum(len(r.payload) for r in backlog) >= self.backlog_bytes
                ):
                    backlog_free = 0
                if free > 0:
                    busy = frozenset(inflight).union(self._urgent_inflight())
                    rows = await self.buffer.unsent(free, busy, backlog_free)
                    # send_now or the alarm connection (on its own thread) may have
                    # published, even acknowledged, a row meanwhile: look again
                    urgent = self._urgent_inflight()
                    for row in rows:
                        if (
                            row.id not in inflight
                            and row.id not in urgent
                            and not self.buffer.acknowledged(row.id)
                        ):
                            self._publish(uplink, inflight, rows_by_id, row)
                if not inflight:
                    await self.buffer.flush_acks()  # nothing in flight: settle the deletes
                    self.idle.set()
                    waker = asyncio.create_task(self.wake.wait())
                    try:
                        await asyncio.wait({waker}, timeout=1.0)
                    finally:
                        waker.cancel()
                    continue
                self.idle.clear()
                waker = asyncio.create_task(self.wake.wait())
                try:
                    await asyncio.wait(
                        {waker, *inflight.values()}, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    waker.cancel()
                done = [rid for rid, task in inflight.items() if task.done()]
                acked: list[int] = []
                failure: BaseException | None = None
                for rid in done:
                    task = inflight.pop(rid)
                    row = rows_by_id.pop(rid)
                    exc = task.exception()
                    if exc is None:
                        acked.append(rid)
                        self.metrics.acked_records += row.n
                    elif failure is None:
                        failure = exc
                if acked:
                    self._logged_error = ""  # data flows again: log the next problem anew
                    await self.buffer.ack(acked)
                    self.metrics.acked_rows += len(acked)
                if failure is not None:
                    raise UplinkError(f"publish failed: {failure}") from failure
        finally:
            self._live = None
            for task in inflight.values():
                task.cancel()
            if inflight:
                await asyncio.gather(*inflight.values(), return_exceptions=True)
