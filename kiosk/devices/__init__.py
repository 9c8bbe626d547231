"""Device interfaces with real adapters and simulators: camera, scanner, ID reader, receipt printer."""
