"""The emulated radio: bumble's in-process link with range, supervision timeout and stacks.

:class:`Air` is a ``bumble.link.LocalLink`` where a controller can walk out of range. While
it is out, its advertisements are not heard and link-layer traffic to or from it is held
(a real link layer keeps retransmitting). If it walks back within the supervision timeout,
the held traffic is delivered in order and the connection survives; otherwise both ends
get a Disconnection Complete with reason 0x08 (Connection Timeout), as after a real
supervision timeout, and the held traffic is dropped. ``LocalLink.remove_controller`` is
not enough for this: a removed controller keeps sending advertisements.

:func:`new_device` builds a bumble ``Device`` on this air (static random address, the
cancel-safe controller) inside the running loop; :func:`open_device` builds one on a
real controller from a bumble transport string (``usb:0``) for the HIL bench.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bumble import core, hci, ll
from bumble.controller import Connection, Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from drivers.ble.bumble_backend import CancellableController

log = logging.getLogger(__name__)

CONNECTION_TIMEOUT = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR  # 0x08


@dataclass
class _Outage:
    """One controller out of range: what it would have sent or received, in order."""

    held: list[tuple[Controller, bytes | None, Callable[[], None]]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class Air(LocalLink):
    """An in-process link with radio range (see module docstring)."""

    def __init__(self, supervision_timeout_s: float = 0.5) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.supervision_timeout_s = supervision_timeout_s
        self._outages: dict[Controller, _Outage] = {}
        self.timeouts = 0  # connections ended by a supervision timeout
        self.dropped_pdus = 0
        #: Called with (sender controller, L2CAP PDU) for each ACL PDU a timeout dropped.
        self.drop_listeners: list[Callable[[Controller, bytes], None]] = []
        #: Called with (controller, L2CAP PDU fragment) for each ACL packet a controller
        #: accepted from its host on a live connection.
        self.emit_listeners: list[Callable[[Controller, bytes], None]] = []
        #: Called with (sender, receiver, L2CAP PDU) as each ACL PDU enters the air, before
        #: range is checked: a test can make a device leave range at an exact PDU.
        self.taps: list[Callable[[Controller, Controller, bytes], None]] = []

    # --- range control --------------------------------------------------------------------

    def in_range(self, controller: Controller) -> bool:
        return controller not in self._outages

    def walk_out_of_range(self, controller: Controller) -> None:
        if controller in self._outages:
            return
        outage = _Outage()
        self._outages[controller] = outage
        loop = asyncio.get_running_loop()
        outage.timer = loop.call_later(
            self.supervision_timeout_s, self._supervision_timeout, controller
        )

    def walk_back_in_range(self, controller: Controller) -> None:
        outage = self._outages.pop(controller, None)
        if outage is None:
            return
        if outage.timer is not None:
            outage.timer.cancel()
        loop = asyncio.get_running_loop()
        for _sender, _pdu, deliver in outage.held:
            loop.call_soon(deliver)

    def _supervision_timeout(self, controller: Controller) -> None:
        outage = self._outages.get(controller)
        if outage is None:
            return
        outage.timer = None
        self.dropped_pdus += len(outage.held)
        for sender, pdu, _deliver in outage.held:
            if pdu is not None:
                for listener in self.drop_listeners:
                    listener(sender, pdu)
        outage.held.clear()
        for connection, peer in self._connections_of(controller):
            self.timeouts += 1
            controller.on_le_disconnected(connection, CONNECTION_TIMEOUT)
            if peer is not None:
                peer_connection = peer.le_connections.get(connection.self_address)
                if peer_connection is not None:
                    peer.on_le_disconnected(peer_connection, CONNECTION_TIMEOUT)
        # Connections whose other end is this controller but that it already forgot.
        for other in list(self.controllers):
            if other is controller:
                continue
            for peer_address, connection in list(other.le_connections.items()):
                if self._owner(peer_address) is controller:
                    other.on_le_disconnected(connection, CONNECTION_TIMEOUT)

    def _owner(self, address: hci.Address) -> Controller | None:
        for c in self.controllers:
            if c.random_address == address or c.public_address == address:
                return c
        return None

    def _connections_of(self, controller: Controller) -> list[tuple[Connection, Controller | None]]:
        return [
            (connection, self._owner(peer_address))
            for peer_address, connection in list(controller.le_connections.items())
        ]

    def _hold_or_run(
        self,
        a: Controller | None,
        b: Controller | None,
        deliver: Callable[[], None],
        pdu: bytes | None = None,
    ) -> None:
        """Deliver soon, or hold while ``a`` (the sender) or ``b`` is out of range."""
        for side in (a, b):
            if side is not None and side in self._outages:
                sender = a if a is not None else side
                self._outages[side].held.append((sender, pdu, deliver))
                return
        asyncio.get_running_loop().call_soon(deliver)

    # --- LocalLink hooks ------------------------------------------------------------------

    def send_advertising_pdu(
        self, sender_controller: Controller, packet: ll.AdvertisingPdu
    ) -> None:
        if sender_controller in self._outages and not isinstance(packet, ll.ConnectInd):
            return
        loop = asyncio.get_running_loop()
        for c in list(self.controllers):
            if c is not sender_controller and c not in self._outages:
                loop.call_soon(c.on_ll_advertising_pdu, packet)

    def send_acl_data(
        self,
        sender_controller: Controller,
        destination_address: hci.Address,
        transport: core.PhysicalTransport,
        data: bytes,
    ) -> None:
        destination = self.find_le_controller(destination_address)
        if destination is None:
            return
        source_address = sender_controller.random_address
        for tap in self.taps:
            tap(sender_controller, destination, bytes(data))

        def deliver() -> None:
            destination.on_link_acl_data(source_address, transport, data)

        self._hold_or_run(sender_controller, destination, deliver, bytes(data))

    def send_ll_control_pdu(
        self, sender_address: hci.Address, receiver_address: hci.Address, packet: ll.ControlPdu
    ) -> None:
        receiver = self.find_le_controller(receiver_address)
        if receiver is None:
            return

        def deliver() -> None:
            if sender_address in receiver.le_connections:
                receiver.on_ll_control_pdu(sender_address, packet)

        self._hold_or_run(self._owner(sender_address), receiver, deliver)


class AirController(CancellableController):
    """A controller on an :class:`Air` that reports data its host sent on a dead link.

    A host may send on a connection its controller already closed (the Disconnection
    Complete event is still on its way up); the controller drops that data, as a real one
    does, and the air's drop listeners hear of it.
    """

    def __init__(self, name: str, air: Air) -> None:
        super().__init__(name, link=air)
        self.air = air

    def on_hci_acl_data_packet(self, packet: hci.HCI_AclDataPacket) -> None:
        if self.find_connection_by_handle(packet.connection_handle) is None:
            self.air.dropped_pdus += 1
            for listener in self.air.drop_listeners:
                listener(self, bytes(packet.data))
            return
        for emitted in self.air.emit_listeners:
            emitted(self, bytes(packet.data))
        super().on_hci_acl_data_packet(packet)


async def new_device(air: Air, address: str, name: str) -> tuple[Device, Controller]:
    """A bumble Device (static random ``address``) on ``air``; call inside the running loop."""
    controller = AirController(name, air)
    host = Host(controller, AsyncPipeSink(controller))
    device = Device(name=name, address=hci.Address(address), host=host)
    await device.power_on()
    return device, controller


async def open_device(transport: str, address: str, name: str) -> tuple[Device, object]:
    """A bumble Device on a real controller (``usb:0``, ``serial:/dev/ttyACM0``, ...).

    Returns the device and the opened transport (close it when done).
    """
    from bumble.transport import open_transport

    opened = await open_transport(transport)
    device = Device.with_hci(name, hci.Address(address), opened.source, opened.sink)
    await device.power_on()
    return device, opened
