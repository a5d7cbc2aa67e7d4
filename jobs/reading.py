"""Reading-life jobs: badges are awarded here, off the request path (idempotent)."""

from __future__ import annotations

from typing import Any

from domain.reading import badge_queue, gamification
from jobs.retry import task


@task
async def award_badges(ctx: dict[str, Any], user_id: int) -> int:
    """Grant the badges a reader now qualifies for (never twice; racing workers are safe)."""
    return len(await gamification.award(ctx["db"], ctx["redis"], user_id))


@task
async def award_badges_due(ctx: dict[str, Any]) -> int:
    """Grant the badges of every reader marked due (`domain.reading.badge_queue`), in slices
    of one set-based query each; how many readers were checked."""
    db, redis = ctx["db"], ctx["redis"]

    async def check(user_ids: list[int]) -> None:
        await gamification.award_many(db, redis, user_ids)
    return await badge_queue.take_due(redis, check)
