"""Philips IntelliVue monitor side (MIB/RS232 Data Export), for simulators and tests."""
