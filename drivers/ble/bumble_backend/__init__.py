"""A bleak backend built on Google's bumble: the same bleak code runs on an emulated link.

``BleakScanner(..., backend=BumbleScannerBackend, bumble_central=central)`` and
``BleakClient(..., backend=BumbleClientBackend, bumble_central=central)`` where ``central``
is a :class:`BumbleCentral` on an in-process bumble link (tests, benchmarks) or on a real
controller opened with a bumble transport string (``usb:0``). bumble is imported only here,
so gateways that use BlueZ never load it.
"""

from drivers.ble.bumble_backend.central import BumbleCentral, bleak_address, bleak_uuid
from drivers.ble.bumble_backend.client import BumbleClientBackend
from drivers.ble.bumble_backend.controller import CancellableController
from drivers.ble.bumble_backend.scanner import BumbleScannerBackend, advertisement_data

__all__ = [
    "BumbleCentral",
    "BumbleClientBackend",
    "BumbleScannerBackend",
    "CancellableController",
    "advertisement_data",
    "bleak_address",
    "bleak_uuid",
]
