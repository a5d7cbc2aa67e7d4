"""Plugins that hang extra parts (the realtime hub, the worker's queue) on an app instance."""

from __future__ import annotations

from typing import Any

from server.state import Services


def plugins_for(services: Services) -> list[Any]:
    """Litestar plugins for this app; each may register startup/shutdown hooks on `services`."""
    return []
