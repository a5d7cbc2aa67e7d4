"""The catalog as the co-reading context needs it: does a book exist, and its chapter starts."""

from __future__ import annotations

from bisect import bisect_right

import msgspec

from domain.db import Database
from domain.errors import Invalid


class BookInfo(msgspec.Struct, frozen=True):
    id: int
    title: str
    chapter_starts: tuple[float, ...] = ()
    page_count: int | None = None

    def chapter_at(self, progression: float) -> int | None:
        """Index of the TOC chapter holding `progression` (None when the book has no TOC)."""
        if not self.chapter_starts:
            return None
        return max(0, bisect_right(self.chapter_starts, progression) - 1)


async def get_book(db: Database, book_id: int) -> BookInfo:
    """The book with its table of contents, or `Invalid(code="unknown_book")`."""
    async with db.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT id, title, page_count FROM books WHERE id = $1", book_id)
        if row is None:
            raise Invalid(f"no book {book_id}", code="unknown_book", field="book_id")
        starts = [float(r["start"]) for r in await conn.fetch(
            "SELECT start FROM book_chapters WHERE book_id = $1 ORDER BY position", book_id)]
    return BookInfo(id=int(row["id"]), title=str(row["title"]), chapter_starts=tuple(starts),
                    page_count=row["page_count"])
