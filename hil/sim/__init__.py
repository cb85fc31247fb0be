"""Device simulators that speak real protocols on pseudo-terminals (or real serial ports)."""
