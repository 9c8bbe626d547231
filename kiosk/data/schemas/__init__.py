"""JSON Schemas of the wire protocol v1 (docs/protocol.md); loaded by kiosk.queue.protocol."""
