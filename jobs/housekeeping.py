"""Housekeeping: old failed-job records and long-read notifications are deleted (hourly cron)."""

from __future__ import annotations

from typing import Any

from jobs.retry import task

FAILED_JOBS_DAYS = 30
READ_NOTIFICATIONS_DAYS = 90


@task
async def housekeeping(ctx: dict[str, Any]) -> dict[str, int]:
    """Delete failed-job records older than 30 days and notifications read over 90 days ago."""
    db = ctx["db"]
    jobs = await db.pool.execute(
        "DELETE FROM failed_jobs WHERE failed_at < now() - make_interval(days => $1)",
        FAILED_JOBS_DAYS)
    notes = await db.pool.execute(
        "DELETE FROM notifications WHERE read_at < now() - make_interval(days => $1)",
        READ_NOTIFICATIONS_DAYS)
    return {"failed_jobs": int(jobs.split()[-1]), "notifications": int(notes.split()[-1])}
