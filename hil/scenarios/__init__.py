"""Declarative HIL scenarios shared by the emulators, the firmware and the bench runner.

:mod:`.loader` reads and validates ``library/<name>.toml``; :mod:`.engine` (portable, also
runs on the boards) turns a validated spec into values over time; :mod:`.drive_ble` and
:mod:`.drive_serial` make the existing emulators follow it.
"""
