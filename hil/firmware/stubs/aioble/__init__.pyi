# Project-owned minimal type stub for micropython-lib's aioble (peripheral + server parts),
# written from its documented API (README). ESP32 stub packages do not ship aioble.
from typing import Any

import bluetooth

class GattError(Exception): ...

class DeviceConnection:
    def is_connected(self) -> bool: ...
    async def disconnected(self, timeout_ms: int | None = ..., disconnect: bool = ...) -> None: ...
    async def disconnect(self, timeout_ms: int = ...) -> None: ...
    async def exchange_mtu(self, mtu: int | None = ..., timeout_ms: int = ...) -> int: ...
    async def __aenter__(self) -> DeviceConnection: ...
    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None: ...

class Service:
    uuid: bluetooth.UUID
    def __init__(self, uuid: bluetooth.UUID) -> None: ...

class BaseCharacteristic:
    def read(self) -> bytes: ...
    def write(self, data: bytes, send_update: bool = ...) -> None: ...
    async def written(self, timeout_ms: int | None = ...) -> Any: ...
    def on_read(self, connection: DeviceConnection) -> int: ...

class Characteristic(BaseCharacteristic):
    def __init__(
        self,
        service: Service,
        uuid: bluetooth.UUID,
        read: bool = ...,
        write: bool = ...,
        write_no_response: bool = ...,
        notify: bool = ...,
        indicate: bool = ...,
        initial: bytes | None = ...,
        capture: bool = ...,
    ) -> None: ...
    def notify(self, connection: DeviceConnection, data: bytes | None = ...) -> None: ...
    async def indicate(
        self, connection: DeviceConnection, data: bytes | None = ..., timeout_ms: int = ...
    ) -> None: ...

class BufferedCharacteristic(Characteristic):
    def __init__(
        self, service: Service, uuid: bluetooth.UUID, max_len: int = ..., append: bool = ...
    ) -> None: ...

class Descriptor(BaseCharacteristic):
    def __init__(
        self,
        characteristic: Characteristic,
        uuid: bluetooth.UUID,
        read: bool = ...,
        write: bool = ...,
        initial: bytes | None = ...,
    ) -> None: ...

def register_services(*services: Service) -> None: ...
async def advertise(
    interval_us: int,
    adv_data: bytes | None = ...,
    resp_data: bytes | None = ...,
    connectable: bool = ...,
    limited_disc: bool = ...,
    br_edr: bool = ...,
    name: str | None = ...,
    services: list[bluetooth.UUID] | None = ...,
    appearance: int = ...,
    manufacturer: tuple[int, bytes] | None = ...,
    timeout_ms: int | None = ...,
) -> DeviceConnection: ...
def stop() -> None: ...
