"""Reading goals over a custom period (beside the yearly goal): books and/or pages between two
local dates, both included, with progress, pace and "reached" exactly once.

The same rules as `goals`: pace compares what is done with the share of the period elapsed,
today included (`books_ahead` negative when behind); books count reads finished within the
period, pages the reading log's gains within it (the reader's time zone); a goal is marked
reached the first time a check finds it met (one conditional UPDATE) and notified
(`goal_reached`). A period is at most ten years long.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.errors import Invalid, NotFound
from domain.ids import in_range
from domain.notifications.service import notify
from domain.reading.clock import local_day, time_zone_of, utcnow
from domain.reading.goals import BookTarget, PageTarget, pace_text
from domain.reading.stats import pages_between

MAX_DAYS = 3660
GoalName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class PeriodGoalIn(msgspec.Struct, forbid_unknown_fields=True):
    starts_on: date
    ends_on: date  # included
    books: BookTarget | None = None
    pages: PageTarget | None = None
    name: GoalName | None = None


class PeriodGoalOut(msgspec.Struct, frozen=True):
    id: int
    name: str | None
    starts_on: date
    ends_on: date
    books: int | None
    pages: int | None
    books_done: int
    pages_done: int
    books_ahead: int | None    # negative: behind schedule
    pages_ahead: int | None
    pace: str
    reached: bool
    reached_at: datetime | None


def goal_not_found() -> NotFound:
    return NotFound("no such period goal", code="period_goal_not_found")


def period_share(starts_on: date, ends_on: date, today: date) -> float:
    """How much of the period has gone by at the end of `today` (0 before, 1 after it)."""
    if today < starts_on:
        return 0.0
    if today >= ends_on:
        return 1.0
    return ((today - starts_on).days + 1) / ((ends_on - starts_on).days + 1)


def check_period(data: PeriodGoalIn) -> None:
    if data.books is None and data.pages is None:
        raise Invalid("give a books or a pages target (or both)", code="goal_empty",
                      field="books")
    if data.ends_on < data.starts_on:
        raise Invalid("ends_on must not be before starts_on", code="invalid_period",
                      field="ends_on")
    if (data.ends_on - data.starts_on).days > MAX_DAYS or data.starts_on.year < 1900 \
            or data.ends_on.year > 9998:
        raise Invalid("a period goal spans at most ten years (1900-9998)",
                      code="invalid_period", field="ends_on")


async def _done(conn: Any, user_id: int, starts_on: date, ends_on: date) -> tuple[int, int]:
    tz = await time_zone_of(conn, user_id)
    books = await conn.fetchval(
        "SELECT count(*) FROM reading_reads r JOIN reading_states s ON s.id = r.state_id"
        " WHERE s.user_id = $1 AND r.outcome = 'read' AND r.finished_on >= $2"
        " AND r.finished_on <= $3", user_id, starts_on, ends_on)
    start = datetime.combine(starts_on, time(), tz)
    end = datetime.combine(ends_on + timedelta(days=1), time(), tz)
    pages = await pages_between(conn, user_id, start, end, tz)
    return int(books), sum(pages.values())


async def _out(conn: Any, user_id: int, row: Any, now: datetime) -> PeriodGoalOut:
    books_done, pages_done = await _done(conn, user_id, row["starts_on"], row["ends_on"])
    share = period_share(row["starts_on"], row["ends_on"],
                         local_day(now, await time_zone_of(conn, user_id)))
    books_ahead = books_done - math.floor(row["books"] * share) if row["books"] else None
    pages_ahead = pages_done - math.floor(row["pages"] * share) if row["pages"] else None
    reached = row["reached_at"] is not None
    return PeriodGoalOut(
        id=int(row["id"]), name=row["name"], starts_on=row["starts_on"], ends_on=row["ends_on"],
        books=row["books"], pages=row["pages"], books_done=books_done, pages_done=pages_done,
        books_ahead=books_ahead, pages_ahead=pages_ahead,
        pace=pace_text(books_ahead, pages_ahead, reached), reached=reached,
        reached_at=row["reached_at"])


async def _row(db: Database, user_id: int, goal_id: int) -> Any:
    row = None
    if in_range(goal_id):
        row = await db.pool.fetchrow("SELECT * FROM reading_period_goals WHERE id = $1"
                                     " AND user_id = $2", goal_id, user_id)
    if row is None:
        raise goal_not_found()
    return row


async def get_goal(db: Database, user_id: int, goal_id: int, *,
                   now: datetime | None = None) -> PeriodGoalOut:
    return await _out(db.pool, user_id, await _row(db, user_id, goal_id), now or utcnow())


async def list_goals(db: Database, user_id: int, *,
                     now: datetime | None = None) -> list[PeriodGoalOut]:
    rows = await db.pool.fetch("SELECT * FROM reading_period_goals WHERE user_id = $1"
                               " ORDER BY ends_on DESC, id DESC LIMIT 100", user_id)
    at = now or utcnow()
    return [await _out(db.pool, user_id, r, at) for r in rows]


async def create_goal(db: Database, redis: Redis | None, user_id: int, data: PeriodGoalIn, *,
                      now: datetime | None = None) -> PeriodGoalOut:
    """A new period goal (checked at once: a period already met is reached now)."""
    check_period(data)
    count = await db.pool.fetchval("SELECT count(*) FROM reading_period_goals"
                                   " WHERE user_id = $1", user_id)
    if count >= 100:
        raise Invalid("at most 100 period goals: delete one first", code="too_many_goals")
    goal_id = await db.pool.fetchval(
        "INSERT INTO reading_period_goals (user_id, name, starts_on, ends_on, books, pages)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", user_id, data.name, data.starts_on,
        data.ends_on, data.books, data.pages)
    await check_reached(db, redis, user_id, now=now)
    return await get_goal(db, user_id, int(goal_id), now=now)


async def delete_goal(db: Database, user_id: int, goal_id: int) -> None:
    await _row(db, user_id, goal_id)
    await db.pool.execute("DELETE FROM reading_period_goals WHERE id = $1", goal_id)


async def check_reached(db: Database, redis: Redis | None, user_id: int, *,
                        now: datetime | None = None) -> int:
    """Mark every open period goal that is now met reached (each at most once) and notify;
    after a commit. Returns how many were reached by this call."""
    at = now or utcnow()
    today = local_day(at, await time_zone_of(db.pool, user_id))
    rows = await db.pool.fetch("SELECT * FROM reading_period_goals WHERE user_id = $1"
                               " AND reached_at IS NULL AND starts_on <= $2", user_id, today)
    won_count = 0
    for row in rows:
        books, pages = await _done(db.pool, user_id, row["starts_on"], row["ends_on"])
        if (row["books"] and books < row["books"]) or (row["pages"] and pages < row["pages"]):
            continue
        won = await db.pool.fetchval("UPDATE reading_period_goals SET reached_at = $2"
                                     " WHERE id = $1 AND reached_at IS NULL RETURNING id",
                                     row["id"], at)
        if won is None:
            continue
        won_count += 1
        summary = " and ".join(f"{n} {unit}" for n, unit in ((row["books"], "books"),
                                                             (row["pages"], "pages")) if n)
        label = row["name"] or f"{row['starts_on']} to {row['ends_on']}"
        await notify(db, redis, recipient_id=user_id, type="goal_reached",
                     target_kind="period_goal", target_id=int(row["id"]),
                     payload={"year": label, "summary": summary})
    return won_count
