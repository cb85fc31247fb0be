"""Import the firmware as a board does: flat top-level modules.

``hil/firmware`` goes on ``sys.path`` (``import fw_gatt``), and ``engine`` is the very
module the gateway imports as ``hil.scenarios.engine`` (the file copied onto the board).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hil.scenarios.engine as _engine

_FIRMWARE = Path(__file__).resolve().parents[2] / "hil" / "firmware"
if str(_FIRMWARE) not in sys.path:
    sys.path.insert(0, str(_FIRMWARE))
sys.modules.setdefault("engine", _engine)
