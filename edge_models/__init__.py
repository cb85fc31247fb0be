"""EdgeTwin edge models: NumPy patient and device twins, early-warning scores and alarms."""
