"""The reading schedule of a club's current book: sections (progression ranges, by default one
per TOC chapter) with opening times; the worker opens due sections (idempotent); organisers
shift it (members are told). What a member sees of a section depends on where they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.clubs import notices
from domain.clubs.clubs import fetch, organiser, zone
from domain.clubs.schemas import (
    ScheduleIn,
    SectionIn,
    SectionOut,
    SectionPage,
    ShiftIn,
    ThreadChange,
)
from domain.clubs.venue import check_club_readable
from domain.db import Database
from domain.errors import Conflict, Invalid, NotFound
from domain.reading.progress import Advance, advance, furthest
from domain.social.rules import hidden_user_ids

_SECTIONS_SQL = (
    "SELECT s.*, c.time_zone, (SELECT count(*) FROM club_thread_messages m WHERE"
    " m.section_id = s.id AND m.deleted_at IS NULL AND NOT (m.author_id ="
    " ANY($2::bigint[]))) AS post_count"
    " FROM club_sections s JOIN clubs c ON c.id = s.club_id AND s.book_id = c.book_id"
    " WHERE s.club_id = $1")


def thread_room(section_id: int) -> str:
    return f"club_thread:{section_id}"


def _out(r: Any, reached: float | None, organiser_view: bool) -> SectionOut:
    start = float(r["range_start"])
    locked = not organiser_view and (reached or 0.0) < start
    return SectionOut(id=r["id"], club_id=r["club_id"], book_id=r["book_id"],
                      position=r["position"], title=r["title"], start=start,
                      end=float(r["range_end"]), opens_at=r["opens_at"],
                      open=r["opened_at"] is not None, locked=locked, unlocks_at=start,
                      post_count=int(r["post_count"]), room=thread_room(int(r["id"])),
                      thread_locked=bool(r["thread_locked"]),
                      pinned_message_id=r["pinned_message_id"],
                      discussion_at=r["discussion_at"], time_zone=r["time_zone"])


async def _view(db: Database, club_id: int, viewer: Principal | None) -> tuple[Any, float, bool,
                                                                               list[int]]:
    role = await check_club_readable(db, club_id, viewer)  # private clubs: members only
    row = await fetch(db, club_id)
    reached = 0.0
    hidden: list[int] = []
    if viewer is not None and row["book_id"] is not None:
        reached = await furthest(db.pool, viewer.user_id, int(row["book_id"]))
        hidden = list(await hidden_user_ids(db, viewer.user_id))
    org = role in ("owner", "moderator") or bool(viewer and viewer.is_moderator)
    return row, reached, org, hidden


async def sections(db: Database, club_id: int, viewer: Principal | None) -> SectionPage:
    """Every section of the current book: a member behind a section's start sees it `locked`
    (title, dates, counts; where it unlocks), never its posts (the shield gates those)."""
    _, reached, org, hidden = await _view(db, club_id, viewer)
    rows = await db.pool.fetch(_SECTIONS_SQL + " ORDER BY s.position", club_id, hidden)
    return SectionPage([_out(r, reached, org) for r in rows])


async def section(db: Database, club_id: int, section_id: int,
                  viewer: Principal | None) -> SectionOut:
    _, reached, org, hidden = await _view(db, club_id, viewer)
    row = await db.pool.fetchrow(_SECTIONS_SQL + " AND s.id = $3", club_id, hidden, section_id)
    if row is None:
        raise NotFound(f"no section {section_id}", code="section_not_found")
    return _out(row, reached, org)


def _default_sections(starts: list[float], first: datetime, every: int) -> list[SectionIn]:
    bounds = [*starts, 1.0]
    return [SectionIn(title=f"Chapter {i + 1}", start=bounds[i], end=bounds[i + 1],
                      opens_at=first + timedelta(days=every * i))
            for i in range(len(starts)) if bounds[i] < bounds[i + 1]]


def _local(at: datetime, tz: ZoneInfo) -> datetime:
    """A schedule time: one without an offset is a wall-clock time in the club's zone."""
    return at if at.tzinfo is not None else at.replace(tzinfo=tz)


async def set_schedule(db: Database, club_id: int, who: Principal, data: ScheduleIn) -> None:
    """Replace the not-yet-opened schedule of the current book (organisers); times without an
    offset are in the club's time zone."""
    row, _ = await organiser(db, club_id, who)
    if row["book_id"] is None:
        raise Conflict("pick the club's current book first", code="no_book")
    book = int(row["book_id"])
    tz = zone(str(row["time_zone"]))
    items = data.sections
    if items is None:
        starts = [float(r["start"]) for r in await db.pool.fetch(
            "SELECT start FROM book_chapters WHERE book_id = $1 ORDER BY position", book)]
        first = _local(data.first_opens_at, tz) if data.first_opens_at else datetime.now(UTC)
        items = _default_sections(starts or [0.0], first, data.every_days)
    for i, s in enumerate(items):
        if s.start >= s.end:
            raise Invalid("a section ends after it starts", code="invalid_section",
                          field=f"sections[{i}].end")
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM club_sections WHERE club_id = $1 AND book_id = $2",
                           club_id, book)
        for i, s in enumerate(items):
            await conn.execute(
                "INSERT INTO club_sections (club_id, book_id, position, title, range_start,"
                " range_end, opens_at, discussion_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                club_id, book, i, s.title, s.start, s.end, _local(s.opens_at, tz),
                _local(s.discussion_at, tz) if s.discussion_at else None)


async def shift(db: Database, redis: Redis | None, club_id: int, who: Principal,
                data: ShiftIn) -> int:
    """Move the unopened sections (or one) by `hours`; every member is notified."""
    row, _ = await organiser(db, club_id, who)
    moved = await db.pool.fetch(
        "UPDATE club_sections SET opens_at = opens_at + make_interval(hours => $2),"
        " discussion_at = discussion_at + make_interval(hours => $2) WHERE"
        " club_id = $1 AND opened_at IS NULL AND ($3::bigint IS NULL OR id = $3) RETURNING id",
        club_id, data.hours, data.section_id)
    if data.section_id is not None and not moved:
        raise NotFound(f"no unopened section {data.section_id}", code="section_not_found",
                       field="section_id")
    await notices.notify_all(db, redis, await notices.member_ids(db, club_id),
                             type="club_schedule_changed", actor_id=who.user_id,
                             target_kind="club", target_id=club_id,
                             payload={"club": row["name"], "club_id": club_id,
                                      "hours": data.hours, "sections": len(moved)})
    return len(moved)


async def open_due(db: Database, now: datetime) -> list[Any]:
    """Mark every due section open (each once, even with two workers racing) and return them
    with their club's name (the announcements are the caller's)."""
    return list(await db.pool.fetch(
        "UPDATE club_sections s SET opened_at = $1 FROM clubs c WHERE c.id = s.club_id AND"
        " s.opened_at IS NULL AND s.opens_at <= $1 RETURNING s.id, s.club_id, s.title,"
        " s.range_start, s.range_end, s.opens_at, c.name AS club_name", now))


async def mark_read(db: Database, club_id: int, section_id: int, who: Principal) -> Advance:
    """"I've read up to here": the member's furthest in the club's book moves to the section's
    end (through the one entry point of the reading state; never backwards). The caller hands
    `passive_events([it])` to the reading life's after-commit path (unlocks in every room)."""
    s = await db.pool.fetchrow("SELECT s.book_id, s.range_end FROM club_sections s JOIN"
                               " club_members m ON m.club_id = s.club_id AND m.user_id = $3"
                               " WHERE s.id = $1 AND s.club_id = $2", section_id, club_id,
                               who.user_id)
    if s is None:
        raise NotFound(f"no section {section_id} of a club you are in",
                       code="section_not_found")
    async with db.pool.acquire() as conn, conn.transaction():
        return await advance(conn, who.user_id, int(s["book_id"]), float(s["range_end"]),
                             "club")


async def moderate_thread(db: Database, club_id: int, section_id: int, who: Principal,
                          data: ThreadChange) -> SectionOut:
    """Organisers lock a section thread (members cannot post; organisers still can) or pin
    one of its posts (only its id is shown: the post itself stays behind the shield)."""
    await organiser(db, club_id, who)
    if data.locked is not msgspec.UNSET:
        await db.pool.execute("UPDATE club_sections SET thread_locked = $3 WHERE id = $1 AND"
                              " club_id = $2", section_id, club_id, data.locked)
    if data.pinned_message_id is not msgspec.UNSET:
        pin = data.pinned_message_id
        if pin is not None and not await db.pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM club_thread_messages WHERE id = $1 AND"
                " section_id = $2 AND deleted_at IS NULL)", pin, section_id):
            raise NotFound(f"no post {pin} in this thread", code="message_not_found",
                           field="pinned_message_id")
        await db.pool.execute("UPDATE club_sections SET pinned_message_id = $3 WHERE id = $1"
                              " AND club_id = $2", section_id, club_id, pin)
    return await section(db, club_id, section_id, who)
