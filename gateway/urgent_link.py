"""A second MQTT connection that carries alarms only.

On the main connection an alarm's PUBACK comes back behind the backlog's: at 80 % load with
an hour of backlog draining that added about 10 ms at the median and pushed the 99th
percentile to 50 ms (docs/performance.md). On a connection of its own an alarm waits for
nothing. The link keeps itself connected with backoff; while it is down, or after a publish
on it failed, alarms go out on the main connection as before (they are in the outbox
either way: nothing is lost when this link fails, a row just takes the slower road).

The connection uses the gateway's credentials with the client id ``<client id>-urgent``,
its own persistent session, and no birth or will (the main connection reports the
gateway's status).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from gateway import envelope
from gateway.backoff import Backoff
from gateway.buffer import Buffer, OutboxRow
from gateway.cancellation import stop_if_cancelled
from gateway.errors import EdgeTwinError
from gateway.uplink import Uplink

log = logging.getLogger(__name__)


class UrgentLink:
    def __init__(
        self,
        buffer: Buffer,
        connect: Callable[[], Uplink],
        *,
        site: str,
        gateway_id: str,
        on_failure: Callable[[], None],
        backoff: Backoff | None = None,
    ) -> None:
        self.buffer = buffer
        self.connect = connect
        self.site = site
        self.gateway_id = gateway_id
        self.on_failure = on_failure  # a row is back in the main connection's hands
        self.backoff = backoff or Backoff()
        #: called with a row and when its PUBACK was read
        self.on_acked: Callable[[OutboxRow, int], None] | None = None
        self.inflight: dict[int, asyncio.Task[None]] = {}
        self.connects = self.failures = self.published_rows = self.acked_rows = 0
        self.acked_records = 0
        self._uplink: Uplink | None = None
        self._broken = asyncio.Event()
        self._logged = ""

    @property
    def up(self) -> bool:
        return self._uplink is not None and not self._broken.is_set()

    def offer(self, rows: Sequence[OutboxRow], skip: Callable[[int], bool]) -> bool:
        """Publish ``rows`` here; False (nothing taken) when the link is not up."""
        if not self.up:
            return False
        for row in rows:
            if row.id not in self.inflight and not skip(row.id):
                self.inflight[row.id] = asyncio.create_task(
                    self._send(row), name=f"urgent-publish-{row.id}"
                )
                self.published_rows += 1
        return True

    async def _send(self, row: OutboxRow) -> None:
        uplink = self._uplink
        try:
            if uplink is None:
                raise EdgeTwinError("urgent link closed")
            topic = envelope.topic(self.site, self.gateway_id, row.kind, row.stream_id)
            acked_ns = await uplink.publish(topic, row.payload)
            # acknowledged before it leaves ``inflight``: the main connection's outbox read
            # must never see it as neither in flight nor acknowledged (it would send it again)
            await self.buffer.ack([row.id])
        except (EdgeTwinError, OSError) as exc:
            self._fail(f"publish failed: {exc}")
            return
        finally:
            self.inflight.pop(row.id, None)
        self.acked_rows += 1
        self.acked_records += row.n
        if self.on_acked is not None:
            self.on_acked(row, acked_ns or time.monotonic_ns())

    def _fail(self, reason: str) -> None:
        self._broken.set()
        self.on_failure()  # the main connection sends what this one could not
        if reason != self._logged:
            self._logged = reason
            log.warning(
                "alarm connection unavailable (%s); alarms go out on the main connection "
                "until it is back",
                reason,
            )

    async def run(self) -> None:
        """Stay connected (with backoff) until cancelled."""
        attempt = 0
        while True:
            stop_if_cancelled()  # a connect attempt may have swallowed our cancel
            self._broken.clear()
            try:
                async with self.connect() as uplink:
                    self._uplink = uplink
                    self.connects += 1
                    attempt = 0
                    self._logged = ""
                    await self._hold(uplink)
            except (EdgeTwinError, OSError) as exc:
                self.failures += 1
                self._fail(str(exc))
            except Exception as exc:  # a bug: log it loudly, alarms take the main connection
                self.failures += 1
                log.exception("alarm connection failed unexpectedly; retrying")
                self._fail(f"internal error: {exc!r}")
            finally:
                self._uplink = None
                for task in list(self.inflight.values()):
                    task.cancel()
                if self.inflight:
                    await asyncio.gather(*self.inflight.values(), return_exceptions=True)
                    self.inflight.clear()
                    self.on_failure()
            await asyncio.sleep(self.backoff.delay(attempt))
            attempt += 1

    async def _hold(self, uplink: Uplink) -> None:
        """Return when the connection ends (its message stream stops) or a publish failed."""

        async def drain() -> None:
            async for _ in uplink.messages():  # nothing is subscribed: this only ends
                pass

        ended = asyncio.ensure_future(drain())
        broken = asyncio.ensure_future(self._broken.wait())
        try:
            await asyncio.wait({ended, broken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (ended, broken):
                task.cancel()
            await asyncio.gather(ended, broken, return_exceptions=True)
        if ended.done() and not ended.cancelled() and ended.exception() is not None:
            raise ended.exception()  # type: ignore[misc]
