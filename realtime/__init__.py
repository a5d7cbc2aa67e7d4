"""The WebSocket hub: protocol, connections, rooms, Redis fan-out, presence, history, recovery."""
