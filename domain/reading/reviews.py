"""Reviews and ratings: one review per read, edits kept, the book's aggregate, spoiler variants.

Who sees a review: its author always; others when the author's profile is visible to them
(`domain.social.rules.profile_visible`), the author is not blocked either way or muted by them,
the review is not hidden by a moderator, and the reviewed book is not one the author marked
private. Which variant: `domain.reading.spoilers.review_redacted`.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Forbidden, Invalid, NotFound
from domain.ids import in_range
from domain.reading import gamification, markup
from domain.reading.clock import utcnow
from domain.reading.events import ReadingEvent
from domain.reading.progress import book_not_found
from domain.reading.review_schemas import Card, RatingOut, ReviewIn, ReviewOut, ReviewPage
from domain.reading.spoilers import review_redacted, viewer_furthest
from domain.social import cursor
from domain.social.rules import STAFF_ROLES, Relation, profile_visible


def review_not_found() -> NotFound:
    return NotFound("no such review", code="review_not_found")


def quarters(rating: float) -> int:
    """A rating in quarter stars, rounded half up (0.5 → 2, 3.8 → 15, 3.875 → 16)."""
    if not math.isfinite(rating) or not 0.5 <= rating <= 5.0:
        raise Invalid("rating must be from 0.5 to 5", code="invalid_rating", field="rating")
    return min(20, max(2, math.floor(rating * 4 + 0.5)))


def half_star_bucket(q: int) -> int:
    """1-based histogram bucket of a quarter-star rating: half stars, rounded half up."""
    return (q + 1) // 2


async def count_rating(conn: Any, book_id: int, q: int | None, sign: int) -> None:
    """Add (+1) or remove (-1) one rating in the book's aggregate, in the caller's transaction."""
    if q is None:
        return
    await conn.execute("INSERT INTO rating_aggregates (book_id) VALUES ($1)"
                       " ON CONFLICT (book_id) DO NOTHING", book_id)
    bucket = half_star_bucket(q)
    await conn.execute(
        f"UPDATE rating_aggregates SET count = count + $2, sum_quarters = sum_quarters + $3,"
        f" histogram[{bucket}] = histogram[{bucket}] + $2 WHERE book_id = $1",
        book_id, sign, sign * q)


_REVIEW_SQL = """
SELECT r.*, u.handle, u.display_name, u.visibility, rr.number AS read_number,
       COALESCE(s.private, false) AS state_private,
       ($1::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM review_likes l WHERE l.review_id = r.id
                                           AND l.user_id = $1)) AS liked,
       EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = r.user_id
               AND f.status = 'accepted') AS following,
       EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = $1 AND b.blocked_id = r.user_id)
               OR (b.blocker_id = r.user_id AND b.blocked_id = $1)) AS blocked,
       EXISTS (SELECT 1 FROM mutes m WHERE m.muter_id = $1 AND m.muted_id = r.user_id) AS muted
FROM reviews r JOIN users u ON u.id = r.user_id
LEFT JOIN reading_reads rr ON rr.id = r.read_id
LEFT JOIN reading_states s ON s.user_id = r.user_id AND s.book_id = r.book_id
"""


def may_see(viewer: Principal | None, row: Any) -> bool:
    """The visibility rule above, for one row of `_REVIEW_SQL`."""
    viewer_id = viewer.user_id if viewer is not None else None
    if viewer_id == row["user_id"]:
        return True
    role = viewer.role if viewer is not None else None
    if row["hidden_at"] is not None or row["state_private"] or row["muted"]:
        return role in STAFF_ROLES and row["hidden_at"] is not None and not row["state_private"]
    rel = Relation(following=bool(row["following"]), blocking=bool(row["blocked"]))
    return profile_visible(row["visibility"], rel, viewer_role=role)


def review_out(row: Any, viewer_id: int | None, furthest: float) -> ReviewOut:
    redacted = review_redacted(viewer_id, furthest, author_id=row["user_id"], gate=row["gate"],
                               flagged=row["spoiler"], spans=row["spoiler_spans"])
    body_html: str | None = row["body_html"]
    if redacted:
        body_html = None if row["spoiler"] else row["redacted_html"]
    q = row["rating_quarters"]
    return ReviewOut(
        id=row["id"], book_id=row["book_id"],
        author=Card(id=row["user_id"], handle=row["handle"], display_name=row["display_name"]),
        rating=q / 4 if q is not None else None, body_html=body_html,
        body=row["body"] if viewer_id == row["user_id"] else None, spoiler=row["spoiler"],
        has_spoiler_spans=row["spoiler_spans"], redacted=redacted, likes=row["likes"],
        liked=bool(row["liked"]), comments=row["comments"], read_number=row["read_number"],
        hidden=row["hidden_at"] is not None, created_at=row["created_at"],
        edited_at=row["edited_at"])


async def load_visible(conn: Any, viewer: Principal | None, review_id: int) -> Any:
    """The review row if `viewer` may see it (else `review_not_found`)."""
    if not in_range(review_id):
        raise review_not_found()
    row = await conn.fetchrow(_REVIEW_SQL + " WHERE r.id = $2",
                              viewer.user_id if viewer else None, review_id)
    if row is None or not may_see(viewer, row):
        raise review_not_found()
    return row


async def get_review(db: Database, viewer: Principal | None, review_id: int) -> ReviewOut:
    row = await load_visible(db.pool, viewer, review_id)
    viewer_id = viewer.user_id if viewer else None
    furthest = (await viewer_furthest(db.pool, viewer_id, [row["book_id"]]))[row["book_id"]]
    return review_out(row, viewer_id, furthest)


async def write_review(db: Database, user_id: int, book_id: int, data: ReviewIn, *,
                       now: datetime | None = None,
                       events: list[ReadingEvent] | None = None) -> ReviewOut:
    """Create or edit my review of my current (or latest) read of a book (edits are kept).
    A new review appends a `reviewed` (with text) or `rated` event to `events`."""
    if not in_range(book_id):
        raise book_not_found()
    body = markup.check_body(data.body)
    q = quarters(data.rating) if data.rating is not None else None
    if q is None and not body:
        raise Invalid("a review needs a rating or a body", code="review_empty", field="body")
    rendered = markup.render(body)
    at = now or utcnow()
    async with db.pool.acquire() as conn, conn.transaction():
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM review_bans WHERE user_id = $1)",
                               user_id):
            raise Forbidden("you may not write reviews", code="review_banned")
        state = await conn.fetchrow("SELECT id, furthest FROM reading_states WHERE user_id = $1"
                                    " AND book_id = $2 FOR UPDATE", user_id, book_id)
        read_id = None if state is None else await conn.fetchval(
            "SELECT id FROM reading_reads WHERE state_id = $1 ORDER BY number DESC LIMIT 1",
            state["id"])
        if read_id is None:
            raise Invalid("review a book you are reading or have read (set its status first)",
                          code="review_needs_read", field="book_id")
        old = await conn.fetchrow("SELECT * FROM reviews WHERE read_id = $1 FOR UPDATE", read_id)
        values = (q, body, rendered.html, rendered.redacted_html, data.spoiler,
                  rendered.has_spoilers, float(state["furthest"]))
        if old is None:
            review_id = await conn.fetchval(
                "INSERT INTO reviews (user_id, book_id, read_id, rating_quarters, body,"
                " body_html, redacted_html, spoiler, spoiler_spans, gate, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                user_id, book_id, read_id, *values, at)
            await count_rating(conn, book_id, q, +1)
            await gamification.earn(conn, user_id, "review", 1, at)
        else:
            review_id = old["id"]
            await conn.execute("INSERT INTO review_edits (review_id, body, rating_quarters,"
                               " spoiler, replaced_at) VALUES ($1, $2, $3, $4, $5)",
                               review_id, old["body"], old["rating_quarters"], old["spoiler"], at)
            await conn.execute(
                "UPDATE reviews SET rating_quarters = $2, body = $3, body_html = $4,"
                " redacted_html = $5, spoiler = $6, spoiler_spans = $7, gate = $8,"
                " edited_at = $9 WHERE id = $1", review_id, *values, at)
            if old["hidden_at"] is None and old["rating_quarters"] != q:
                await count_rating(conn, book_id, old["rating_quarters"], -1)
                await count_rating(conn, book_id, q, +1)
        row = await conn.fetchrow(_REVIEW_SQL + " WHERE r.id = $2", user_id, review_id)
    if old is None and events is not None:
        events.append(ReadingEvent("reviewed" if body else "rated", user_id, book_id,
                                   rating=q / 4 if q is not None else None,
                                   review_id=int(review_id)))
    return review_out(row, user_id, 1.0)


async def delete_review(db: Database, user_id: int, review_id: int) -> None:
    """Delete my review (its rating leaves the aggregate)."""
    if not in_range(review_id):
        raise review_not_found()
    async with db.pool.acquire() as conn, conn.transaction():
        old = await conn.fetchrow("DELETE FROM reviews WHERE id = $1 AND user_id = $2"
                                  " RETURNING book_id, rating_quarters, hidden_at",
                                  review_id, user_id)
        if old is None:
            raise review_not_found()
        if old["hidden_at"] is None:
            await count_rating(conn, old["book_id"], old["rating_quarters"], -1)


async def book_reviews(db: Database, viewer: Principal | None, book_id: int, *,
                       after: str | None, limit: int) -> ReviewPage:
    """A book's reviews this viewer may see, newest first (a page may hold fewer than `limit`
    when some on it are not for this viewer; follow `next_cursor` until it is None)."""
    limit = cursor.check_limit(limit)
    if not in_range(book_id):
        raise book_not_found()
    viewer_id = viewer.user_id if viewer else None
    args: list[Any] = [viewer_id, book_id]
    keyset = cursor.after_clause(args, after, "r.created_at, r.id")
    where = "r.book_id = $2" + (f" AND {keyset}" if keyset else "")
    args.append(limit + 1)
    rows = await db.pool.fetch(_REVIEW_SQL + f" WHERE {where} ORDER BY r.created_at DESC,"
                               f" r.id DESC LIMIT ${len(args)}", *args)
    furthest = (await viewer_furthest(db.pool, viewer_id, [book_id]))[book_id]
    items = [review_out(r, viewer_id, furthest) for r in rows[:limit]
             if (may_see(viewer, r) and r["hidden_at"] is None) or r["user_id"] == viewer_id]
    return ReviewPage(items=items, next_cursor=cursor.next_page(rows, limit))


async def rating_of(db: Database, book_id: int) -> RatingOut:
    if not in_range(book_id) or not await db.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM books WHERE id = $1)", book_id):
        raise book_not_found()
    row = await db.pool.fetchrow("SELECT count, sum_quarters, histogram FROM rating_aggregates"
                                 " WHERE book_id = $1", book_id)
    if row is None or row["count"] == 0:
        return RatingOut(book_id=book_id, count=0, average=None, histogram=[0] * 10)
    return RatingOut(book_id=book_id, count=row["count"],
                     average=round(row["sum_quarters"] / 4 / row["count"], 2),
                     histogram=list(row["histogram"]))
