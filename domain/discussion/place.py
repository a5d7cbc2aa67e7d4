"""Where discussion is written: a `Place` (kind, id, room, book, audience, moderators) and the
`Venue` interface a place kind implements (sessions today; clubs, threads and events next)."""

from __future__ import annotations

import time
from bisect import bisect_right
from typing import Any, Protocol

import msgspec

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.discussion.spoilers import Audience, ViewerState
from domain.sessions.books import BookInfo


class Place(msgspec.Struct, frozen=True):
    """One place content is written in. `audience` bounds every item written there;
    `moderators` (besides site moderators) may delete anyone's content and write when chat is
    locked; `writable` False means read-only (e.g. an ended session: `closed_code` says why).
    Use-cases call the venue with nothing but `db.pool.fetch*/execute`, so they also run on one
    checked-out connection."""

    kind: str                     # "session" (the room prefix and notification target kind)
    id: int
    room: str                     # the realtime room its events go to, e.g. "session:12"
    title: str
    book_id: int
    book_title: str
    audience: Audience
    moderators: frozenset[int] = frozenset()
    chat_locked: bool = False     # the moderators stopped chat and typing (not their own)
    chapter_starts: tuple[float, ...] = ()
    writable: bool = True
    closed_code: str = ""
    closed_reason: str = ""
    #: what the venue's `poster` needs about the writer the place was read for (`place(...,
    #: writer=)`), read in the same statement; None: `poster` reads it itself
    prefetched: Any = None

    def chapter_at(self, progression: float) -> int | None:
        """Index of the TOC chapter holding `progression` (None when the book has no TOC)."""
        if not self.chapter_starts:
            return None
        return max(0, bisect_right(self.chapter_starts, progression) - 1)

    def may_moderate(self, who: Principal) -> bool:
        return who.user_id in self.moderators or who.is_moderator


class Poster(msgspec.Struct, frozen=True):
    """Someone allowed to write in a place right now, with where they are in the book."""

    user_id: int
    progression: float | None   # where they are now
    furthest: float | None      # the furthest they have read (gates are never below it)
    locator: str | None = None
    chapter: int | None = None
    #: the lowest gate an author may lower a message to here ("spoiler-free": a club section's
    #: start); None: the place offers no such choice
    floor: float | None = None


BOOK_TTL = 60.0  # seconds a book's title and chapter starts are reused by this process


class Books:
    """Each book's title and chapter starts, per process, reused for BOOK_TTL seconds: what
    every venue's `place` puts in its Place (the place's own row is read every time, so a
    place that switches books reads the new one's at once)."""

    def __init__(self) -> None:
        self._books: dict[int, tuple[float, BookInfo]] = {}

    async def get(self, db: Database, book_id: int | None) -> BookInfo:
        if not book_id:
            return BookInfo(id=0, title="")
        now = time.monotonic()
        hit = self._books.get(book_id)
        if hit is not None and now - hit[0] < BOOK_TTL:
            return hit[1]
        rows = await db.pool.fetch(
            "SELECT b.title, c.start FROM books b LEFT JOIN book_chapters c ON c.book_id = b.id"
            " WHERE b.id = $1 ORDER BY c.position", book_id)
        book = BookInfo(id=book_id, title=str(rows[0]["title"]) if rows else "",
                         chapter_starts=tuple(float(r["start"]) for r in rows
                                              if r["start"] is not None))
        if len(self._books) > 10_000:
            self._books.clear()
        self._books[book_id] = (now, book)
        return book


BOOKS = Books()


class Venue(Protocol):
    """What a place kind supplies to the discussion component (all rules about *who* live
    here; all rules about *what* — gates, variants, counts — live in the component)."""

    kind: str

    async def place(self, db: Database, place_id: int,
                    writer: Principal | None = None) -> Place:
        """The place, or NotFound. `writer`: someone about to write there (a venue may read
        what its `poster` needs about them in the same statement)."""
        ...

    async def check_readable(self, db: Database, place: Place,
                             viewer: Principal | None) -> None:
        """Raise NotFound/Forbidden unless `viewer` may read the place's content."""
        ...

    async def may_read(self, db: Database, place: Place, user_id: int, role: str) -> bool:
        """Whether this user may read the place (for mentions, replies and notifications)."""
        ...

    async def poster(self, db: Database, place: Place, who: Principal, *,
                     chat: bool) -> Poster:
        """Who may write now (`chat`: messages and typing, which mutes and locks stop), or
        the Forbidden/Conflict saying why not."""
        ...

    async def viewer(self, db: Database, place_id: int, user_id: int | None) -> ViewerState:
        """The viewer's progression, shield and hidden authors in this place."""
        ...

    def viewer_of(self, place: Place, user_id: int) -> ViewerState | None:
        """`viewer` for the user `place` was read for, when the place's statement brought it
        (`Place.prefetched`), else None (then `viewer` reads it)."""
        ...

    def readable_sql(self, alias: str, viewer_param: str) -> str:
        """A SQL predicate on the place id column `alias` true when the viewer (user id in
        `viewer_param`, 0 when anonymous) may read that place (book-wide listings)."""
        ...
