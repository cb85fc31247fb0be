"""Masimo Radical-7 / Rad-8 ASCII serial output (protocol id ``masimo``)."""
