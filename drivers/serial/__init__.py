"""Serial transport shared by the bedside-monitor and oximeter drivers."""
