"""The WebSocket hub: protocol, connections, rooms, Redis fan-out, presence, history and recovery."""
