"""A second MQTT connection that carries alarms only, on a thread and event loop of its own.

On the main connection an alarm's PUBACK comes back behind the backlog's: at 80 % load with
an hour of backlog draining that added about 10 ms at the median and pushed the 99th
percentile to 50 ms (docs/performance.md). On a connection of its own an alarm waits for
nothing on the wire; on a thread of its own it does not wait for the gateway's event loop
either (at the capacity edge that loop is busy for tens of milliseconds at a time: the
batch step, the main connection's reader). The urgent lane's commit thread hands new alarm
rows straight to :meth:`UrgentLink.offer`; the PUBACK is read on the link's loop; only the
bookkeeping (the buffer's acknowledgement, metrics, callbacks) goes back to the gateway's
loop, and a row leaves :attr:`UrgentLink.inflight` only after its acknowledgement is
recorded there, so the main connection never sees an alarm as neither in flight nor
acknowledged (it would send it again).

The link keeps itself connected with backoff; while it is down, or after a publish on it
failed, alarms go out on the main connection as before (they are in the outbox either way:
nothing is lost when this link fails, a row just takes the slower road).

The connection uses the gateway's credentials with the client id ``<client id>-urgent``,
its own persistent session, and no birth or will (the main connection reports the
gateway's status).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from gateway import envelope
from gateway.backoff import Backoff
from gateway.buffer import Buffer, OutboxRow
from gateway.cancellation import stop_if_cancelled
from gateway.errors import EdgeTwinError
from gateway.uplink import Uplink

log = logging.getLogger(__name__)

THREAD_NAME = "edgetwin-alarm-link"

_Handler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


class UrgentLink:
    """The alarm connection. :meth:`run` (on the gateway's loop) owns the link's thread;
    :meth:`offer` may be called from any thread."""

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
        #: called on the gateway's loop with a row and when its PUBACK was read
        self.on_acked: Callable[[OutboxRow, int], None] | None = None
        self.connects = self.failures = self.published_rows = self.acked_rows = 0
        self.acked_records = 0
        self._lock = threading.Lock()  # guards _inflight and _up
        self._inflight: set[int] = set()
        self._up = False
        self._main: asyncio.AbstractEventLoop | None = None  # the gateway's loop
        self._loop: asyncio.AbstractEventLoop | None = None  # the link's own loop
        self._serve_task: asyncio.Task[None] | None = None  # what runs on it (to stop it)
        self._uplink: Uplink | None = None  # the link's loop only
        self._broken: asyncio.Event | None = None  # the link's loop only
        self._sends: set[asyncio.Task[None]] = set()  # the link's loop only
        self._logged = ""
        #: installed on the link's loop (the gateway's ClosedSocketWatch counts and names
        #: the same harmless race there as on its own loop)
        self.exception_handler: _Handler | None = None

    @property
    def up(self) -> bool:
        return self._up

    @property
    def inflight(self) -> frozenset[int]:
        """Rows taken by this link and not yet acknowledged or handed back (any thread)."""
        with self._lock:
            return frozenset(self._inflight)

    def offer(self, rows: Sequence[OutboxRow], skip: Callable[[int], bool]) -> bool:
        """Publish ``rows`` here; False (nothing taken) when the link is not up.

        Safe from any thread: the rows are marked in flight at once and published on the
        link's loop. ``skip`` names rows another sender already has.
        """
        with self._lock:
            loop = self._loop
            if not self._up or loop is None:
                return False
            take = [r for r in rows if r.id not in self._inflight and not skip(r.id)]
            self._inflight.update(r.id for r in take)
        if take:
            try:
                loop.call_soon_threadsafe(self._start, take)
            except RuntimeError:  # the link's loop just ended: hand them back
                self._hand_back([r.id for r in take])
        return True

    # -- on the link's loop -------------------------------------------------------------

    def _start(self, rows: list[OutboxRow]) -> None:
        uplink = self._uplink
        if uplink is None or not self._up:
            self._hand_back([r.id for r in rows])
            return
        for row in rows:
            task = asyncio.ensure_future(self._send(uplink, row))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
            self.published_rows += 1

    async def _send(self, uplink: Uplink, row: OutboxRow) -> None:
        try:
            topic = envelope.topic(self.site, self.gateway_id, row.kind, row.stream_id)
            acked_ns = await uplink.publish(topic, row.payload)
        except asyncio.CancelledError:
            self._hand_back([row.id])
            raise
        except (EdgeTwinError, OSError) as exc:
            self._hand_back([row.id])
            self._fail(f"publish failed: {exc}")
            return
        self._to_main(self._acked, row, acked_ns or time.monotonic_ns())

    def _fail(self, reason: str) -> None:
        with self._lock:
            self._up = False
        if self._broken is not None:
            self._broken.set()
        if reason != self._logged:
            self._logged = reason
            log.warning(
                "alarm connection unavailable (%s); alarms go out on the main connection "
                "until it is back",
                reason,
            )

    def _hand_back(self, ids: list[int]) -> None:
        """Rows this link will not send after all: the main connection sends them."""
        with self._lock:
            self._inflight.difference_update(ids)
        self._to_main(self.on_failure)

    def _to_main(self, callback: Callable[..., None], *args: object) -> None:
        main = self._main
        if main is None:
            return
        with contextlib.suppress(RuntimeError):  # the gateway's loop has ended: nothing to do
            main.call_soon_threadsafe(callback, *args)

    # -- on the gateway's loop ----------------------------------------------------------

    def _acked(self, row: OutboxRow, acked_ns: int) -> None:
        # acknowledged before it leaves ``inflight``: the main connection's outbox read must
        # never see it as neither in flight nor acknowledged (it would send it again)
        self.buffer.ack_nowait([row.id])
        with self._lock:
            self._inflight.discard(row.id)
        self.acked_rows += 1
        self.acked_records += row.n
        if self.on_acked is not None:
            self.on_acked(row, acked_ns)

    async def run(self) -> None:
        """Run the link on its own thread until cancelled."""
        self._main = asyncio.get_running_loop()
        started = threading.Event()
        thread = threading.Thread(
            target=self._thread_main, args=(started,), name=THREAD_NAME, daemon=True
        )
        thread.start()
        try:
            await asyncio.to_thread(started.wait)
            await asyncio.Future()  # until cancelled
        finally:
            await asyncio.shield(asyncio.to_thread(self._stop_thread, thread, started))

    def _stop_thread(self, thread: threading.Thread, started: threading.Event) -> None:
        started.wait()
        with self._lock:
            loop, serve = self._loop, self._serve_task
        if loop is not None and serve is not None:
            with contextlib.suppress(RuntimeError):  # its loop has already ended
                loop.call_soon_threadsafe(serve.cancel)
        thread.join()

    # -- the link's thread --------------------------------------------------------------

    def _thread_main(self, started: threading.Event) -> None:
        try:
            asyncio.run(self._serve(started))
        except asyncio.CancelledError:
            pass  # stopped by run()
        except Exception:  # a bug: alarms keep going out on the main connection
            log.exception("the alarm connection's thread failed; alarms use the main connection")
        finally:
            with self._lock:
                self._up = False
                self._loop = self._serve_task = None
                left = list(self._inflight)
            if left:
                self._hand_back(left)
            started.set()

    async def _serve(self, started: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        if self.exception_handler is not None:
            loop.set_exception_handler(self.exception_handler)
        with self._lock:
            self._loop, self._serve_task = loop, task
        started.set()
        await self._connect_loop()

    async def _connect_loop(self) -> None:
        """Stay connected (with backoff) until cancelled."""
        attempt = 0
        self._broken = asyncio.Event()
        while True:
            stop_if_cancelled()  # a connect attempt may have swallowed our cancel
            self._broken.clear()
            try:
                async with self.connect() as uplink:
                    self._uplink = uplink
                    self.connects += 1
                    attempt = 0
                    self._logged = ""
                    with self._lock:
                        self._up = True
                    await self._hold(uplink)
            except (EdgeTwinError, OSError) as exc:
                self.failures += 1
                self._fail(str(exc))
            except Exception as exc:  # a bug: log it loudly, alarms take the main connection
                self.failures += 1
                log.exception("alarm connection failed unexpectedly; retrying")
                self._fail(f"internal error: {exc!r}")
            finally:
                with self._lock:
                    self._up = False
                self._uplink = None
                sends = list(self._sends)
                for t in sends:
                    t.cancel()
                if sends:
                    await asyncio.gather(*sends, return_exceptions=True)
            await asyncio.sleep(self.backoff.delay(attempt))
            attempt += 1

    async def _hold(self, uplink: Uplink) -> None:
        """Return when the connection ends (its message stream stops) or a publish failed."""
        assert self._broken is not None

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
