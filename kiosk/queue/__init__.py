"""Durable outbox (SQLite WAL, encrypted at rest) and MQTT transport."""
