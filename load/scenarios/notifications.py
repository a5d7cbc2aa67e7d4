"""notifications: pending (stub until written)."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from load.stack import Stack

TITLE = "notifications (pending)"
DEFAULT_REPEATS = 1


def add_arguments(g: Any) -> None:
    pass


def quick(args: Namespace) -> None:
    pass


def params(args: Namespace) -> dict[str, Any]:
    return {}


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    return [{"title": TITLE, "status": "pending", "reason": "not written yet"}]
