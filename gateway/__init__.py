"""EdgeTwin gateway runtime: supervisor, pipeline, SQLite buffer, MQTT uplink and CLI."""

__version__ = "0.1.0"
