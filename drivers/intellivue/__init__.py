"""Philips IntelliVue Data Export protocol over the MIB/RS232 port (protocol id ``intellivue``).

Layers, each a pure module with no I/O and no clock:

* :mod:`.framing`: BOF/EOF framing, 0x7D escaping, CRC-16/X.25 FCS, streaming deframer.
* :mod:`.floats`: the 32-bit IntelliVue FLOAT with its special values.
* :mod:`.apdu`: remote operations (ROIV/RORS/RORLS/ROER), MDS Create event, poll
  requests and (linked) poll results; :func:`.apdu.parse_apdu` is the entry point.
* :mod:`.association`: session PDUs (CN/AC/RF/FN/DN/AB) and the user information.
* :mod:`.attributes`: attribute values and the numeric, wave and alert observations.
* :mod:`.reader`: the bounds-checked byte reader behind every decoder.
* :mod:`.requests`: host-side messages (association, MDS Create result, polls, release).
* :mod:`.nomenclature`: physiological ids to MDC codes, unit codes to UCUM.
* :mod:`.measurements`: observations to :class:`gateway.model.Measurement` and
  :class:`gateway.model.WaveformChunk`, anchored to the monitor's clock.
* :mod:`.decode`: one frame to a JSON-able summary (for tooling).
"""

PROTOCOL_ID = "intellivue"
