"""bleak scanner backend on a :class:`~drivers.ble.bumble_backend.central.BumbleCentral`.

``BleakScanner(callback, service_uuids, backend=BumbleScannerBackend, bumble_central=c)``.
Each advertisement (and scan response) becomes a :class:`bleak.backends.scanner.
AdvertisementData`; the ``BLEDevice.details`` is the bumble advertisement, whose address
carries the address type the client backend needs.
"""

from __future__ import annotations

from typing import Any, Literal

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement

from drivers.ble.bumble_backend.central import BumbleCentral, bleak_address, bleak_uuid

_UUID_LISTS = {
    AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    AdvertisingData.Type.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
    AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
}
_SERVICE_DATA = {
    AdvertisingData.Type.SERVICE_DATA_16_BIT_UUID: 2,
    AdvertisingData.Type.SERVICE_DATA_32_BIT_UUID: 4,
    AdvertisingData.Type.SERVICE_DATA_128_BIT_UUID: 16,
}
_NAMES = (AdvertisingData.Type.COMPLETE_LOCAL_NAME, AdvertisingData.Type.SHORTENED_LOCAL_NAME)


def advertisement_data(advertisement: Advertisement) -> AdvertisementData:
    """bleak's view of one bumble advertisement (malformed structures are skipped)."""
    name: str | None = None
    manufacturer: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    services: list[str] = []
    tx_power: int | None = None
    for ad_type, raw in advertisement.data.ad_structures:
        data = bytes(raw)
        if ad_type in _UUID_LISTS:
            size = _UUID_LISTS[ad_type]
            for at in range(0, len(data) - size + 1, size):
                services.append(bleak_uuid(UUID.from_bytes(data[at : at + size])))
        elif ad_type in _SERVICE_DATA and len(data) >= _SERVICE_DATA[ad_type]:
            size = _SERVICE_DATA[ad_type]
            service_data[bleak_uuid(UUID.from_bytes(data[:size]))] = data[size:]
        elif ad_type in _NAMES:
            if name is None or ad_type == AdvertisingData.Type.COMPLETE_LOCAL_NAME:
                name = data.decode("utf-8", "replace")
        elif ad_type == AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA and len(data) >= 2:
            manufacturer[int.from_bytes(data[:2], "little")] = data[2:]
        elif ad_type == AdvertisingData.Type.TX_POWER_LEVEL and len(data) == 1:
            tx_power = int.from_bytes(data, "little", signed=True)
    return AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=services,
        tx_power=tx_power,
        rssi=int(advertisement.rssi),
        platform_data=(advertisement,),
    )


class BumbleScannerBackend(BaseBleakScanner):
    """Scanning through a shared bumble central (pass ``bumble_central=`` to BleakScanner)."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        *,
        bumble_central: BumbleCentral,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self.central = bumble_central
        self.active = scanning_mode == "active"
        self._remove: Any = None

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        adv = advertisement_data(advertisement)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        address = bleak_address(advertisement.address)
        previous = self.seen_devices.get(address)
        if previous is not None and adv.local_name is None:
            adv = adv._replace(local_name=previous[1].local_name)
        device = self.create_or_update_device(address, address, adv.local_name, advertisement, adv)
        self.call_detection_callbacks(device, adv)

    async def start(self) -> None:
        self.seen_devices = {}
        if self._remove is None:
            self._remove = self.central.add_listener(self._on_advertisement)
            await self.central.start_scanning(self.active)

    async def stop(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None
            await self.central.stop_scanning()
