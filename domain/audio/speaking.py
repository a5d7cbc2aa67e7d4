"""Speaking time: seconds each speaker spent unmuted on a stage, per place (no audio kept)."""

from __future__ import annotations

from domain.db import Database

ADD_SQL = (
    "INSERT INTO stage_speaking (place, user_id, seconds)"
    " SELECT $1, u, s FROM unnest($2::bigint[], $3::int[]) AS t(u, s)"
    " WHERE EXISTS (SELECT 1 FROM users WHERE id = u)"
    " ON CONFLICT (place, user_id) DO UPDATE"
    " SET seconds = stage_speaking.seconds + EXCLUDED.seconds, updated_at = now()")
READ_SQL = "SELECT user_id, seconds FROM stage_speaking WHERE place = $1"


async def add(db: Database, place: str, spoken: dict[int, float]) -> None:
    """Add these speakers' seconds to the place's tally (whole seconds, rounded)."""
    rows = [(uid, round(secs)) for uid, secs in spoken.items() if secs >= 0.5]
    if not rows:
        return
    await db.pool.execute(ADD_SQL, place, [u for u, _ in rows], [s for _, s in rows])


async def tally(db: Database, place: str) -> dict[int, int]:
    """Seconds spoken per user on this place's stages so far."""
    return {int(r["user_id"]): int(r["seconds"]) for r in await db.pool.fetch(READ_SQL, place)}
