"""What the session room kind reuses per process between moves: each session's book (and mode),
each reader's hidden authors (blocks either way, mutes) for a few seconds."""

from __future__ import annotations

import asyncio
import time

from domain.db import Database
from domain.sessions.books import BookInfo, get_book
from domain.sessions.positions import HiddenReader
from domain.sessions.rows import fetch_session

HIDDEN_TTL = 5.0  # seconds a reader's blocked/muted set is reused between position updates


class SessionBooks:
    """A session's book with its TOC and its mode (a session never changes either)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._books: dict[int, BookInfo] = {}  # by session id
        self._modes: dict[int, str] = {}  # by session id: free / follow
        self._reading: dict[int, asyncio.Future[BookInfo]] = {}  # books being read now

    def cached(self, session_id: int) -> BookInfo | None:
        """The book when this node has read it (no await: the move path's usual case)."""
        return self._books.get(session_id)

    def mode(self, session_id: int) -> str | None:
        return self._modes.get(session_id)

    async def get(self, session_id: int) -> BookInfo:
        """Cached per node; the readers' first moves after a start share one read."""
        book = self._books.get(session_id)
        if book is not None:
            return book
        reading = self._reading.get(session_id)
        if reading is None:
            reading = asyncio.ensure_future(self._read(session_id))
            self._reading[session_id] = reading
            reading.add_done_callback(lambda _: self._reading.pop(session_id, None))
        return await asyncio.shield(reading)

    async def _read(self, session_id: int) -> BookInfo:
        row = await fetch_session(self.db, session_id)
        book = await get_book(self.db, row["book_id"])
        if len(self._books) > 10_000:
            self._books.clear()
            self._modes.clear()
        self._books[session_id] = book
        self._modes[session_id] = str(row["mode"])
        return book


class HiddenAuthors:
    """Authors hidden from a reader, re-read at most every HIDDEN_TTL seconds per reader on this
    node (expired sets of a burst in one query)."""

    def __init__(self, db: Database) -> None:
        self._reader = HiddenReader(db)
        self._cache: dict[int, tuple[float, frozenset[int]]] = {}

    def cached(self, user_id: int) -> tuple[frozenset[int], bool] | None:
        """`get` without a read (None: not here or expired)."""
        hit = self._cache.get(user_id)
        if hit is not None and time.monotonic() - hit[0] < HIDDEN_TTL:
            return hit[1], False
        return None

    async def get(self, user_id: int) -> tuple[frozenset[int], bool]:
        """The set, and whether it changed (or is new here)."""
        fresh = self.cached(user_id)
        if fresh is not None:
            return fresh
        old = self._cache.get(user_id)
        now = time.monotonic()
        hidden = await self._reader.read(user_id)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[user_id] = (now, hidden)
        return hidden, old is None or old[1] != hidden
