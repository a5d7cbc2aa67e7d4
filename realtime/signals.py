"""SIGTERM/SIGINT: tell the hub first (it closes sockets with 4012), then the handler before it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Any


def hook_stop_signals(on_stop: Callable[[], None]) -> list[tuple[int, Any]]:
    """Chain `on_stop` (run in the loop) before the installed SIGTERM/SIGINT handlers, so the
    hub closes its clients before uvicorn's own shutdown sends 1012; what to restore."""
    loop = asyncio.get_running_loop()
    hooked: list[tuple[int, Any]] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            prev = signal.getsignal(sig)
        except ValueError:
            continue
        if not callable(prev):
            continue

        def handler(signum: int, frame: Any, prev: Any = prev) -> None:
            loop.call_soon_threadsafe(on_stop)
            prev(signum, frame)

        try:
            signal.signal(sig, handler)
            hooked.append((sig, prev))
        except ValueError:  # not the main thread
            break
    return hooked


def restore_signals(hooked: list[tuple[int, Any]]) -> None:
    for sig, prev in hooked:
        with contextlib.suppress(Exception):
            signal.signal(sig, prev)
