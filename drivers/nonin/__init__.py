"""Nonin OEM pulse oximeters, serial data formats 7 and 8 (protocol id ``nonin``)."""

from drivers.nonin.codec import Format7Decoder, Format8Decoder, Packet7, Record8
from drivers.nonin.decode import decode_frame
from drivers.nonin.measurements import to_records

PROTOCOL_ID = "nonin"

__all__ = [
    "PROTOCOL_ID",
    "Format7Decoder",
    "Format8Decoder",
    "Packet7",
    "Record8",
    "decode_frame",
    "to_records",
]
