"""Club polls: single or multiple choice over free-text or catalog-book options, an optional
closing time, anonymous or not; one ballot per member (changeable until close: a new ballot
replaces the old one under a lock on the member's row, so two processes voting at once still
leave one ballot). Per-option counts show by the poll's `results` mode (`live`: to every
reader and live on the club room; `after_vote`; `after_close`); a poll closes once (the worker
at `closes_at`, or an organiser early: members are notified) and its results are kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.clubs import notices
from domain.clubs.clubs import fetch, organiser
from domain.clubs.event_schemas import PollIn, PollOptionOut, PollOut
from domain.clubs.room_events import OptionCount, PollData
from domain.clubs.venue import check_club_readable
from domain.db import Database
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.social.rules import hidden_user_ids


def _closed(row: Any, now: datetime) -> bool:
    return row["closed_at"] is not None or (row["closes_at"] is not None
                                            and row["closes_at"] <= now)


def _shows(row: Any, closed: bool, voted: bool) -> bool:
    return closed or row["results"] == "live" or (row["results"] == "after_vote" and voted)


async def get(db: Database, club_id: int, poll_id: int, viewer: Principal | None) -> PollOut:
    await check_club_readable(db, club_id, viewer)
    row = await db.pool.fetchrow("SELECT * FROM club_polls WHERE id = $1 AND club_id = $2",
                                 poll_id, club_id)
    if row is None:
        raise NotFound(f"no poll {poll_id}", code="poll_not_found")
    uid = viewer.user_id if viewer else 0
    hidden = list(await hidden_user_ids(db, uid)) if viewer else []
    opts = await db.pool.fetch(
        "SELECT o.id, o.label, o.book_id, (SELECT count(*) FROM club_poll_votes v WHERE"
        " v.option_id = o.id) AS votes, (SELECT array_agg(v.user_id ORDER BY v.voted_at,"
        " v.user_id) FROM club_poll_votes v WHERE v.option_id = o.id AND NOT (v.user_id ="
        " ANY($2::bigint[]))) AS voter_ids FROM club_poll_options o WHERE o.poll_id = $1"
        " ORDER BY o.position", poll_id, hidden)
    mine = [int(r["option_id"]) for r in await db.pool.fetch(
        "SELECT option_id FROM club_poll_votes WHERE poll_id = $1 AND user_id = $2"
        " ORDER BY option_id", poll_id, uid)]
    voters = int(await db.pool.fetchval("SELECT count(DISTINCT user_id) FROM club_poll_votes"
                                        " WHERE poll_id = $1", poll_id))
    closed = _closed(row, datetime.now(UTC))
    visible = _shows(row, closed, bool(mine))
    named = visible and not row["anonymous"]
    return PollOut(id=row["id"], club_id=club_id, question=row["question"],
                   multiple=row["multiple"], anonymous=row["anonymous"],
                   closes_at=row["closes_at"], closed=closed, voters=voters,
                   options=[PollOptionOut(o["id"], o["label"], o["book_id"],
                                          int(o["votes"]) if visible else None,
                                          [int(v) for v in o["voter_ids"] or ()] if named
                                          else None) for o in opts],
                   my_votes=mine, results_visible=visible, results=row["results"],
                   closed_at=row["closed_at"])


async def listing(db: Database, club_id: int, viewer: Principal | None) -> list[PollOut]:
    await check_club_readable(db, club_id, viewer)
    ids = [int(r["id"]) for r in await db.pool.fetch(
        "SELECT id FROM club_polls WHERE club_id = $1 ORDER BY id DESC LIMIT 100", club_id)]
    return [await get(db, club_id, i, viewer) for i in ids]


async def _tell_members(db: Database, redis: Redis | None, club_id: int, poll_id: int,
                        kind: str, question: str, actor: int | None) -> None:
    club = await fetch(db, club_id)
    await notices.notify_all(db, redis, await notices.member_ids(db, club_id), type=kind,
                             actor_id=actor, target_kind="club_poll", target_id=poll_id,
                             payload={"club": club["name"], "club_id": club_id,
                                      "poll_id": poll_id, "question": question})


async def create(db: Database, redis: Redis | None, club_id: int, who: Principal,
                 data: PollIn) -> PollOut:
    await organiser(db, club_id, who)
    if data.closes_at is not None and data.closes_at.tzinfo is None:
        raise Invalid("closes_at needs a time zone offset", code="invalid_poll",
                      field="closes_at")
    labels: list[tuple[str, int | None]] = []
    for i, o in enumerate(data.options):
        if o.book_id is not None:
            title = await db.pool.fetchval("SELECT title FROM books WHERE id = $1", o.book_id)
            if title is None:
                raise NotFound(f"no book {o.book_id}", code="book_not_found",
                               field=f"options[{i}].book_id")
            labels.append((o.label or str(title), o.book_id))
        elif o.label:
            labels.append((o.label, None))
        else:
            raise Invalid("an option needs a label or a book", code="invalid_poll",
                          field=f"options[{i}]")
    async with db.pool.acquire() as conn, conn.transaction():
        pid = await conn.fetchval(
            "INSERT INTO club_polls (club_id, question, multiple, anonymous, closes_at,"
            " created_by, results) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id", club_id,
            data.question, data.multiple, data.anonymous, data.closes_at, who.user_id,
            data.results)
        for i, (label, book) in enumerate(labels):
            await conn.execute("INSERT INTO club_poll_options (poll_id, position, label,"
                               " book_id) VALUES ($1, $2, $3, $4)", pid, i, label, book)
    await _tell_members(db, redis, club_id, int(pid), "club_poll_opened", data.question,
                        who.user_id)
    return await get(db, club_id, int(pid), who)


async def vote(db: Database, club_id: int, poll_id: int, who: Principal,
               option_ids: list[int]) -> PollOut:
    """Cast or replace the member's ballot (one per member, until the poll closes)."""
    chosen = sorted(set(option_ids))
    async with db.pool.acquire() as conn, conn.transaction():
        member = await conn.fetchval("SELECT user_id FROM club_members WHERE club_id = $1 AND"
                                     " user_id = $2 FOR UPDATE", club_id, who.user_id)
        if member is None:
            raise Forbidden("join the club first", code="not_member")
        poll = await conn.fetchrow("SELECT * FROM club_polls WHERE id = $1 AND club_id = $2",
                                   poll_id, club_id)
        if poll is None:
            raise NotFound(f"no poll {poll_id}", code="poll_not_found")
        if _closed(poll, datetime.now(UTC)):
            raise Conflict("the poll is closed", code="poll_closed")
        if len(chosen) > 1 and not poll["multiple"]:
            raise Invalid("this poll takes one choice", code="single_choice",
                          field="option_ids")
        valid = {int(r["id"]) for r in await conn.fetch(
            "SELECT id FROM club_poll_options WHERE poll_id = $1", poll_id)}
        if not set(chosen) <= valid:
            raise Invalid("not an option of this poll", code="invalid_option",
                          field="option_ids")
        await conn.execute("DELETE FROM club_poll_votes WHERE poll_id = $1 AND user_id = $2",
                           poll_id, who.user_id)
        await conn.executemany("INSERT INTO club_poll_votes (poll_id, user_id, option_id)"
                               " VALUES ($1, $2, $3)",
                               [(poll_id, who.user_id, o) for o in chosen])
    return await get(db, club_id, poll_id, who)


async def live_data(db: Database, club_id: int, poll_id: int) -> PollData:
    """What the club room is told about a poll: voters, and the per-option counts only when
    they show to every reader (a `live` poll, or a closed one)."""
    row = await db.pool.fetchrow("SELECT * FROM club_polls WHERE id = $1", poll_id)
    voters = int(await db.pool.fetchval("SELECT count(DISTINCT user_id) FROM club_poll_votes"
                                        " WHERE poll_id = $1", poll_id))
    closed = _closed(row, datetime.now(UTC))
    counts = None
    if _shows(row, closed, False):
        counts = [OptionCount(int(r["id"]), int(r["votes"])) for r in await db.pool.fetch(
            "SELECT o.id, (SELECT count(*) FROM club_poll_votes v WHERE v.option_id = o.id)"
            " AS votes FROM club_poll_options o WHERE o.poll_id = $1 ORDER BY o.position",
            poll_id)]
    return PollData(poll_id=poll_id, club_id=club_id, question=str(row["question"]),
                    voters=voters, closed=closed, counts=counts)


async def close(db: Database, redis: Redis | None, club_id: int, poll_id: int,
                who: Principal) -> PollOut:
    """An organiser closes a poll early (once; members are notified)."""
    await organiser(db, club_id, who)
    row = await db.pool.fetchrow("UPDATE club_polls SET closed_at = now() WHERE id = $1 AND"
                                 " club_id = $2 AND closed_at IS NULL AND (closes_at IS NULL OR"
                                 " closes_at > now()) RETURNING question", poll_id, club_id)
    if row is None:
        await get(db, club_id, poll_id, who)  # 404 when there is no such poll
        raise Conflict("the poll is closed", code="poll_closed")
    await _tell_members(db, redis, club_id, poll_id, "club_poll_closed", row["question"],
                        who.user_id)
    return await get(db, club_id, poll_id, who)


async def close_due(db: Database, redis: Redis | None, now: datetime) -> list[tuple[int, int]]:
    """The worker: every poll past its closing time is marked closed once (two workers racing
    still close it once) and its members notified; returns (club id, poll id) to announce."""
    rows = await db.pool.fetch("UPDATE club_polls SET closed_at = $1 WHERE closed_at IS NULL"
                               " AND closes_at <= $1 RETURNING id, club_id, question", now)
    for r in rows:
        await _tell_members(db, redis, int(r["club_id"]), int(r["id"]), "club_poll_closed",
                            r["question"], None)
    return [(int(r["club_id"]), int(r["id"])) for r in rows]
