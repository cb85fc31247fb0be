"""Bluetooth LE side of the kit: spec-written encoders of health-profile values (and, later,
bumble-emulated peripherals that send them)."""
