"""Our uplink interface and its MQTT 5 implementation (aiomqtt 2.x, kept behind it).

Nothing outside this module imports aiomqtt, so moving to another aiomqtt line (or another
client) touches one file. ``publish`` returns only after the broker's PUBACK (QoS 1).

With ``tls``, the credentials are checked and the context built by :mod:`gateway.tls`; when
the files change (or :func:`gateway.tls.request_reload` is called) the uplink finishes the
publishes in flight, then ends the session with an :class:`UplinkError` so the worker
reconnects with the new files. Unacknowledged rows stay in the outbox: nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Protocol, Self

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway import envelope, tls
from gateway.config import MqttConfig
from gateway.errors import BrokerUnavailableError, PublishRefusedError, UplinkError
from gateway.payload import content_type

log = logging.getLogger(__name__)

#: how long a rotation waits for the publishes in flight to be acknowledged
ROTATION_DRAIN_S = 5.0


class Uplink(Protocol):
    #: publishes that may be unacknowledged at once on this connection (known once open)
    @property
    def send_quota(self) -> int: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        """Publish with QoS 1 and return when acknowledged: the PUBACK's arrival
        (``time.monotonic_ns()``) when known."""
        ...

    async def subscribe(self, topic: str) -> None: ...

    def messages(self) -> AsyncIterator[tuple[str, bytes]]: ...


class MqttUplink:
    """One MQTT 5 connection: persistent session, retained birth and will, QoS 1."""

    def __init__(
        self,
        cfg: MqttConfig,
        gateway_id: str,
        site: str,
        lane: str = "",
        puback_timeout_s: float | None = None,
    ) -> None:
        #: "" for the main connection; "urgent" for the alarm connection (client id
        #: ``<client id>-urgent``, no birth or will: the main connection reports status)
        self.lane = lane
        self.cfg = cfg
        #: a publish without its PUBACK for this long ends the connection (stuck broker)
        self.puback_timeout_s = puback_timeout_s or PUBACK_TIMEOUT_S
        self.gateway_id = gateway_id
        self.site = site
        self._client: aiomqtt.Client | None = None
        self._status_topic = envelope.status_topic(site, gateway_id)
        #: the client certificate of the current connection (None without mutual TLS)
        self.certificate: tls.CertificateInfo | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._rotate = asyncio.Event()  # set: end this session, reconnect with new files
        self._in_flight = 0
        self._drained = asyncio.Event()
        self._drained.set()
        #: publishes this connection may have unacknowledged at once: our window, lowered
        #: to the Receive Maximum the broker announced in CONNACK (MQTT-3.3.4-7)
        self.send_quota = cfg.inflight_window

    @property
    def client_id(self) -> str:
        base = self.cfg.client_id or f"edgetwin-{self.gateway_id}"
        return f"{base}-{self.lane}" if self.lane else base

    def _status(self, state: str) -> bytes:
        return json.dumps(
            {
                "v": envelope.VERSION,
                "gateway": self.gateway_id,
                "state": state,
                "t_ns": time.time_ns(),
            }
        ).encode()

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.cfg.session_expiry_s
        return props

    def _tls_context(self) -> tls.ClientContext | None:
        if not self.cfg.tls:
            return None
        context = tls.build_context(self.cfg, expected_cn=self.gateway_id)
        if self.cfg.cert_file:
            self.certificate = tls.read_certificate(self.cfg.cert_file)
        return context

    async def __aenter__(self) -> Self:
        # the files are stamped before they are read: a change during connect is noticed
        watch = (
            tls.CredentialWatch(self.cfg, expected_cn=self.gateway_id)
            if self.cfg.tls and self.cfg.tls_reload
            else None
        )
        try:
            await self._connect()
        except BaseException:
            if watch is not None:
                watch.close()
            raise
        if watch is not None:
            self._watch_task = asyncio.create_task(self._watch(watch), name="uplink-tls-watch")
        if not self.lane:
            await self.publish(self._status_topic, self._status("online"), retain=True)
        return self

    async def _connect(self) -> None:
        context = self._tls_context()
        will = aiomqtt.Will(self._status_topic, self._status("offline"), qos=1, retain=True)
        client = aiomqtt.Client(
            self.cfg.host,
            self.cfg.port,
            username=self.cfg.username,
            password=self.cfg.password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=self._connect_properties(),
            will=None if self.lane else will,
            keepalive=self.cfg.keepalive_s,
            timeout=10,
            max_inflight_messages=self.cfg.inflight_window,
            tls_context=context,
        )
        # Our window bounds concurrent publishes; aiomqtt would warn above 10.
        client.pending_calls_threshold = self.cfg.inflight_window + 1
        announced = _watch_connack(client)
        try:
            await _open(client, context)
        except aiomqtt.MqttError as exc:
            if context is not None and context.failure is not None:
                raise tls.handshake_error(context.failure, self.cfg) from exc
            if context is not None and isinstance(exc, EarlyClose):
                raise tls.closed_after_handshake(self.cfg) from exc
            raise BrokerUnavailableError(
                f"cannot connect to MQTT broker {self.cfg.host}:{self.cfg.port}: {exc}"
            ) from exc
        self._client = client
        self._apply_receive_maximum(announced)
        self._acks = PubackWaiter(client, self.puback_timeout_s)

    def _apply_receive_maximum(self, announced: dict[str, int]) -> None:
        """Size our window to the broker's Receive Maximum (see ``_watch_connack``)."""
        quota = min(self.cfg.inflight_window, announced.get("receive_maximum", RECEIVE_MAXIMUM))
        self.send_quota = quota
        # a new MqttUplink per connection: say it once per client id and value, not per reconnect
        if _LOGGED_QUOTA.get(self.client_id, self.cfg.inflight_window) != quota:
            _LOGGED_QUOTA[self.client_id] = quota
            log.info(
                "%s: the broker accepts %d unacknowledged publishes (Receive Maximum); "
                "sending at most that many at once instead of mqtt.inflight_window = %d",
                self.lane or "uplink",
                quota,
                self.cfg.inflight_window,
            )

    async def _watch(self, watch: tls.CredentialWatch) -> None:
        try:
            reason = await watch.changed()
        finally:
            watch.close()
        log.info("%s: reconnecting to the broker with the new TLS credentials", reason)
        tls.METRICS.reloads += 1
        self._rotate.set()

    async def _end_for_rotation(self) -> None:
        """Let the publishes in flight get their PUBACKs, then end the session."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), ROTATION_DRAIN_S)
        raise UplinkError("TLS credentials changed: reconnecting with them (data stays queued)")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        watch, self._watch_task = self._watch_task, None
        if watch is not None:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
        client, self._client = self._client, None
        if client is None:
            return
        self._acks.close()
        try:
            if exc is None:
                await client.publish(
                    self._status_topic, self._status("offline"), qos=1, retain=True
                )
        except aiomqtt.MqttError:
            pass
        with contextlib.suppress(aiomqtt.MqttError):
            await client.__aexit__(exc_type, exc, tb)
        # aiomqtt leaves a broken connection's error in a future nobody reads; read it so
        # asyncio does not log "exception was never retrieved" (pinned by the canary test)
        disconnected: Any = client._disconnected
        if disconnected.done() and not disconnected.cancelled():
            disconnected.exception()

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        if self._client is None:
            raise UplinkError("publish on a closed uplink")
        if self._rotate.is_set():
            await self._end_for_rotation()
        props = _publish_properties(content_type(payload))
        self._in_flight += 1
        self._drained.clear()
        try:
            reason, acked_ns = await self._acks.publish(topic, payload, retain, props)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._drained.set()
        if reason is not None and getattr(reason, "is_failure", False):
            # MQTT 5: a PUBACK can refuse the message (e.g. 0x87 not authorised by the ACL).
            # Treating it as delivered would lose data, so the row stays in the outbox.
            raise PublishRefusedError(
                f"broker refused publish to {topic}: {reason} (reason code {reason.value}); "
                "check the broker ACL for this gateway's topic prefix"
            )
        return acked_ns

    async def subscribe(self, topic: str) -> None:
        if self._client is None:
            raise UplinkError("subscribe on a closed uplink")
        try:
            await self._client.subscribe(topic, qos=1)
        except aiomqtt.MqttError as exc:
            raise UplinkError(f"subscribe to {topic} failed: {exc}") from exc

    async def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        """Messages of our subscriptions as (topic, payload) until the connection ends."""
        if self._client is None:
            raise UplinkError("messages of a closed uplink")
        incoming = self._client.messages
        while True:
            message = await self._next_message(incoming)
            if message is None:
                await self._end_for_rotation()
                return
            payload = message.payload
            if isinstance(payload, bytes | bytearray):
                yield str(message.topic), bytes(payload)

    async def _next_message(
        self, incoming: AsyncIterator[aiomqtt.Message]
    ) -> aiomqtt.Message | None:
        """The next message, or None when a credential rotation ends the session first."""
        receive = asyncio.ensure_future(anext(incoming))
        rotate = asyncio.ensure_future(self._rotate.wait())
        try:
            await asyncio.wait({receive, rotate}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            rotate.cancel()
            if not receive.done():
                receive.cancel()
                await asyncio.gather(receive, return_exceptions=True)
            elif not receive.cancelled():
                # a lost connection fails this read and ends the publishes in the same turn,
                # and the worker may cancel us before we look: retrieve the failure anyway
                receive.exception()
        if receive.cancelled():
            return None
        try:
            return receive.result()
        except aiomqtt.MqttError as exc:
            raise UplinkError(f"receiving messages failed: {exc}") from exc


async def _open(client: aiomqtt.Client, context: tls.ClientContext | None) -> None:
    """Connect; end the wait for CONNACK as soon as the connection is gone.

    aiomqtt ignores a disconnection before CONNACK and waits out its whole timeout (10 s).
    A broker that closes (or resets) the connection first, and with TLS 1.3 one that judges
    our certificate after the handshake and sends an alert, ends the wait at once.
    """
    ended = asyncio.Event()
    _watch_early_close(client, ended.set)
    if context is not None:
        context.on_failure = ended.set  # called by the socket's recv, in the loop's thread
    connect = asyncio.ensure_future(client.__aenter__())
    gone = asyncio.ensure_future(ended.wait())
    try:
        await asyncio.wait({connect, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if context is not None:
            context.on_failure = None
        gone.cancel()
        if not connect.done():
            connect.cancel()
            await asyncio.gather(connect, return_exceptions=True)
    if connect.cancelled():
        raise EarlyClose("the broker closed the connection before CONNACK")
    connect.result()


class EarlyClose(aiomqtt.MqttError):
    """The broker closed the connection after accepting it, before its CONNACK."""


def _watch_early_close(client: aiomqtt.Client, closed: Callable[[], None]) -> None:
    """Call ``closed`` when paho reports the connection lost (aiomqtt would not, before
    CONNACK). Harmless later: only :func:`_open` waits on it. Pinned by the canary test."""
    paho: Any = client._client
    original_on_disconnect: Any = paho.on_disconnect

    def on_disconnect(*args: Any) -> None:
        closed()
        original_on_disconnect(*args)

    paho.on_disconnect = on_disconnect


class _PackedProperties(Properties):
    """PUBLISH properties packed once. paho packs a message's properties into every packet,
    and its ``pack`` walks every property name there is, twice over: about 4 % of the
    gateway's CPU at real rate, where every stream sends a message a second."""

    def freeze(self) -> None:
        """Pack now; never change them afterwards (``pack`` returns these bytes)."""
        packed = super().pack()  # type: ignore[no-untyped-call]
        object.__setattr__(self, "_packed", packed)  # paho's setattr takes property names only

    def pack(self) -> bytes:
        packed: bytes = self.__dict__["_packed"]
        return packed


#: PUBLISH properties per (content type, payload format): paho only reads them (packs them
#: into each packet), so one object per kind serves every publish; building one per publish
#: was about 3 % of the flood's time
_PUBLISH_PROPERTIES: dict[tuple[str, int], _PackedProperties] = {}


def _publish_properties(kind: tuple[str, int]) -> _PackedProperties:
    props = _PUBLISH_PROPERTIES.get(kind)
    if props is None:
        props = _PackedProperties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ContentType, props.PayloadFormatIndicator = kind
        props.freeze()
        _PUBLISH_PROPERTIES[kind] = props
    return props


#: MQTT 5: a CONNACK without Receive Maximum means 65,535
RECEIVE_MAXIMUM = 65_535

#: the send quota last logged per client id
_LOGGED_QUOTA: dict[str, int] = {}


def _watch_connack(client: aiomqtt.Client) -> dict[str, int]:
    """Keep to the broker's Receive Maximum (aiomqtt 2.x drops CONNACK properties and paho
    ignores it). MQTT 5 lets a broker disconnect a client that exceeds it (reason code 0x93,
    Receive Maximum exceeded); EMQX announces its ``max_inflight`` (32 by default).

    paho's own limit is lowered as the CONNACK is handled, before anything is sent on the
    new connection, so even a publish beyond our window (an alarm while the alarm
    connection is down) waits in paho instead of breaking the rule. Returns the dict that
    receives ``receive_maximum``; pinned by a canary test like ``PubackWaiter``.
    """
    paho: Any = client._client
    original_on_connect: Any = paho.on_connect
    announced: dict[str, int] = {}

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        value = getattr(properties, "ReceiveMaximum", None)
        if isinstance(value, int) and value > 0:  # 0 is a protocol error: keep the default
            announced["receive_maximum"] = value
            # the public setter refuses an open connection; both values are > 0, which is
            # the case paho's own comment says is safe
            c._max_inflight_messages = min(c._max_inflight_messages, value)
        original_on_connect(c, userdata, flags, reason, properties)

    paho.on_connect = on_connect
    return announced


#: how long a publish waits for its PUBACK before the connection is judged stuck
PUBACK_TIMEOUT_S = 10.0


class PubackWaiter:
    """QoS 1 publishes straight through paho: one future per message id, resolved with the
    PUBACK's MQTT 5 reason code and when it was read off the socket.

    aiomqtt's ``publish`` drops the reason code, and costs an Event, a ``wait_for`` task
    and a timer per message: about a fifth of the gateway's CPU at a ward's real rate, where
    every stream sends a message a second. Here a publish costs one future; one timer per
    connection fails the publishes that waited longer than ``timeout_s`` for their PUBACK,
    and a lost connection fails every waiting publish at once.

    Like ``_watch_connack`` it reaches into aiomqtt internals (its paho client and its
    ``_disconnected`` future); canary tests (tests/test_puback_waiter.py) fail if they change.
    """

    def __init__(self, client: aiomqtt.Client, timeout_s: float = PUBACK_TIMEOUT_S) -> None:
        self._client = client
        self._paho: Any = client._client
        self.timeout_s = timeout_s
        #: message id -> (its future, when the publish was handed to paho)
        self._waiting: dict[int, tuple[asyncio.Future[tuple[Any, int]], float]] = {}
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        original_on_publish: Any = self._paho.on_publish

        def on_publish(c: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
            acked = (reason, time.monotonic_ns())  # when the PUBACK was read
            # a PUBACK is read by the loop, never inside paho.publish (QoS 1), so its
            # future is always registered by now; other mids are aiomqtt's own publishes
            waiting = self._waiting.pop(mid, None)
            if waiting is not None and not waiting[0].done():
                waiting[0].set_result(acked)
            original_on_publish(c, userdata, mid, reason, properties)

        self._paho.on_publish = on_publish
        disconnected: asyncio.Future[None] = client._disconnected
        disconnected.add_done_callback(self._connection_lost)

    @property
    def waiting(self) -> int:
        """Publishes handed to paho and not yet acknowledged."""
        return len(self._waiting)

    async def publish(
        self, topic: str, payload: bytes, retain: bool, properties: Any
    ) -> tuple[Any, int]:
        """Publish with QoS 1; return (reason code, ``time.monotonic_ns()`` of the PUBACK)."""
        disconnected: asyncio.Future[None] = self._client._disconnected
        if disconnected.done():
            raise UplinkError("publish on a lost connection")
        info = self._paho.publish(topic, payload, 1, retain, properties)
        if info.rc != 0:  # paho's MQTT_ERR_SUCCESS
            raise UplinkError(f"publish to {topic} failed: paho error code {info.rc}")
        mid: int = info.mid
        waiter: asyncio.Future[tuple[Any, int]] = self._loop.create_future()
        self._waiting[mid] = (waiter, self._loop.time())
        if self._timer is None:
            self._timer = self._loop.call_later(self.timeout_s / 4, self._expire)
        try:
            return await waiter
        finally:
            self._waiting.pop(mid, None)

    def _expire(self) -> None:
        """Fail the publishes older than ``timeout_s``; look again while any wait."""
        self._timer = None
        oldest = self._loop.time() - self.timeout_s
        for waiter, sent in list(self._waiting.values()):
            if sent <= oldest and not waiter.done():
                waiter.set_exception(
                    UplinkError(f"no PUBACK within {self.timeout_s:g} s: the broker is stuck")
                )
        if self._waiting:
            self._timer = self._loop.call_later(self.timeout_s / 4, self._expire)

    def _connection_lost(self, disconnected: asyncio.Future[None]) -> None:
        cause = None if disconnected.cancelled() else disconnected.exception()
        self.close(UplinkError(f"connection lost before PUBACK ({cause or 'closed'})"))

    def close(self, error: UplinkError | None = None) -> None:
        """Stop the timer; fail what still waits (the connection is going away)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, {}
        for waiter, _ in waiting.values():
            if not waiter.done():
                waiter.set_exception(error or UplinkError("connection closed before PUBACK"))
