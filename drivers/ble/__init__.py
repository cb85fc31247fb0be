"""Bluetooth SIG health profiles: pure (sans-IO) parsers of GATT characteristic values.

One module per profile family (heart_rate, plx, blood_pressure, thermometer, weight,
glucose, cgm, battery, device_info, racp, date_time), each with ``parse_*`` functions that
take the characteristic value and return frozen dataclasses, and a ``to_measurements``
that maps numeric fields to :class:`gateway.model.Measurement`. :mod:`drivers.ble.decode`
decodes any supported characteristic to a JSON-able dict; :mod:`drivers.ble.measurements`
dispatches ``to_measurements`` on the parsed type.

Every malformed value raises a :class:`gateway.errors.ParseError` subclass naming the
characteristic (``"0x2A37 Heart Rate Measurement"``), the offset and the bytes:
FramingError (too short / trailing bytes / sizes that disagree), FieldError (reserved or
out-of-range values) or ChecksumError (CGM E2E-CRC).
"""
