"""Housekeeping (hourly cron): old failed-job records, long-read notifications and long-expired
refresh tokens are deleted."""

from __future__ import annotations

from typing import Any

from domain.accounts import refresh
from jobs.retry import task

FAILED_JOBS_DAYS = 30
READ_NOTIFICATIONS_DAYS = 90


@task
async def housekeeping(ctx: dict[str, Any]) -> dict[str, int]:
    """Delete failed-job records older than 30 days, notifications read over 90 days ago and
    refresh tokens expired for over a day."""
    db = ctx["db"]
    jobs = await db.pool.execute(
        "DELETE FROM failed_jobs WHERE failed_at < now() - make_interval(days => $1)",
        FAILED_JOBS_DAYS)
    notes = await db.pool.execute(
        "DELETE FROM notifications WHERE read_at < now() - make_interval(days => $1)",
        READ_NOTIFICATIONS_DAYS)
    tokens = await refresh.prune(db.pool)
    return {"failed_jobs": int(jobs.split()[-1]), "notifications": int(notes.split()[-1]),
            "refresh_tokens": tokens}
