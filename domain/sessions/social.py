"""What session actions cause elsewhere: "is starting" reminders and feed activities (hosted,
joined, started/finished a book). What chat, notes and reactions cause (mentions, replies,
reactions to notes, public notes in feeds) is `domain.discussion.effects`.

Every hook runs after the session use-case committed and never raises: the user's action has
succeeded and stays so. Notifications go through `domain.notifications.service.notify` (blocks,
mutes, preferences, grouping) and activities through `domain.feeds.service.record_activity`;
both persist first and then enqueue (the worker's sweep re-queues undelivered notifications).
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis

from domain.db import Database
from domain.discussion.effects import MAX_MENTIONS, mentioned_handles  # noqa: F401 - moved there
from domain.feeds import verbs
from domain.feeds.service import record_activity
from domain.jobqueue import enqueue_quietly
from domain.reading.finish import FINISHED_AT  # this far (or the last TOC chapter) finishes
from domain.sessions.books import BookInfo
from domain.sessions.rows import fetch_session

log = logging.getLogger("readalong.sessions")

REMIND_JOB = "remind_session"


async def after_join(db: Database, redis: Redis | None, session: Any, user_id: int) -> None:
    """A reader admitted for the first time to a public session: `joined_session` activity
    (followers-only and invite-only sessions stay out of feeds: not every follower may see them)."""
    try:
        if session["visibility"] != "public" or user_id == session["host_id"]:
            return
        await record_activity(db, redis, actor_id=user_id, verb=verbs.JOINED_SESSION,
                              object_kind="session", object_id=session["id"],
                              payload={"title": session["title"], "session_id": session["id"]})
    except Exception:
        log.exception("joined activity for user %s in session %s failed", user_id,
                      session["id"])


async def after_start(db: Database, redis: Redis | None, session_id: int) -> None:
    """A session went live (host or schedule): `hosted_session` activity for public and
    followers-only sessions (the host's followers are that audience), and "is starting" for
    joined and invited readers who were not reminded yet."""
    try:
        row = await fetch_session(db, session_id)
        if row["visibility"] in ("public", "followers"):
            await record_activity(db, redis, actor_id=int(row["host_id"]),
                                  verb=verbs.HOSTED_SESSION, object_kind="session",
                                  object_id=session_id,
                                  payload={"title": row["title"], "session_id": session_id})
        if redis is not None:
            await enqueue_quietly(redis, REMIND_JOB, session_id, job_id=f"remind:{session_id}:live")
    except Exception:
        log.exception("after the start of session %s: activity/reminders failed", session_id)


def finished(book: BookInfo, progression: float | None) -> bool:
    """At or past FINISHED_AT, or in the last chapter of a book with a table of contents
    (of two chapters or more: the last one is usually the ending or back matter)."""
    if progression is None:
        return False
    if progression >= FINISHED_AT:
        return True
    n = len(book.chapter_starts)
    return n >= 2 and book.chapter_at(progression) == n - 1


def milestones(book: BookInfo, old_furthest: float | None,
               new_furthest: float) -> tuple[bool, bool]:
    """(may have started, may have finished) the book with this move: the first position in a
    session, and crossing the finish line. Cheap: no query unless one is True."""
    return old_furthest is None, finished(book, new_furthest) and not finished(book, old_furthest)


async def after_move(db: Database, redis: Redis | None, user_id: int, book: BookInfo,
                     started: bool, done: bool) -> None:
    """Record in `book_readings` that a reader started a book in a session (their first
    position) and finished it (`finished_book` the first time, once per reader and book, unless
    their reading state already says `read`: that posted it). The started-book activity is the
    reading state's (`domain.reading`: posted when the session's move opened a read), so a
    book is never announced twice."""
    try:
        payload = {"title": book.title, "book_id": book.id}
        if started:
            await db.pool.execute(
                "INSERT INTO book_readings (user_id, book_id) VALUES ($1, $2)"
                " ON CONFLICT (user_id, book_id) DO NOTHING", user_id, book.id)
        if done:
            now_done = await db.pool.fetchval(
                "INSERT INTO book_readings (user_id, book_id, finished_at) VALUES ($1, $2,"
                " now()) ON CONFLICT (user_id, book_id) DO UPDATE SET finished_at = now()"
                " WHERE book_readings.finished_at IS NULL RETURNING id", user_id, book.id)
            already = await db.pool.fetchval(
                "SELECT status = 'read' FROM reading_states WHERE user_id = $1"
                " AND book_id = $2", user_id, book.id)
            if now_done is not None and not already:
                await record_activity(db, redis, actor_id=user_id, verb=verbs.FINISHED_BOOK,
                                      object_kind="book", object_id=book.id, payload=payload)
    except Exception:
        log.exception("reading milestones of user %s in book %s failed", user_id, book.id)
