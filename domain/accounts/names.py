"""Display names for many users at once (the hub resolves them at WebSocket auth)."""

from __future__ import annotations

from collections.abc import Iterable

from domain.db import Database

MAX_IDS = 1000  # one query never asks for more (callers batch)


async def display_names(db: Database, user_ids: Iterable[int]) -> dict[int, str]:
    """{user id: display name} for the given ids, in one query; unknown ids are left out."""
    ids = sorted({int(u) for u in user_ids})[:MAX_IDS]
    if not ids:
        return {}
    rows = await db.pool.fetch("SELECT id, display_name FROM users WHERE id = ANY($1::bigint[])",
                               ids)
    return {int(r["id"]): str(r["display_name"]) for r in rows}
