"""GE/Datex-Ohmeda S/5 Computer Interface (DRI records) over RS-232 (protocol id ``datex-s5``).

Port settings are fixed by the monitor: 19200 bit/s (CARESCAPE software >= 3 also 115200),
8 data bits, even parity, 1 stop bit, RTS/CTS handshake.
"""

from drivers.datex.decode import decode_frame
from drivers.datex.framing import Deframer, encode_frame
from drivers.datex.measurements import to_records
from drivers.datex.records import DatexDecoder, DatexRecord, parse_record

PROTOCOL_ID = "datex-s5"

__all__ = [
    "PROTOCOL_ID",
    "DatexDecoder",
    "DatexRecord",
    "Deframer",
    "decode_frame",
    "encode_frame",
    "parse_record",
    "to_records",
]
