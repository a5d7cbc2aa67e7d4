"""The hub of one node by its historical import path: `realtime.hub.Hub` is `realtime.node.Hub`."""

from __future__ import annotations

from realtime.node import Hub

__all__ = ["Hub"]
