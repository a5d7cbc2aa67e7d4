"""Club events: create, edit (SEQUENCE + 1, attendees told), cancel, RSVP with capacity, the
attendee list, calendar feeds (per club, per member, with private tokens for non-public clubs)
and reminders (24 h and 1 h before, once each, through the notification registry)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import msgspec
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.clubs.clubs import fetch, organiser, zone
from domain.clubs.event_schemas import Attendee, EventIn, EventOut, EventUpdate
from domain.clubs.venue import check_club_readable
from domain.db import Database
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.notifications.service import notify
from domain.sessions.invitations import invite
from domain.sessions.schemas import InvitationCreate, SessionCreate
from domain.sessions.sessions import create_session
from domain.social.rules import hidden_user_ids

EVENT_SQL = ("SELECT e.*, (SELECT count(*) FILTER (WHERE answer = 'going') FROM club_rsvps r"
             " WHERE r.event_id = e.id) AS going, (SELECT count(*) FILTER (WHERE answer ="
             " 'maybe') FROM club_rsvps r WHERE r.event_id = e.id) AS maybe, (SELECT count(*)"
             " FILTER (WHERE answer = 'no') FROM club_rsvps r WHERE r.event_id = e.id) AS no,"
             " (SELECT answer FROM club_rsvps r WHERE r.event_id = e.id AND r.user_id = $2)"
             " AS mine FROM club_events e")
LEADS = {"24h": timedelta(hours=24), "1h": timedelta(hours=1)}


def _out(r: Any) -> EventOut:
    return EventOut(id=r["id"], club_id=r["club_id"], title=r["title"],
                    description=r["description"], kind=r["kind"], starts_at=r["starts_at"],
                    ends_at=r["ends_at"], time_zone=r["time_zone"], location=r["location"],
                    url=r["url"], capacity=r["capacity"], sequence=r["sequence"],
                    status=r["status"], going=int(r["going"]), maybe=int(r["maybe"]),
                    no=int(r["no"]), my_answer=r["mine"], session_id=r["session_id"])


def _check_times(starts: datetime, ends: datetime) -> None:
    if starts.tzinfo is None or ends.tzinfo is None:
        raise Invalid("times need a time zone offset", code="invalid_event", field="starts_at")
    if ends <= starts:
        raise Invalid("an event ends after it starts", code="invalid_event", field="ends_at")


async def get(db: Database, club_id: int, event_id: int, viewer: Principal | None) -> EventOut:
    await check_club_readable(db, club_id, viewer)
    row = await db.pool.fetchrow(EVENT_SQL + " WHERE e.id = $1 AND e.club_id = $3", event_id,
                                 viewer.user_id if viewer else 0, club_id)
    if row is None:
        raise NotFound(f"no event {event_id}", code="event_not_found")
    return _out(row)


async def listing(db: Database, club_id: int, viewer: Principal | None) -> list[EventOut]:
    await check_club_readable(db, club_id, viewer)
    rows = await db.pool.fetch(EVENT_SQL + " WHERE e.club_id = $1 ORDER BY e.starts_at, e.id"
                               " LIMIT 500", club_id, viewer.user_id if viewer else 0)
    return [_out(r) for r in rows]


async def _linked_session(db: Database, redis: Redis | None, club: Any, who: Principal,
                          data: EventIn, public_url: str) -> int:
    """A co-reading event's session: invite-only, scheduled at the event's start on the club's
    book (the sessions worker starts it), every current member invited."""
    if club["book_id"] is None:
        raise Conflict("pick the club's current book before a co-reading event",
                       code="no_book")
    session = await create_session(db, who, SessionCreate(
        book_id=int(club["book_id"]), title=data.title[:120], visibility="invite",
        scheduled_at=data.starts_at, shield_default=True))
    ids = [int(r["user_id"]) for r in await db.pool.fetch(
        "SELECT user_id FROM club_members WHERE club_id = $1 AND user_id <> $2 ORDER BY"
        " joined_at", int(club["id"]), who.user_id)]
    for i in range(0, len(ids), 50):  # the invitation API takes 50 at a time
        await invite(db, redis, who, session.id, InvitationCreate(user_ids=ids[i:i + 50]),
                     public_url)
    return session.id


async def invite_to_coreading(db: Database, redis: Redis | None, club_id: int,
                              user_id: int, public_url: str = "") -> int:
    """A member who joins after a co-reading event was made is invited to its linked session
    too (every upcoming, confirmed one of the club), by the session's host."""
    rows = await db.pool.fetch(
        "SELECT e.session_id, s.host_id FROM club_events e JOIN reading_sessions s ON"
        " s.id = e.session_id WHERE e.club_id = $1 AND e.kind = 'coreading' AND e.status ="
        " 'confirmed' AND e.ends_at > now() AND s.status <> 'ended'", club_id)
    for r in rows:
        host = Principal(user_id=int(r["host_id"]), role="reader", jti="", exp=0)
        await invite(db, redis, host, int(r["session_id"]),
                     InvitationCreate(user_ids=[user_id]), public_url)
    return len(rows)


async def create(db: Database, club_id: int, who: Principal, data: EventIn,
                 redis: Redis | None = None, public_url: str = "") -> EventOut:
    """Organisers create an event; a `coreading` one also gets its linked session."""
    club, _ = await organiser(db, club_id, who)
    _check_times(data.starts_at, data.ends_at)
    zone(data.time_zone)
    session_id = None
    if data.kind == "coreading":
        session_id = await _linked_session(db, redis, club, who, data, public_url)
    eid = await db.pool.fetchval(
        "INSERT INTO club_events (club_id, title, description, kind, starts_at, ends_at,"
        " time_zone, location, url, capacity, created_by, session_id) VALUES ($1, $2, $3, $4,"
        " $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id", club_id, data.title,
        data.description, data.kind, data.starts_at, data.ends_at, data.time_zone,
        data.location, data.url, data.capacity, who.user_id, session_id)
    return await get(db, club_id, int(eid), who)


async def _tell_attendees(db: Database, redis: Redis | None, row: Any, who: Principal,
                          what: str) -> None:
    club = await fetch(db, int(row["club_id"]))
    for r in await db.pool.fetch("SELECT user_id FROM club_rsvps WHERE event_id = $1 AND"
                                 " answer <> 'no'", row["id"]):
        await notify(db, redis, recipient_id=int(r["user_id"]), type="club_event_changed",
                     actor_id=who.user_id, target_kind="club_event", target_id=int(row["id"]),
                     payload={"club": club["name"], "club_id": int(row["club_id"]),
                              "event_id": int(row["id"]), "title": row["title"],
                              "change": what, "starts_at": row["starts_at"].isoformat()})


async def update(db: Database, redis: Redis | None, club_id: int, event_id: int,
                 who: Principal, data: EventUpdate) -> EventOut:
    """Organisers edit an event: SEQUENCE rises, attendees (going/maybe) are told."""
    await organiser(db, club_id, who)
    current = await get(db, club_id, event_id, who)
    if current.status == "cancelled":
        raise Conflict("the event is cancelled", code="event_cancelled")
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if "time_zone" in changes:
        zone(changes["time_zone"])
    _check_times(changes.get("starts_at", current.starts_at),
                 changes.get("ends_at", current.ends_at))
    if changes:
        cols = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(changes))
        row = await db.pool.fetchrow(
            f"UPDATE club_events SET {cols}, sequence = sequence + 1, updated_at = now()"
            " WHERE id = $1 RETURNING *", event_id, *changes.values())
        await _tell_attendees(db, redis, row, who, "changed")
    return await get(db, club_id, event_id, who)


async def cancel(db: Database, redis: Redis | None, club_id: int, event_id: int,
                 who: Principal) -> EventOut:
    await organiser(db, club_id, who)
    row = await db.pool.fetchrow(
        "UPDATE club_events SET status = 'cancelled', sequence = sequence + 1, updated_at ="
        " now() WHERE id = $1 AND club_id = $2 AND status = 'confirmed' RETURNING *",
        event_id, club_id)
    if row is None:
        await get(db, club_id, event_id, who)  # 404 when there is no such event
        raise Conflict("the event is cancelled already", code="event_cancelled")
    await _tell_attendees(db, redis, row, who, "cancelled")
    return await get(db, club_id, event_id, who)


async def rsvp(db: Database, club_id: int, event_id: int, who: Principal,
               answer: str) -> EventOut:
    """A member answers going / maybe / no (changeable); `going` within the capacity."""
    if await db.pool.fetchval("SELECT role FROM club_members WHERE club_id = $1 AND"
                              " user_id = $2", club_id, who.user_id) is None:
        raise Forbidden("join the club first", code="not_member")
    async with db.pool.acquire() as conn, conn.transaction():
        ev = await conn.fetchrow("SELECT capacity, status FROM club_events WHERE id = $1 AND"
                                 " club_id = $2 FOR UPDATE", event_id, club_id)
        if ev is None:
            raise NotFound(f"no event {event_id}", code="event_not_found")
        if ev["status"] == "cancelled":
            raise Conflict("the event is cancelled", code="event_cancelled")
        if answer == "going" and ev["capacity"] is not None and await conn.fetchval(
                "SELECT count(*) FROM club_rsvps WHERE event_id = $1 AND answer = 'going'"
                " AND user_id <> $2", event_id, who.user_id) >= ev["capacity"]:
            raise Conflict("the event is full", code="event_full")
        await conn.execute("INSERT INTO club_rsvps (event_id, user_id, answer) VALUES ($1, $2,"
                           " $3) ON CONFLICT (event_id, user_id) DO UPDATE SET answer ="
                           " EXCLUDED.answer, updated_at = now()", event_id, who.user_id, answer)
    return await get(db, club_id, event_id, who)


async def attendees(db: Database, club_id: int, event_id: int,
                    viewer: Principal | None) -> list[Attendee]:
    await get(db, club_id, event_id, viewer)
    hidden = list(await hidden_user_ids(db, viewer.user_id)) if viewer else []
    rows = await db.pool.fetch(
        "SELECT r.user_id, u.display_name, r.answer FROM club_rsvps r JOIN users u ON"
        " u.id = r.user_id WHERE r.event_id = $1 AND NOT (r.user_id = ANY($2::bigint[]))"
        " ORDER BY r.updated_at, r.user_id", event_id, hidden)
    return [Attendee(r["user_id"], r["display_name"], r["answer"]) for r in rows]


async def calendar_token(db: Database, club_id: int, who: Principal) -> str:
    """The member's private token for this club's feed (made once)."""
    await check_club_readable(db, club_id, who)
    token = secrets.token_urlsafe(24)
    got = await db.pool.fetchval(
        "INSERT INTO club_calendar_tokens (token, club_id, user_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (club_id, user_id) DO UPDATE SET club_id = EXCLUDED.club_id"
        " RETURNING token", token, club_id, who.user_id)
    return str(got)


async def feed_rows(db: Database, club_id: int, token: str | None,
                    viewer: Principal | None) -> tuple[str, list[Any]]:
    """The club's events for its calendar feed: public clubs for anyone, others with a
    member's token (or a member's own credentials)."""
    club = await fetch(db, club_id)
    if club["visibility"] != "public":
        ok = token is not None and bool(await db.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM club_calendar_tokens t JOIN club_members m ON"
            " m.club_id = t.club_id AND m.user_id = t.user_id WHERE t.token = $1 AND"
            " t.club_id = $2)", token, club_id))
        if not ok:
            await check_club_readable(db, club_id, viewer)
    rows = await db.pool.fetch("SELECT * FROM club_events WHERE club_id = $1 ORDER BY"
                               " starts_at, id", club_id)
    return str(club["name"]), list(rows)


async def member_feed_rows(db: Database, user_id: int) -> list[Any]:
    """Every event of every club the member is in (their personal calendar)."""
    return list(await db.pool.fetch(
        "SELECT e.* FROM club_events e JOIN club_members m ON m.club_id = e.club_id WHERE"
        " m.user_id = $1 ORDER BY e.starts_at, e.id", user_id))


async def remind_due(db: Database, redis: Redis | None, now: datetime) -> int:
    """Remind everyone going/maybe of each event starting within 24 h and within 1 h, once
    per lead (the reminder row is the idempotency key)."""
    sent = 0
    for lead, delta in LEADS.items():
        rows = await db.pool.fetch(
            "INSERT INTO club_event_reminders (event_id, user_id, lead) SELECT e.id,"
            " r.user_id, $3 FROM club_events e JOIN club_rsvps r ON r.event_id = e.id AND"
            " r.answer <> 'no' WHERE e.status = 'confirmed' AND e.starts_at > $1 AND"
            " e.starts_at <= $2 ON CONFLICT DO NOTHING RETURNING event_id, user_id",
            now, now + delta, lead)
        for r in rows:
            ev = await db.pool.fetchrow("SELECT e.title, e.club_id, e.starts_at, c.name FROM"
                                        " club_events e JOIN clubs c ON c.id = e.club_id"
                                        " WHERE e.id = $1", r["event_id"])
            nid = await notify(db, redis, recipient_id=int(r["user_id"]),
                               type="club_event_reminder", target_kind="club_event",
                               target_id=int(r["event_id"]), payload={
                                   "club": ev["name"], "club_id": int(ev["club_id"]),
                                   "event_id": int(r["event_id"]), "title": ev["title"],
                                   "lead": lead, "starts_at": ev["starts_at"].isoformat()})
            sent += nid is not None
    return sent
