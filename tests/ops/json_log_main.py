"""Run ``edgetwin`` with JSON logs: ``python json_log_main.py LEVEL ARGS...``.

Stands in for the ``--log-format json`` flag until the CLI has it: logging is set up first,
so the CLI's own ``basicConfig`` finds a handler and leaves it alone.
"""

from __future__ import annotations

import sys

from gateway.cli import main
from gateway.logging_json import setup_logging

if __name__ == "__main__":
    setup_logging(sys.argv[1], json=True)
    sys.exit(main(sys.argv[2:]))
