"""Reading-life jobs: badges are awarded here, off the request path (idempotent)."""

from __future__ import annotations

from typing import Any

from domain.reading import gamification
from jobs.retry import task


@task
async def award_badges(ctx: dict[str, Any], user_id: int) -> int:
    """Grant the badges a reader now qualifies for (never twice; racing workers are safe)."""
    return len(await gamification.award(ctx["db"], ctx["redis"], user_id))
