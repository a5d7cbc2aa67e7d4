"""The one rule for spoilers in the reading life: which variant of a review a viewer gets.

A review flagged `spoiler`, or with inline spoiler spans, is redacted for a viewer whose furthest
progression in the book (`reading_states.furthest`, the one value every gate reads) is below the
reviewer's furthest progression when they wrote or last edited it (`gate`). Its author always
gets it in full. This is the same comparison as the session shield (`progress < gate`), and every
path (REST lists, single reads, comments' parent, notifications, feed) goes through
`review_redacted`, fed by `viewer_furthest`.
"""

from __future__ import annotations

from typing import Any


def review_redacted(viewer_id: int | None, viewer_furthest: float, *, author_id: int,
                    gate: float, flagged: bool, spans: bool) -> bool:
    """True when this viewer must get the redacted variant."""
    if viewer_id is not None and viewer_id == author_id:
        return False
    if not (flagged or spans):
        return False
    return viewer_furthest < gate


async def viewer_furthest(conn: Any, viewer_id: int | None,
                          book_ids: list[int]) -> dict[int, float]:
    """The viewer's furthest progression in each book (0 for anonymous viewers), one query."""
    if viewer_id is None:
        return dict.fromkeys(book_ids, 0.0)
    rows = await conn.fetch("SELECT book_id, furthest FROM reading_states WHERE user_id = $1"
                            " AND book_id = ANY($2::bigint[])", viewer_id, list(set(book_ids)))
    found = {int(r["book_id"]): float(r["furthest"]) for r in rows}
    return {book_id: found.get(book_id, 0.0) for book_id in book_ids}
