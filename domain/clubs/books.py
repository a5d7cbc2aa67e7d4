"""Switching the club's book: the current one becomes a past book (its dates kept; the
members' average rating is computed when listed, `domain.clubs.board.books`), and public clubs
get `club_finished_book` / `club_started_book` in the feed."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.feeds import verbs
from domain.feeds.service import record_activity


async def switch(db: Database, redis: Redis | None, club: Any, new_book: int | None,
                 who: Principal) -> None:
    """Close the current book (if any) and start `new_book` (if any)."""
    cid = int(club["id"])
    async with db.pool.acquire() as conn, conn.transaction():
        closed = await conn.fetchval("UPDATE club_books SET finished_at = now() WHERE"
                                     " club_id = $1 AND finished_at IS NULL RETURNING book_id",
                                     cid)
        if new_book is not None:
            await conn.execute("INSERT INTO club_books (club_id, book_id) VALUES ($1, $2)",
                               cid, new_book)
    if club["visibility"] != "public":
        return
    for verb, book in ((verbs.CLUB_FINISHED_BOOK, closed), (verbs.CLUB_STARTED_BOOK, new_book)):
        if book is None:
            continue
        title = await db.pool.fetchval("SELECT title FROM books WHERE id = $1", book)
        await record_activity(db, redis, actor_id=who.user_id, verb=verb, object_kind="club",
                              object_id=cid, payload={"club": club["name"], "club_id": cid,
                                                      "book_id": int(book), "title": title})
