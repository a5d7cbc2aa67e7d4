"""Failed background jobs: recorded by the worker when a job runs out of tries, listed by admins."""

from __future__ import annotations

import json
from datetime import datetime

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.errors import Conflict, Invalid, NotFound
from domain.jobqueue import enqueue


class FailedJob(msgspec.Struct, frozen=True):
    id: int
    job_id: str
    function: str
    args: str
    tries: int
    error: str
    failed_at: datetime


class FailedJobPage(msgspec.Struct, frozen=True):
    items: list[FailedJob]
    next_cursor: str | None = None


async def record_failure(db: Database, *, job_id: str, function: str, args: str, tries: int,
                         error: str) -> None:
    await db.pool.execute(
        "INSERT INTO failed_jobs (job_id, function, args, tries, error) VALUES ($1,$2,$3,$4,$5)",
        job_id[:200], function[:100], args[:2000], tries, error[:4000])


class Retried(msgspec.Struct, frozen=True):
    id: int
    job_id: str
    queued: bool


async def retry_failure(db: Database, redis: Redis, failure_id: int) -> Retried:
    """Queue the failed job again with its arguments (a fresh job id) and drop the record; if
    it fails again it is recorded again."""
    row = await db.pool.fetchrow("SELECT function, args FROM failed_jobs WHERE id = $1",
                                 failure_id)
    if row is None:
        raise NotFound("no such failed job", code="failed_job_not_found")
    refused = Conflict("this failure's arguments cannot be replayed", code="not_replayable")
    try:
        args = json.loads(row["args"]) if row["args"] else []
    except ValueError as exc:
        raise refused from exc
    if not isinstance(args, list):
        raise refused
    job_id = f"retry:{failure_id}"
    queued = await enqueue(redis, row["function"], *args, job_id=job_id)
    await db.pool.execute("DELETE FROM failed_jobs WHERE id = $1", failure_id)
    return Retried(id=failure_id, job_id=job_id, queued=queued)


async def list_failures(db: Database, *, cursor: str | None = None, limit: int = 50,
                        function: str | None = None) -> FailedJobPage:
    """Newest first; `cursor` is the id of the last row of the previous page."""
    if not 1 <= limit <= 200:
        raise Invalid("limit must be between 1 and 200", code="invalid_limit", field="limit")
    try:
        before = int(cursor) if cursor else None
    except ValueError as exc:
        raise Invalid("cursor is not one this server handed out", code="invalid_cursor",
                      field="cursor") from exc
    rows = await db.pool.fetch(
        "SELECT id, job_id, function, args, tries, error, failed_at FROM failed_jobs"
        " WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR function = $2)"
        " ORDER BY id DESC LIMIT $3", before, function, limit + 1)
    items = [FailedJob(**dict(r)) for r in rows[:limit]]
    nxt = str(items[-1].id) if len(rows) > limit else None
    return FailedJobPage(items=items, next_cursor=nxt)
