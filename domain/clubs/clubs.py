"""Clubs themselves: create, read (who may see which club), update, the public directory
(full-text search, filters, activity order) and "clubs reading this book"."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
import msgspec
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.catalog.cursor import decode_cursor, encode_cursor, fingerprint
from domain.clubs import books
from domain.clubs.schemas import ClubCreate, ClubOut, ClubPage, ClubUpdate
from domain.db import Database
from domain.errors import Conflict, Forbidden, Invalid, NotFound

ORGANISERS = ("owner", "moderator")


def zone(name: str, field: str = "time_zone") -> ZoneInfo:
    """An IANA time zone (`Europe/Paris`), or `invalid_time_zone`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a folder
        raise Invalid(f"{name!r} is not a known time zone", code="invalid_time_zone",
                      field=field) from None

CLUB_SQL = ("SELECT c.*, (SELECT count(*) FROM club_members m WHERE m.club_id = c.id)"
            " AS member_count FROM clubs c")


def room_of(club_id: int) -> str:
    return f"club:{club_id}"


def not_found(ref: object) -> NotFound:
    return NotFound(f"no club {ref}", code="club_not_found")


def club_out(row: Any, role: str | None = None, requested: bool = False) -> ClubOut:
    return ClubOut(id=row["id"], slug=row["slug"], name=row["name"],
                   description=row["description"], cover_url=row["cover_url"],
                   visibility=row["visibility"], join_policy=row["join_policy"],
                   member_cap=row["member_cap"], rules=row["rules"], language=row["language"],
                   owner_id=row["owner_id"], book_id=row["book_id"],
                   member_count=int(row["member_count"]), created_at=row["created_at"],
                   active_at=row["active_at"], room=room_of(int(row["id"])),
                   time_zone=row["time_zone"],
                   my_role=role,  # type: ignore[arg-type]
                   requested=requested)


async def fetch(db: Database, club_id: int) -> Any:
    row = await db.pool.fetchrow(CLUB_SQL + " WHERE c.id = $1", club_id)
    if row is None:
        raise not_found(club_id)
    return row


async def role_of(db: Database, club_id: int, user_id: int) -> str | None:
    role = await db.pool.fetchval("SELECT role FROM club_members WHERE club_id = $1"
                                  " AND user_id = $2", club_id, user_id)
    return str(role) if role is not None else None


async def is_banned(db: Database, club_id: int, user_id: int) -> bool:
    return bool(await db.pool.fetchval("SELECT EXISTS (SELECT 1 FROM club_bans WHERE"
                                       " club_id = $1 AND user_id = $2)", club_id, user_id))


async def visible(db: Database, row: Any, viewer: Principal | None) -> tuple[bool, str | None]:
    """(may `viewer` see this club at all, their role). Staff see every club; a banned user
    sees none; a secret club only its members (and holders of a valid invitation link, checked
    when joining); public and private clubs everyone else."""
    if viewer is None:
        return row["visibility"] != "secret", None
    role = await role_of(db, int(row["id"]), viewer.user_id)
    if viewer.is_moderator or role is not None:
        return True, role
    if await is_banned(db, int(row["id"]), viewer.user_id):
        return False, None
    return row["visibility"] != "secret", None


async def readable(db: Database, club_id: int, viewer: Principal | None) -> tuple[Any, str | None]:
    """The club row and the viewer's role, or 404 (`club_not_found`) when they may not see it."""
    row = await fetch(db, club_id)
    ok, role = await visible(db, row, viewer)
    if not ok:
        raise not_found(club_id)
    return row, role


async def organiser(db: Database, club_id: int, who: Principal,
                    owner_only: bool = False) -> tuple[Any, str | None]:
    """The club for one of its organisers (owner, moderators; `owner_only`), else 403/404."""
    row, role = await readable(db, club_id, who)
    allowed = ("owner",) if owner_only else ORGANISERS
    if role not in allowed and not who.is_moderator:
        what = "the owner" if owner_only else "the club's owner or moderators"
        raise Forbidden(f"only {what} may do this", code="not_organiser")
    return row, role


async def _check_book(db: Database, book_id: int | None) -> None:
    if book_id is not None and not await db.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM books WHERE id = $1)", book_id):
        raise NotFound(f"no book {book_id}", code="book_not_found", field="book_id")


async def create(db: Database, who: Principal, data: ClubCreate) -> ClubOut:
    """A new club; its creator is the owner and first member."""
    await _check_book(db, data.book_id)
    zone(data.time_zone)
    async with db.pool.acquire() as conn, conn.transaction():
        try:
            cid = await conn.fetchval(
                "INSERT INTO clubs (slug, name, description, cover_url, visibility, join_policy,"
                " member_cap, rules, language, owner_id, book_id, time_zone) VALUES ($1, $2, $3,"
                " $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id", data.slug,
                data.name.strip(), data.description, data.cover_url, data.visibility,
                data.join_policy, data.member_cap, data.rules, data.language, who.user_id,
                data.book_id, data.time_zone)
        except asyncpg.UniqueViolationError:
            raise Conflict(f"the slug {data.slug!r} is taken", code="slug_taken",
                           field="slug") from None
        await conn.execute("INSERT INTO club_members (club_id, user_id, role) VALUES"
                           " ($1, $2, 'owner')", cid, who.user_id)
        if data.book_id is not None:
            await conn.execute("INSERT INTO club_books (club_id, book_id) VALUES ($1, $2)",
                               cid, data.book_id)
    return club_out(await fetch(db, int(cid)), "owner")


async def get(db: Database, club_id: int, viewer: Principal | None) -> ClubOut:
    row, role = await readable(db, club_id, viewer)
    requested = False
    if viewer is not None and role is None:
        requested = bool(await db.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM club_join_requests WHERE club_id = $1 AND"
            " user_id = $2 AND status = 'pending')", club_id, viewer.user_id))
    return club_out(row, role, requested)


async def by_slug(db: Database, slug: str, viewer: Principal | None) -> ClubOut:
    cid = await db.pool.fetchval("SELECT id FROM clubs WHERE slug = $1", slug.lower())
    if cid is None:
        raise not_found(slug)
    return await get(db, int(cid), viewer)


async def update(db: Database, club_id: int, who: Principal, data: ClubUpdate,
                 redis: Redis | None = None) -> ClubOut:
    """Organisers edit the club (visibility and join policy: the owner only). A public club
    switching books keeps the old one as a past book (`domain.clubs.books`)."""
    row, role = await organiser(db, club_id, who)
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if ({"visibility", "join_policy"} & changes.keys()) and role != "owner" \
            and not who.is_moderator:
        raise Forbidden("only the owner may change who can see or join the club",
                        code="not_owner")
    if "book_id" in changes:
        await _check_book(db, changes["book_id"])
    if "time_zone" in changes:
        zone(changes["time_zone"])
    if changes:
        cols = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(changes))
        await db.pool.execute(f"UPDATE clubs SET {cols}, active_at = now() WHERE id = $1",
                              club_id, *changes.values())
    if "book_id" in changes and changes["book_id"] != row["book_id"]:
        await books.switch(db, redis, await fetch(db, club_id), changes["book_id"], who)
    return await get(db, club_id, who)


async def directory(db: Database, viewer: Principal | None, q: str | None, book_id: int | None,
                    language: str | None, cursor: str | None, limit: int) -> ClubPage:
    """Public clubs, most active first; `q` full-text over name and description."""
    query = fingerprint("clubs", q, book_id, language)
    after: tuple[str, int] | None = None
    if cursor:
        after = decode_cursor(cursor, "activity", query)
    args: list[Any] = [q or None, book_id, language]
    where = ["c.visibility = 'public'",
             "($1::text IS NULL OR c.search @@ plainto_tsquery('simple', $1))",
             "($2::bigint IS NULL OR c.book_id = $2)",
             "($3::text IS NULL OR lower(c.language) = lower($3))"]
    if viewer is not None:
        args.append(viewer.user_id)
        where.append(f"NOT EXISTS (SELECT 1 FROM club_bans b WHERE b.club_id = c.id AND"
                     f" b.user_id = ${len(args)})")
    if after is not None:
        args += [datetime.fromisoformat(after[0]), after[1]]
        where.append(f"(c.active_at, c.id) < (${len(args) - 1}::timestamptz, ${len(args)})")
    rows = await db.pool.fetch(CLUB_SQL + " WHERE " + " AND ".join(where)
                               + f" ORDER BY c.active_at DESC, c.id DESC LIMIT {limit + 1}",
                               *args)
    items = [club_out(r) for r in rows[:limit]]
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = encode_cursor("activity", last["active_at"].isoformat(), int(last["id"]), query)
    return ClubPage(items, nxt)


async def mine(db: Database, who: Principal) -> ClubPage:
    rows = await db.pool.fetch(
        CLUB_SQL + ", club_members me WHERE me.club_id = c.id AND me.user_id = $1"
        " ORDER BY c.active_at DESC, c.id DESC LIMIT 500", who.user_id)
    return ClubPage([club_out(r) for r in rows], None)


async def touch(conn: Any, club_id: int) -> None:
    """Activity happened in the club (the directory's order)."""
    await conn.execute("UPDATE clubs SET active_at = now() WHERE id = $1", club_id)
