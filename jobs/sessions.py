"""Session reminders: "<title> is starting" for everyone who joined a scheduled session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.keys import SESSION_REMINDED
from domain.notifications.service import notify
from jobs.retry import task

LEAD = timedelta(minutes=10)  # how long before `scheduled_at` the reminder goes out


@task
async def session_reminders(ctx: dict[str, Any], now_iso: str | None = None) -> int:
    """Cron: queue one reminder job per scheduled session starting within the next minutes."""
    now = datetime.fromisoformat(now_iso) if now_iso else datetime.now(UTC)
    rows = await ctx["db"].pool.fetch(
        "SELECT id, scheduled_at FROM reading_sessions WHERE status = 'scheduled'"
        " AND scheduled_at > $1 AND scheduled_at <= $2", now - timedelta(minutes=1), now + LEAD)
    queued = 0
    for r in rows:
        stamp = int(r["scheduled_at"].timestamp())
        if await ctx["redis"].enqueue_job("remind_session", int(r["id"]),
                                          _job_id=f"remind:{r['id']}:{stamp}"):
            queued += 1
    return queued


@task
async def remind_session(ctx: dict[str, Any], session_id: int) -> int:
    """Notify each participant (not kicked, not the host) once per session."""
    db = ctx["db"]
    session = await db.pool.fetchrow(
        "SELECT id, title, host_id, scheduled_at FROM reading_sessions WHERE id = $1"
        " AND status = 'scheduled'", session_id)
    if session is None:
        return 0
    rows = await db.pool.fetch(
        "SELECT p.user_id FROM session_participants p WHERE p.session_id = $1 AND NOT p.kicked"
        " AND p.user_id <> $2 AND NOT EXISTS (SELECT 1 FROM notifications n"
        "   WHERE n.recipient_id = p.user_id AND n.type = 'session_starting'"
        "   AND n.target_kind = 'session' AND n.target_id = $1::text)",
        session_id, session["host_id"])
    sent = 0
    for r in rows:
        # concurrent runs (cron + a retry): only the first claims each reader
        claim = f"{SESSION_REMINDED}{session_id}:{r['user_id']}"
        if not await ctx["redis"].set(claim, b"1", nx=True, ex=2 * 24 * 3600):
            continue
        nid = await notify(db, ctx["redis"], recipient_id=int(r["user_id"]),
                           type="session_starting", actor_id=int(session["host_id"]),
                           target_kind="session", target_id=session_id,
                           payload={"title": session["title"],
                                    "scheduled_at": session["scheduled_at"].isoformat()})
        sent += nid is not None
    return sent
