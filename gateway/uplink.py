"""Our uplink interface and its MQTT 5 implementation (aiomqtt 2.x, kept behind it).

Nothing outside this module imports aiomqtt, so moving to another aiomqtt line (or another
client) touches one file. ``publish`` returns only after the broker's PUBACK (QoS 1).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import ssl
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Protocol, Self

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway import envelope
from gateway.config import MqttConfig
from gateway.errors import BrokerUnavailableError, PublishRefusedError, UplinkError
from gateway.payload import content_type

#: paho message ids of the publishes made by the current task (see ``_watch_pubacks``).
_MIDS: contextvars.ContextVar[list[int]] = contextvars.ContextVar("edgetwin_mids")


class Uplink(Protocol):
    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None: ...

    async def subscribe(self, topic: str) -> None: ...

    def messages(self) -> AsyncIterator[tuple[str, bytes]]: ...


class MqttUplink:
    """One MQTT 5 connection: persistent session, retained birth and will, QoS 1."""

    def __init__(self, cfg: MqttConfig, gateway_id: str, site: str) -> None:
        self.cfg = cfg
        self.gateway_id = gateway_id
        self.site = site
        self._client: aiomqtt.Client | None = None
        self._status_topic = envelope.status_topic(site, gateway_id)

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

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.cfg.tls:
            return None
        context = ssl.create_default_context(cafile=self.cfg.ca_file)
        if self.cfg.cert_file and self.cfg.key_file:
            context.load_cert_chain(self.cfg.cert_file, self.cfg.key_file)
        return context

    async def __aenter__(self) -> Self:
        will = aiomqtt.Will(self._status_topic, self._status("offline"), qos=1, retain=True)
        client = aiomqtt.Client(
            self.cfg.host,
            self.cfg.port,
            username=self.cfg.username,
            password=self.cfg.password,
            identifier=self.cfg.client_id or f"edgetwin-{self.gateway_id}",
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=self._connect_properties(),
            will=will,
            keepalive=self.cfg.keepalive_s,
            timeout=10,
            max_inflight_messages=self.cfg.inflight_window,
            tls_context=self._tls_context(),
        )
        # Our window bounds concurrent publishes; aiomqtt would warn above 10.
        client.pending_calls_threshold = self.cfg.inflight_window + 1
        try:
            await client.__aenter__()
        except aiomqtt.MqttError as exc:
            raise BrokerUnavailableError(
                f"cannot connect to MQTT broker {self.cfg.host}:{self.cfg.port}: {exc}"
            ) from exc
        self._client = client
        self._reasons: dict[int, Any] = {}
        _watch_pubacks(client, self._reasons)
        await self.publish(self._status_topic, self._status("online"), retain=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is None:
            return
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

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        if self._client is None:
            raise UplinkError("publish on a closed uplink")
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ContentType, props.PayloadFormatIndicator = content_type(payload)
        mids: list[int] = []
        token = _MIDS.set(mids)
        try:
            await self._client.publish(topic, payload, qos=1, retain=retain, properties=props)
        except aiomqtt.MqttError as exc:
            raise UplinkError(f"publish to {topic} failed: {exc}") from exc
        finally:
            _MIDS.reset(token)
        reason = self._reasons.pop(mids[0], None) if mids else None
        if reason is not None and getattr(reason, "is_failure", False):
            # MQTT 5: a PUBACK can refuse the message (e.g. 0x87 not authorised by the ACL).
            # Treating it as delivered would lose data, so the row stays in the outbox.
            raise PublishRefusedError(
                f"broker refused publish to {topic}: {reason} (reason code {reason.value}); "
                "check the broker ACL for this gateway's topic prefix"
            )

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
        try:
            async for message in self._client.messages:
                payload = message.payload
                if isinstance(payload, bytes | bytearray):
                    yield str(message.topic), bytes(payload)
        except aiomqtt.MqttError as exc:
            raise UplinkError(f"receiving messages failed: {exc}") from exc


def _watch_pubacks(client: aiomqtt.Client, reasons: dict[int, Any]) -> None:
    """Record the MQTT 5 reason code of every PUBACK (aiomqtt 2.x drops it).

    This is the one place that reaches into aiomqtt internals (its paho client); a canary
    test (tests/test_uplink_canary.py) fails if the internals it relies on change.
    """
    paho: Any = client._client
    original_on_publish: Any = paho.on_publish
    original_publish: Any = paho.publish

    def on_publish(c: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        reasons[mid] = reason
        original_on_publish(c, userdata, mid, reason, properties)

    def publish(*args: Any, **kwargs: Any) -> Any:
        info = original_publish(*args, **kwargs)
        mids = _MIDS.get(None)
        if mids is not None:
            mids.append(info.mid)
        return info

    paho.on_publish = on_publish
    paho.publish = publish
