"""Interop jobs: imports (run, resumed by a sweep every minute and at worker start-up), JSON
exports, and account deletions when their grace period is over."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from domain.interop import deletion, export, imports
from domain.ops.metrics import record_transfer_rows
from domain.reading import leaderboards
from domain.reading.leaderboards import Score
from jobs.retry import is_transient, task
from realtime.rooms.base import RoomEvent

log = logging.getLogger("readalong.interop")
IMPORT_JOB = "run_import"
IMPORT_TIMEOUT = 3600  # seconds; a long file is also resumable, so a timeout only delays it


@task
async def run_import(ctx: dict[str, Any], import_id: int) -> str:
    """Run or continue one import, pushing `import_progress` on `user:<id>` at most every
    second (and at the start and the end)."""
    publisher, redis = ctx["publisher"], ctx["redis"]
    seen = {"done": -1}

    async def progress(user_id: int, data: dict[str, Any]) -> None:
        done = int(data.get("done") or 0)
        if seen["done"] >= 0:  # the first report is where this run starts (a resumed file)
            record_transfer_rows("import", done - seen["done"])
        seen["done"] = max(seen["done"], done)
        try:
            await publisher.publish(f"user:{user_id}", RoomEvent(
                "import_progress", data, target_user_ids=[user_id]))
        except Exception:  # live progress is best effort; REST has the same figures
            log.warning("import progress push failed", exc_info=True)

    async def synced(scores: list[Score]) -> None:
        try:
            await leaderboards.sync(redis, scores)
        except Exception:  # Redis boards are rebuilt from PostgreSQL when lost
            log.warning("leaderboard sync after an import batch failed", exc_info=True)

    try:
        return await imports.run(ctx["db"], import_id, progress, synced)
    except Exception as exc:
        if not is_transient(exc):  # for good: say so instead of sweeping it forever
            await imports.fail(ctx["db"], import_id, f"the import failed: {exc!r}"[:500])
        raise


@task
async def import_sweep(ctx: dict[str, Any]) -> int:
    """Enqueue every queued or interrupted import (a running one answers 'busy' at once)."""
    ids = await imports.pending_ids(ctx["db"])
    for import_id in ids:
        await ctx["redis"].enqueue_job(IMPORT_JOB, import_id)
    return len(ids)


@task
async def build_export(ctx: dict[str, Any], export_id: int) -> bool:
    """Build one JSON export (idempotent: a ready one is left alone)."""
    async with ctx["db"].pool.acquire() as conn:
        return await export.produce(conn, export_id)


@task
async def erase_account(ctx: dict[str, Any], user_id: int) -> bool:
    """Delete one account whose grace period is over (idempotent)."""
    settings = ctx["settings"]
    return await deletion.erase(ctx["db"], ctx["redis"], user_id,
                                token_ttl=settings.access_token_ttl)


@task
async def data_rights_sweep(ctx: dict[str, Any]) -> int:
    """Every minute: enqueue the deletions that are due, drop expired exports."""
    db = ctx["db"]
    await db.pool.execute("DELETE FROM data_exports WHERE expires_at < now()")
    due = await deletion.due(db, datetime.now(UTC))
    for user_id in due:
        await ctx["redis"].enqueue_job("erase_account", user_id)  # idempotent; no id naming them
    return len(due)
