"""Fleet management: telemetry, remote config, signed updates."""
