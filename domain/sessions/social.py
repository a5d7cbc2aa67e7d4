"""What session actions cause elsewhere: notifications (mentions, replies, reactions to notes,
"is starting") and feed activities (hosted, joined, public notes, started/finished a book).

Every hook runs after the session use-case committed and never raises: the user's action has
succeeded and stays so. Notifications go through `domain.notifications.service.notify` (blocks,
mutes, preferences, grouping) and activities through `domain.feeds.service.record_activity`;
both persist first and then enqueue (the worker's sweep re-queues undelivered notifications).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.feeds import verbs
from domain.feeds.service import record_activity, retract_activity
from domain.jobqueue import enqueue_quietly
from domain.notifications.service import notify
from domain.sessions.books import BookInfo
from domain.sessions.content import viewer_state
from domain.sessions.lifecycle import fetch_session, may_see
from domain.sessions.schemas import AnnotationOut, MessageOut, ReactionOut
from domain.sessions.spoilers import is_shielded

log = logging.getLogger("readalong.sessions")

MENTION_RE = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{3,30})(?![A-Za-z0-9_])")
MAX_MENTIONS = 10  # per message: more @handles than this are not notified
EXCERPT_CHARS = 200
FINISHED_AT = 0.98  # a progression this far (or the last TOC chapter) finishes a book
REMIND_JOB = "remind_session"


def mentioned_handles(body: str | None) -> list[str]:
    """The distinct @handles in a chat body (lower-cased, in order, at most MAX_MENTIONS)."""
    seen: list[str] = []
    for match in MENTION_RE.finditer(body or ""):
        handle = match.group(1).lower()
        if handle not in seen:
            seen.append(handle)
            if len(seen) == MAX_MENTIONS:
                break
    return seen


def _where(title: str, gate: float) -> str:
    return f"'{title}' (at {round(gate * 100)}%)"


async def after_message(db: Database, redis: Redis | None, msg: MessageOut) -> int:
    """Notify each @mentioned user who may see the session (not the author, not kicked; blocks
    and mutes are `notify`'s). A recipient behind the message's gate (shield on) gets who and
    where only; others also get an excerpt. Returns how many were notified."""
    handles = mentioned_handles(msg.body)
    if not handles:
        return 0
    sent = 0
    try:
        row = await fetch_session(db, msg.session_id)
        users = await db.pool.fetch(
            "SELECT u.id, u.role, COALESCE(p.kicked, false) AS kicked FROM users u"
            " LEFT JOIN session_participants p ON p.session_id = $2 AND p.user_id = u.id"
            " WHERE lower(u.handle) = ANY($1::text[])", handles, msg.session_id)
        for u in users:
            uid = int(u["id"])
            if uid == msg.author_id or u["kicked"]:
                continue
            if not await may_see(db, row, Principal(user_id=uid, role=u["role"], jti="", exp=0)):
                continue
            state = await viewer_state(db, msg.session_id, uid)
            behind = is_shielded(state, msg.gate, msg.author_id)
            payload: dict[str, Any] = {
                "where": _where(row["title"], msg.gate), "title": row["title"],
                "session_id": msg.session_id, "message_id": msg.id, "gate": msg.gate,
                "redacted": behind}
            if not behind:
                payload["excerpt"] = (msg.body or "")[:EXCERPT_CHARS]
            nid = await notify(db, redis, recipient_id=uid, type="mention",
                               actor_id=msg.author_id, target_kind="session",
                               target_id=msg.session_id, payload=payload)
            sent += nid is not None
    except Exception:
        log.exception("mentions of message %s were not notified", msg.id)
    return sent


async def _titles(db: Database, session_id: int) -> Any:
    return await db.pool.fetchrow(
        "SELECT s.title, s.visibility, s.host_id, b.id AS book_id, b.title AS book_title"
        " FROM reading_sessions s JOIN books b ON b.id = s.book_id WHERE s.id = $1", session_id)


async def _annotation_author(db: Database, annotation_id: int) -> int | None:
    author = await db.pool.fetchval(
        "SELECT author_id FROM session_annotations WHERE id = $1 AND deleted_at IS NULL",
        annotation_id)
    return int(author) if author is not None else None


async def after_annotation(db: Database, redis: Redis | None, ann: AnnotationOut) -> None:
    """A public annotation becomes a `published_annotation` activity (no quote or note in it:
    the feed is not behind the shield); a reply (not private) notifies the parent's author."""
    try:
        if ann.session_id is None:
            return
        info = await _titles(db, ann.session_id)
        if info is None:
            return
        if ann.visibility == "public":
            await record_activity(db, redis, actor_id=ann.author_id,
                                  verb=verbs.PUBLISHED_ANNOTATION, object_kind="annotation",
                                  object_id=ann.id, payload={
                                      "title": info["book_title"], "book_id": ann.book_id,
                                      "session_id": ann.session_id, "annotation_id": ann.id,
                                      "gate": ann.gate})
        if ann.parent_id is not None and ann.visibility != "private":
            parent_author = await _annotation_author(db, ann.parent_id)
            if parent_author is not None:
                await notify(db, redis, recipient_id=parent_author, type="annotation_reply",
                             actor_id=ann.author_id, target_kind="annotation",
                             target_id=ann.parent_id, payload={
                                 "title": info["title"], "session_id": ann.session_id,
                                 "annotation_id": ann.parent_id, "reply_id": ann.id})
    except Exception:
        log.exception("after annotation %s: notification/activity failed", ann.id)


async def after_annotation_deleted(db: Database, ann: AnnotationOut) -> None:
    """A deleted public annotation leaves the feeds (its activity row goes)."""
    try:
        if ann.visibility == "public":
            await retract_activity(db, actor_id=ann.author_id, verb=verbs.PUBLISHED_ANNOTATION,
                                   object_kind="annotation", object_id=ann.id)
    except Exception:
        log.exception("retracting the activity of annotation %s failed", ann.id)


async def after_reaction(db: Database, redis: Redis | None, reaction: ReactionOut) -> None:
    """A reaction to an annotation notifies its author; repeated ones group into one entry
    ("Ana and 3 others reacted to your note") through `notify`'s grouping."""
    if reaction.annotation_id is None:
        return
    try:
        author = await _annotation_author(db, reaction.annotation_id)
        if author is None:
            return
        info = await _titles(db, reaction.session_id)
        await notify(db, redis, recipient_id=author, type="annotation_reaction",
                     actor_id=reaction.author_id, target_kind="annotation",
                     target_id=reaction.annotation_id, payload={
                         "title": info["title"] if info else "", "session_id": reaction.session_id,
                         "annotation_id": reaction.annotation_id})
    except Exception:
        log.exception("reaction %s: notifying the annotation's author failed", reaction.id)


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
    """`started_book` the first time a reader reports a position in a book, `finished_book`
    the first time they finish it — once per reader and book (`book_readings`)."""
    try:
        payload = {"title": book.title, "book_id": book.id}
        if started:
            new = await db.pool.fetchval(
                "INSERT INTO book_readings (user_id, book_id) VALUES ($1, $2)"
                " ON CONFLICT (user_id, book_id) DO NOTHING RETURNING id", user_id, book.id)
            if new is not None:
                await record_activity(db, redis, actor_id=user_id, verb=verbs.STARTED_BOOK,
                                      object_kind="book", object_id=book.id, payload=payload)
        if done:
            now_done = await db.pool.fetchval(
                "INSERT INTO book_readings (user_id, book_id, finished_at) VALUES ($1, $2,"
                " now()) ON CONFLICT (user_id, book_id) DO UPDATE SET finished_at = now()"
                " WHERE book_readings.finished_at IS NULL RETURNING id", user_id, book.id)
            if now_done is not None:
                await record_activity(db, redis, actor_id=user_id, verb=verbs.FINISHED_BOOK,
                                      object_kind="book", object_id=book.id, payload=payload)
    except Exception:
        log.exception("reading milestones of user %s in book %s failed", user_id, book.id)
