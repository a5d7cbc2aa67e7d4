"""THE goal logic shared by the yearly goal (`goals`) and goals over a custom period
(`period_goals`): what is done between two local dates, the pace, and "reached" once.

A yearly goal is the period 1 January to 31 December. Books count reads finished within the
period (both dates included), pages the reading log's gains within it (the reader's time
zone). Pace compares what is done with the share of the period elapsed, today included:
`books_ahead` is books done minus the books due by today (whole books), negative when behind
("3 books behind schedule"). A goal is marked reached the first time a check finds it met (one
conditional UPDATE, so two racing checks mark it once) and its reader is notified
(`goal_reached`) after the commit.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Any

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.notifications.service import notify
from domain.reading.clock import local_day, time_zone_of
from domain.reading.stats import pages_between


class Tally(msgspec.Struct, frozen=True):
    """A goal's progress and pace (the fields both goal kinds answer with)."""
    books_done: int
    pages_done: int
    books_ahead: int | None    # negative: behind schedule
    pages_ahead: int | None
    pace: str
    reached: bool


def period_share(starts_on: date, ends_on: date, today: date) -> float:
    """How much of the period has gone by at the end of `today` (0 before, 1 after it)."""
    if today < starts_on:
        return 0.0
    if today >= ends_on:
        return 1.0
    return ((today - starts_on).days + 1) / ((ends_on - starts_on).days + 1)


def pace_text(books_ahead: int | None, pages_ahead: int | None, reached: bool) -> str:
    if reached:
        return "goal reached"
    parts = []
    for ahead, unit in ((books_ahead, "book"), (pages_ahead, "page")):
        if ahead is None or ahead == 0:
            continue
        plural = "s" if abs(ahead) != 1 else ""
        where = "ahead of" if ahead > 0 else "behind"
        parts.append(f"{abs(ahead)} {unit}{plural} {where} schedule")
    return ", ".join(parts) or "on track"


async def done(conn: Any, user_id: int, starts_on: date, ends_on: date) -> tuple[int, int]:
    """(books finished, pages read) from `starts_on` to `ends_on`, both included."""
    tz = await time_zone_of(conn, user_id)
    books = await conn.fetchval(
        "SELECT count(*) FROM reading_reads r JOIN reading_states s ON s.id = r.state_id"
        " WHERE s.user_id = $1 AND r.outcome = 'read' AND r.finished_on >= $2"
        " AND r.finished_on <= $3", user_id, starts_on, ends_on)
    start = datetime.combine(starts_on, time(), tz)
    end = datetime.combine(ends_on + timedelta(days=1), time(), tz)
    pages = await pages_between(conn, user_id, start, end, tz)
    return int(books), sum(pages.values())


async def tally(conn: Any, user_id: int, row: Any, starts_on: date, ends_on: date,
                now: datetime) -> Tally:
    """Progress and pace of a goal row (`books`, `pages` targets and `reached_at`)."""
    books_done, pages_done = await done(conn, user_id, starts_on, ends_on)
    share = period_share(starts_on, ends_on, local_day(now, await time_zone_of(conn, user_id)))
    books_ahead = books_done - math.floor(row["books"] * share) if row["books"] else None
    pages_ahead = pages_done - math.floor(row["pages"] * share) if row["pages"] else None
    reached = row["reached_at"] is not None
    return Tally(books_done=books_done, pages_done=pages_done, books_ahead=books_ahead,
                 pages_ahead=pages_ahead, pace=pace_text(books_ahead, pages_ahead, reached),
                 reached=reached)


async def reach(db: Database, redis: Redis | None, user_id: int, row: Any, starts_on: date,
                ends_on: date, at: datetime, mark_sql: str, *, target_kind: str,
                target_id: int, label: int | str) -> bool:
    """Mark the goal `row` reached if it is met now (`mark_sql`: the conditional UPDATE of its
    table, `$1` id, `$2` instant, RETURNING id) and notify its reader; False when not met or
    another check won."""
    books, pages = await done(db.pool, user_id, starts_on, ends_on)
    if (row["books"] and books < row["books"]) or (row["pages"] and pages < row["pages"]):
        return False
    if await db.pool.fetchval(mark_sql, row["id"], at) is None:
        return False
    summary = " and ".join(f"{n} {unit}" for n, unit in ((row["books"], "books"),
                                                         (row["pages"], "pages")) if n)
    await notify(db, redis, recipient_id=user_id, type="goal_reached", target_kind=target_kind,
                 target_id=target_id, payload={"year": label, "summary": summary})
    return True
