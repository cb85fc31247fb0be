"""Hardware-in-the-loop kit: simulators, emulators, scenarios, firmware and rigs."""
