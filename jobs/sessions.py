"""Session jobs: "<title> is starting" for joined and invited readers, the schedule that
starts due sessions, and the idle end of sessions everyone left (announcing `status`)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.keys import SESSION_REMINDED
from domain.notifications.service import notify
from domain.reading import coreading, leaderboards
from domain.sessions import due, social
from domain.sessions.rows import room_of
from jobs.retry import task
from realtime.rooms.base import RoomEvent
from realtime.rooms.positions.live import LivePositions

log = logging.getLogger("readalong.worker")

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
    """Notify each participant and invited user (not kicked, not the host) once per session;
    also run when a session goes live (it may have started early or without a schedule)."""
    db = ctx["db"]
    session = await db.pool.fetchrow(
        "SELECT id, title, host_id, scheduled_at, started_at FROM reading_sessions"
        " WHERE id = $1 AND status <> 'ended'", session_id)
    if session is None:
        return 0
    rows = await db.pool.fetch(
        "SELECT w.user_id FROM (SELECT p.user_id FROM session_participants p"
        "   WHERE p.session_id = $1 AND NOT p.kicked"
        "   UNION SELECT i.user_id FROM session_invitations i WHERE i.session_id = $1"
        "   AND NOT EXISTS (SELECT 1 FROM session_participants k WHERE k.session_id = $1"
        "     AND k.user_id = i.user_id AND k.kicked)) w"
        " WHERE w.user_id <> $2 AND NOT EXISTS (SELECT 1 FROM notifications n"
        "   WHERE n.recipient_id = w.user_id AND n.type = 'session_starting'"
        "   AND n.target_kind = 'session' AND n.target_id = $1::text)",
        session_id, session["host_id"])
    when = session["scheduled_at"] or session["started_at"]
    sent = 0
    for r in rows:
        # concurrent runs (cron + a retry): only the first claims each reader
        claim = f"{SESSION_REMINDED}{session_id}:{r['user_id']}"
        if not await ctx["redis"].set(claim, b"1", nx=True, ex=2 * 24 * 3600):
            continue
        nid = await notify(db, ctx["redis"], recipient_id=int(r["user_id"]),
                           type="session_starting", actor_id=int(session["host_id"]),
                           target_kind="session", target_id=session_id,
                           payload={"title": session["title"], "session_id": session_id,
                                    "scheduled_at": when.isoformat() if when else None})
        sent += nid is not None
    return sent


@task
async def start_due_sessions(ctx: dict[str, Any]) -> int:
    """Cron: scheduled sessions whose time has come go live; each room gets the `status` event
    (after the commit; a failed publish is logged — clients see the status over REST), then the
    `hosted_session` activity and "is starting" for joined and invited readers."""
    db = ctx["db"]
    ids = await due.start_due_sessions(db)
    for sid in ids:
        await _announce(ctx, sid, "live")
        await social.after_start(db, ctx["redis"], sid)
    return len(ids)


@task
async def end_idle_sessions(ctx: dict[str, Any], now_iso: str | None = None) -> int:
    """Cron: live sessions nobody has been in for `READALONG_SESSION_IDLE_END_MINUTES` end
    (record kept, ended when the last reader left); each room gets `status` `ended`, as when
    the host ends it."""
    minutes = ctx["settings"].session_idle_end_minutes
    if minutes <= 0:
        return 0
    now = datetime.fromisoformat(now_iso) if now_iso else None
    ids = await due.end_idle_sessions(ctx["db"], ctx["redis"], timedelta(minutes=minutes), now)
    live = LivePositions(ctx["redis"])
    for sid in ids:
        log.info("session %s ended: nobody there for %s minutes", sid, minutes)
        await live.mark_ended(room_of(sid))  # moves refused from now on (none pending: idle)
        await _announce(ctx, sid, "ended")
        try:  # attendance the end closed: co-reading minutes (XP, board; no live push here)
            await leaderboards.sync(ctx["redis"], await coreading.credit(ctx["db"], sid))
        except Exception:
            log.exception("co-reading credit of session %s failed", sid)
    return len(ids)


async def _announce(ctx: dict[str, Any], session_id: int, status: str) -> None:
    """The `status` event in the session's room, after the commit (a failed publish is logged:
    clients also see the status over REST)."""
    try:
        await ctx["publisher"].publish(room_of(session_id), RoomEvent("status", {"status": status}))
    except Exception:
        log.exception("publishing status %s of session %s failed", status, session_id)
