"""Who is reading a book, as the book page shows it: anonymous counts for everyone, and the
people I follow who read it, each only when the one privacy rule lets me see their state
(`rules.profile_visible` for the profile, blocks either way included, then
`privacy.may_see_state` for the per-book `private` flag). SQL only gathers the candidates."""

from __future__ import annotations

from datetime import datetime

import msgspec

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.reading import privacy
from domain.reading.progress import book_not_found
from domain.social import rules

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
# candidates: people I follow (accepted) reading or done with the book, newest first, with what
# the rule needs (their profile visibility, the state's private flag, blocks either way)
_FOLLOWING_SQL = """
SELECT u.id, u.handle, u.display_name, u.visibility, rs.status, rs.furthest, rs.updated_at,
       rs.private,
       EXISTS (SELECT 1 FROM blocks bl WHERE bl.blocker_id = $1 AND bl.blocked_id = u.id)
         AS blocking,
       EXISTS (SELECT 1 FROM blocks bl WHERE bl.blocker_id = u.id AND bl.blocked_id = $1)
         AS blocked_by
FROM follows f
JOIN users u ON u.id = f.followee_id
JOIN reading_states rs ON rs.user_id = u.id AND rs.book_id = $2
WHERE f.follower_id = $1 AND f.status = 'accepted'
  AND rs.status IN ('reading', 'read') AND u.suspended_at IS NULL
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
        # a few more candidates than shown: some are filtered out by the rule below
        rows = await db.pool.fetch(_FOLLOWING_SQL, viewer.user_id, book_id, FRIENDS_LIMIT * 3)
        for r in rows:
            rel = rules.Relation(following=True, blocking=bool(r["blocking"]),
                                 blocked_by=bool(r["blocked_by"]))
            visible = rules.profile_visible(str(r["visibility"]), rel, viewer_role=viewer.role)
            if not privacy.may_see_state(viewer.user_id, int(r["id"]), private=r["private"],
                                         profile_visible=visible and not rel.blocked_either_way):
                continue
            following.append(BookReader(handle=str(r["handle"]),
                                        display_name=str(r["display_name"]),
                                        status=str(r["status"]), furthest=float(r["furthest"]),
                                        updated_at=r["updated_at"]))
        following = following[:FRIENDS_LIMIT]
    return BookReaders(book_id=book_id, reading_now=int(counts["reading_now"]),
                       read=int(counts["read"]), following=following)
