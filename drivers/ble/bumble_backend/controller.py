"""bumble's emulated controller with two HCI commands done as the Core spec says.

bumble 0.0.236's ``Controller``:

* acknowledges *LE Create Connection Cancel* but keeps the pending connection and never
  sends the LE Connection Complete event (status 0x02, Unknown Connection Identifier) that
  Vol 4, Part E, 7.8.13 requires. ``Device.connect`` then waits forever after its own
  timeout, and every later connect fails with Command Disallowed;
* answers *Disconnect* for a handle it no longer knows (the link just timed out) with a
  pending Command Status and then nothing, so ``Connection.disconnect`` never returns;
  7.1.6 requires status 0x02 (Unknown Connection Identifier).

This subclass fixes both.
"""

from __future__ import annotations

import asyncio

from bumble import hci
from bumble.controller import Controller


class CancellableController(Controller):
    """An emulated controller whose connection attempts can be cancelled (see module)."""

    def on_hci_disconnect_command(self, command: hci.HCI_Disconnect_Command) -> None:
        handle = command.connection_handle
        if self.find_connection_by_handle(handle) is None and not any(
            link.handle == handle for link in self.sco_links.values()
        ):
            self._send_hci_command_status(
                hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR, command.op_code
            )
            return None
        return super().on_hci_disconnect_command(command)

    def on_hci_le_create_connection_cancel_command(
        self, _command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        # After the Command Complete this handler's return value becomes (spec order).
        event = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
            connection_handle=0,
            role=hci.Role.CENTRAL,
            peer_address_type=pending.peer_address_type,
            peer_address=pending.peer_address,
            connection_interval=0,
            peripheral_latency=0,
            supervision_timeout=0,
            central_clock_accuracy=0,
        )
        asyncio.get_running_loop().call_soon(self.send_hci_packet, event)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)
