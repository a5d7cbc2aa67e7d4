"""Around a review: likes, comments, reports, and the moderators' queue, hide/restore and bans.

Liking or commenting needs the review to be visible to the caller (`reviews.load_visible`).
A hidden review leaves the book's rating aggregate and every listing (its author still sees it,
marked hidden); restoring it puts both back. Hiding resolves the review's open reports.
A reviewing ban stops new reviews and edits (403 `review_banned`); existing reviews stay.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.ids import in_range
from domain.notifications.service import notify
from domain.reading import markup
from domain.reading.review_schemas import (
    Card,
    CommentIn,
    CommentOut,
    CommentPage,
    LikeOut,
    ReportIn,
    ReportOut,
    ReportPage,
)
from domain.reading.reviews import count_rating, load_visible, review_not_found
from domain.social import cursor
from domain.social.profiles import user_id_by_handle
from domain.social.rules import STAFF_ROLES, hidden_user_ids


def require_moderator(user: Principal) -> None:
    if user.role not in STAFF_ROLES:
        raise Forbidden("moderators only", code="moderators_only")


async def like(db: Database, redis: Redis | None, user: Principal, review_id: int,
               on: bool) -> LikeOut:
    """Like (idempotent) or unlike a review I may see; the author is notified of a new like."""
    async with db.pool.acquire() as conn, conn.transaction():
        row = await load_visible(conn, user, review_id)
        if on:
            added = await conn.fetchval("INSERT INTO review_likes (review_id, user_id) VALUES"
                                        " ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
                                        review_id, user.user_id)
            delta = 1 if added else 0
        else:
            gone = await conn.fetchval("DELETE FROM review_likes WHERE review_id = $1 AND"
                                       " user_id = $2 RETURNING 1", review_id, user.user_id)
            delta = -1 if gone else 0
        likes = await conn.fetchval("UPDATE reviews SET likes = likes + $2 WHERE id = $1"
                                    " RETURNING likes", review_id, delta)
    if delta > 0:
        await notify(db, redis, recipient_id=row["user_id"], type="review_liked",
                     actor_id=user.user_id, target_kind="review", target_id=review_id)
    return LikeOut(liked=on, likes=int(likes))


def _comment(r: Any) -> CommentOut:
    return CommentOut(id=r["id"], review_id=r["review_id"],
                      author=Card(id=r["author_id"], handle=r["handle"],
                                  display_name=r["display_name"]),
                      body_html=r["body_html"], created_at=r["created_at"])


async def add_comment(db: Database, redis: Redis | None, user: Principal, review_id: int,
                      data: CommentIn) -> CommentOut:
    body = markup.check_body(data.body)
    if not body:
        raise Invalid("a comment needs text", code="comment_empty", field="body")
    rendered = markup.render(body.replace("||", "| |"))  # no spoiler spans in comments
    async with db.pool.acquire() as conn, conn.transaction():
        review = await load_visible(conn, user, review_id)
        row = await conn.fetchrow(
            "WITH c AS (INSERT INTO review_comments (review_id, author_id, body, body_html)"
            " VALUES ($1, $2, $3, $4) RETURNING *) SELECT c.*, u.handle, u.display_name"
            " FROM c JOIN users u ON u.id = c.author_id", review_id, user.user_id, body,
            rendered.html)
        await conn.execute("UPDATE reviews SET comments = comments + 1 WHERE id = $1", review_id)
    await notify(db, redis, recipient_id=review["user_id"], type="review_comment",
                 actor_id=user.user_id, target_kind="review", target_id=review_id)
    return _comment(row)


async def comments(db: Database, viewer: Principal | None, review_id: int, *,
                   after: str | None, limit: int) -> CommentPage:
    """A review's comments, oldest first, without those of people hidden from the viewer."""
    limit = cursor.check_limit(limit)
    await load_visible(db.pool, viewer, review_id)
    hidden = list(await hidden_user_ids(db, viewer.user_id)) if viewer else []
    args: list[Any] = [review_id, hidden]
    keyset = cursor.after_clause(args, after, "c.created_at, c.id", ">")
    where = f" AND {keyset}" if keyset else ""
    args.append(limit + 1)
    rows = await db.pool.fetch(
        "SELECT c.*, u.handle, u.display_name FROM review_comments c JOIN users u"
        " ON u.id = c.author_id WHERE c.review_id = $1 AND c.deleted_at IS NULL"
        " AND c.author_id <> ALL($2::bigint[])" + where
        + f" ORDER BY c.created_at, c.id LIMIT ${len(args)}", *args)
    return CommentPage(items=[_comment(r) for r in rows[:limit]],
                       next_cursor=cursor.next_page(rows, limit))


async def delete_comment(db: Database, user: Principal, review_id: int, comment_id: int) -> None:
    """Its author, the review's author or a moderator may delete a comment."""
    if not (in_range(review_id) and in_range(comment_id)):
        raise NotFound("no such comment", code="comment_not_found")
    async with db.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT c.author_id, r.user_id AS review_author FROM review_comments c JOIN reviews r"
            " ON r.id = c.review_id WHERE c.id = $1 AND c.review_id = $2 AND c.deleted_at IS NULL"
            " FOR UPDATE OF c", comment_id, review_id)
        if row is None:
            raise NotFound("no such comment", code="comment_not_found")
        if user.user_id not in (row["author_id"], row["review_author"]) and \
                user.role not in STAFF_ROLES:
            raise Forbidden("only its author, the review's author or a moderator may delete"
                            " a comment", code="not_your_comment")
        await conn.execute("UPDATE review_comments SET deleted_at = now() WHERE id = $1",
                           comment_id)
        await conn.execute("UPDATE reviews SET comments = comments - 1 WHERE id = $1", review_id)


async def report(db: Database, user: Principal, review_id: int, data: ReportIn) -> None:
    """Report a review I may see (once per reader and review: 409 after)."""
    async with db.pool.acquire() as conn, conn.transaction():
        row = await load_visible(conn, user, review_id)
        if row["user_id"] == user.user_id:
            raise Forbidden("you cannot report your own review", code="own_review")
        done = await conn.fetchval(
            "INSERT INTO review_reports (review_id, reporter_id, reason, note) VALUES"
            " ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id", review_id, user.user_id,
            data.reason, data.note.strip())
    if done is None:
        raise Conflict("you already reported this review", code="already_reported")


async def report_queue(db: Database, user: Principal, *, after: str | None,
                       limit: int) -> ReportPage:
    """Open reports, oldest first (moderators)."""
    require_moderator(user)
    limit = cursor.check_limit(limit)
    args: list[Any] = []
    keyset = cursor.after_clause(args, after, "p.created_at, p.id", ">")
    where = f" AND {keyset}" if keyset else ""
    args.append(limit + 1)
    rows = await db.pool.fetch(
        "SELECT p.*, u.handle, u.display_name, (r.hidden_at IS NOT NULL) AS review_hidden"
        " FROM review_reports p JOIN users u ON u.id = p.reporter_id JOIN reviews r"
        " ON r.id = p.review_id WHERE p.resolved_at IS NULL" + where
        + f" ORDER BY p.created_at, p.id LIMIT ${len(args)}", *args)
    items = [ReportOut(id=r["id"], review_id=r["review_id"],
                       reporter=Card(id=r["reporter_id"], handle=r["handle"],
                                     display_name=r["display_name"]),
                       reason=r["reason"], note=r["note"], created_at=r["created_at"],
                       review_hidden=r["review_hidden"]) for r in rows[:limit]]
    return ReportPage(items=items, next_cursor=cursor.next_page(rows, limit))


async def set_hidden(db: Database, user: Principal, review_id: int, hidden: bool,
                     reason: str) -> None:
    """Hide (with a reason) or restore a review (moderators); the aggregate follows."""
    require_moderator(user)
    if not in_range(review_id):
        raise review_not_found()
    async with db.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT book_id, rating_quarters, hidden_at FROM reviews"
                                  " WHERE id = $1 FOR UPDATE", review_id)
        if row is None:
            raise review_not_found()
        if (row["hidden_at"] is not None) == hidden:
            return  # already so
        await conn.execute("UPDATE reviews SET hidden_at = CASE WHEN $2 THEN now() END,"
                           " hidden_reason = $3, hidden_by = $4 WHERE id = $1",
                           review_id, hidden, reason.strip(), user.user_id)
        await count_rating(conn, row["book_id"], row["rating_quarters"], -1 if hidden else +1)
        await conn.execute("UPDATE review_reports SET resolved_at = now(), resolved_by = $2,"
                           " resolution = $3 WHERE review_id = $1 AND resolved_at IS NULL",
                           review_id, user.user_id, "hidden" if hidden else "dismissed")


async def set_ban(db: Database, user: Principal, handle: str, banned: bool, reason: str) -> None:
    """Ban a reader from reviewing (with a reason) or lift the ban (moderators)."""
    require_moderator(user)
    target = await user_id_by_handle(db, handle)
    if banned:
        await db.pool.execute(
            "INSERT INTO review_bans (user_id, reason, banned_by) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id) DO UPDATE SET reason = EXCLUDED.reason,"
            " banned_by = EXCLUDED.banned_by", target, reason.strip(), user.user_id)
    else:
        await db.pool.execute("DELETE FROM review_bans WHERE user_id = $1", target)
