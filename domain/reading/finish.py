"""A book finished by a passive source (a co-reading session move reaching the end): the
reading state becomes `read` through the same rules as a REST "mark read" (`states.
apply_status`): one finished read, the books boards and the finish XP, and ONE `finished`
event (the `finished book` activity). A state already `read` (or `did_not_finish`,
or only wanted) is left alone, so finishing in a session and then marking read over REST (or
the reverse) posts the activity once: `states.put_state` ignores `read` on a `read` state.
Unlike a REST "mark read", the furthest is NOT moved to 1.0: the finish line may be the start
of the last chapter, and a furthest of 1.0 there would gate everything the reader writes next
at the very end (hidden from everyone still reading) and show them the ending unread."""

from __future__ import annotations

import logging
from datetime import datetime

from redis.asyncio import Redis

from domain.db import Database
from domain.reading import goals, period_goals, states
from domain.reading.clock import local_day, time_zone_of, utcnow
from domain.reading.events import ReadingEvent
from domain.reading.schemas import StateIn

FINISHED_AT = 0.98  # a passive source's progression this far finishes the book
log = logging.getLogger("readalong.reading")


def finishes(furthest: float | None) -> bool:
    return furthest is not None and furthest >= FINISHED_AT


async def finish_passive(db: Database, user_id: int, book_id: int, *, ended: bool = False,
                         now: datetime | None = None) -> list[ReadingEvent]:
    """Mark the reader's open read finished when it reached FINISHED_AT, or when the source
    says the book `ended` (a session's finish line: FINISHED_AT or the last chapter of a table
    of contents), if its status is `reading`; returns the events for `events.after_commit`
    (empty when nothing changed)."""
    at = now or utcnow()
    happened: list[ReadingEvent] = []
    async with db.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT s.id, s.status, r.progress FROM reading_states s LEFT JOIN reading_reads r"
            " ON r.state_id = s.id AND r.outcome IS NULL WHERE s.user_id = $1"
            " AND s.book_id = $2 FOR UPDATE OF s", user_id, book_id)
        if row is None or row["status"] != "reading" or not (
                ended or finishes(row["progress"])):
            return []
        today = local_day(at, await time_zone_of(conn, user_id))
        await states.apply_status(conn, user_id, book_id, int(row["id"]), "read",
                                  StateIn(status="read"), today, at, happened,
                                  to_the_end=False)
    return happened


async def check_goals(db: Database, redis: Redis | None, user_id: int) -> None:
    """After a passive finish's commit: this year's goal and the period goals (as REST's
    `after_change` does); never raises (the next change checks again)."""
    try:
        await goals.check_reached(db, redis, user_id)
        await period_goals.check_reached(db, redis, user_id)
    except Exception:
        log.exception("checking the reading goals of user %s failed", user_id)
