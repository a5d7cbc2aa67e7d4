"""Who is reading a book, as the book page shows it: anonymous counts for everyone, and the
people I follow who read it, each only when the privacy rule (`privacy.may_see_state`: their
profile visible to me — public, or followers-only and I follow them — and the state not
`private`) and blocks (either way) let me see them."""

from __future__ import annotations

from datetime import datetime

import msgspec

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.reading.progress import book_not_found

FRIENDS_LIMIT = 20


class BookReader(msgspec.Struct, frozen=True):
    handle: str
    display_name: str
    status: str          # reading | read
    furthest: float      # how far they are (0..1)
    updated_at: datetime


class BookReaders(msgspec.Struct, frozen=True):
    """`reading_now` / `read`: readers whose state of the book says so, counted without names
    (private states left out); `following`: the people I follow among them (newest activity
    first, at most 20; empty for a signed-out visitor)."""

    book_id: int
    reading_now: int
    read: int
    following: list[BookReader]


_COUNTS_SQL = """
SELECT (SELECT count(*) FROM reading_states WHERE book_id = b.id AND status = 'reading'
        AND NOT private) AS reading_now,
       (SELECT count(*) FROM reading_states WHERE book_id = b.id AND status = 'read'
        AND NOT private) AS read
FROM books b WHERE b.id = $1
"""
_FOLLOWING_SQL = """
SELECT u.handle, u.display_name, rs.status, rs.furthest, rs.updated_at
FROM follows f
JOIN users u ON u.id = f.followee_id
JOIN reading_states rs ON rs.user_id = u.id AND rs.book_id = $2
WHERE f.follower_id = $1 AND f.status = 'accepted'
  AND rs.status IN ('reading', 'read') AND NOT rs.private
  AND u.visibility IN ('public', 'followers') AND u.suspended_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM blocks bl WHERE (bl.blocker_id = $1 AND bl.blocked_id = u.id)
                  OR (bl.blocker_id = u.id AND bl.blocked_id = $1))
ORDER BY rs.updated_at DESC, u.id
LIMIT $3
"""


async def book_readers(db: Database, viewer: Principal | None, book_id: int) -> BookReaders:
    """The book page's "who's reading it"; 404 `book_not_found` for an unknown book."""
    counts = await db.pool.fetchrow(_COUNTS_SQL, book_id)
    if counts is None:
        raise book_not_found()
    following: list[BookReader] = []
    if viewer is not None:
        rows = await db.pool.fetch(_FOLLOWING_SQL, viewer.user_id, book_id, FRIENDS_LIMIT)
        following = [BookReader(handle=str(r["handle"]), display_name=str(r["display_name"]),
                                status=str(r["status"]), furthest=float(r["furthest"]),
                                updated_at=r["updated_at"]) for r in rows]
    return BookReaders(book_id=book_id, reading_now=int(counts["reading_now"]),
                       read=int(counts["read"]), following=following)
