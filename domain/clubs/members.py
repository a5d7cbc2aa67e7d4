"""Membership: join (by policy, cap and invitation), leave, join requests, roles, ownership
transfer, bans and chat mutes. Each change is one transaction; notifications after it."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.clubs import events, invites
from domain.clubs.clubs import fetch, organiser, readable, role_of
from domain.clubs.schemas import (
    BanIn,
    JoinIn,
    JoinOut,
    MemberOut,
    MemberPage,
    RequestOut,
    RequestPage,
)
from domain.db import Database
from domain.errors import Conflict, Forbidden, NotFound
from domain.feeds import verbs
from domain.feeds.service import record_activity
from domain.notifications.service import notify
from domain.social.rules import blocked_either_way, hidden_user_ids


def _not_member(user_id: int) -> NotFound:
    return NotFound(f"user {user_id} is not a member", code="member_not_found",
                    field="user_id")


async def _check_cap(conn: Any, row: Any) -> None:
    cap = row["member_cap"]
    if cap is not None and await conn.fetchval(
            "SELECT count(*) FROM club_members WHERE club_id = $1", row["id"]) >= cap:
        raise Conflict("the club is full", code="club_full")


#: who leaves or is banned loses the invitations to the club's co-reading sessions
UNINVITE_SQL = ("DELETE FROM session_invitations WHERE user_id = $2 AND session_id IN (SELECT"
                " session_id FROM club_events WHERE club_id = $1 AND session_id IS NOT NULL)")


async def _add(conn: Any, club_id: int, user_id: int) -> None:
    await conn.execute("INSERT INTO club_members (club_id, user_id, role) VALUES ($1, $2,"
                       " 'member') ON CONFLICT DO NOTHING", club_id, user_id)
    await conn.execute("UPDATE clubs SET active_at = now() WHERE id = $1", club_id)


async def join(db: Database, redis: Redis | None, club_id: int, who: Principal,
               data: JoinIn) -> JoinOut:
    """Open clubs (and any club with a valid invitation link) join at once, approval clubs
    file a request; bans, blocks with the owner and the cap refuse."""
    row = await fetch(db, club_id)
    if await role_of(db, club_id, who.user_id) is not None:
        return JoinOut("member", club_id)
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM clubs WHERE id = $1 FOR UPDATE", club_id)
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM club_bans WHERE club_id = $1"
                               " AND user_id = $2)", club_id, who.user_id):
            if row["visibility"] == "secret":
                raise NotFound(f"no club {club_id}", code="club_not_found")
            raise Forbidden("you are banned from this club", code="banned")
        if data.invite is not None:
            await invites.redeem(conn, club_id, data.invite)
        elif row["visibility"] == "secret":
            raise NotFound(f"no club {club_id}", code="club_not_found")
        if await blocked_either_way(db, who.user_id, int(row["owner_id"])):
            raise Forbidden("you cannot join this club", code="blocked")
        if data.invite is None and row["join_policy"] == "invitation":
            raise Forbidden("this club is invitation only", code="invitation_required")
        if data.invite is None and row["join_policy"] == "approval":
            rid = await conn.fetchval(
                "INSERT INTO club_join_requests (club_id, user_id, message) VALUES ($1, $2, $3)"
                " ON CONFLICT (club_id, user_id) WHERE status = 'pending' DO UPDATE SET"
                " message = EXCLUDED.message RETURNING id", club_id, who.user_id, data.message)
            organisers = [int(r["user_id"]) for r in await conn.fetch(
                "SELECT user_id FROM club_members WHERE club_id = $1 AND role IN"
                " ('owner', 'moderator')", club_id)]
            out = JoinOut("requested", club_id, int(rid))
        else:
            await _check_cap(conn, row)
            await _add(conn, club_id, who.user_id)
            organisers = []
            out = JoinOut("joined", club_id)
    if out.status == "joined":
        await joined_activity(db, redis, row, who.user_id)
        return out
    for uid in organisers:
        await notify(db, redis, recipient_id=uid, type="club_join_request",
                     actor_id=who.user_id, target_kind="club", target_id=club_id,
                     payload={"club": row["name"], "club_id": club_id,
                              "request_id": out.request_id})
    return out


async def joined_activity(db: Database, redis: Redis | None, row: Any, user_id: int) -> None:
    """`joined_club` in the member's followers' feeds, for public clubs only (a private or
    secret club's membership never reaches beyond it); an invitation to the club's upcoming
    co-reading sessions."""
    await events.invite_to_coreading(db, redis, int(row["id"]), user_id)
    if row["visibility"] == "public":
        await record_activity(db, redis, actor_id=user_id, verb=verbs.JOINED_CLUB,
                              object_kind="club", object_id=int(row["id"]),
                              payload={"club": row["name"], "club_id": int(row["id"])})


async def leave(db: Database, club_id: int, who: Principal) -> None:
    role = await role_of(db, club_id, who.user_id)
    if role is None:
        raise _not_member(who.user_id)
    if role == "owner":
        raise Conflict("the owner must transfer ownership before leaving", code="owner_leaving")
    await db.pool.execute("DELETE FROM club_members WHERE club_id = $1 AND user_id = $2",
                          club_id, who.user_id)
    await db.pool.execute(UNINVITE_SQL, club_id, who.user_id)


async def members(db: Database, club_id: int, viewer: Principal | None, cursor: int,
                  limit: int) -> MemberPage:
    """Members in joining order (blocked users either way left out); hidden clubs: members
    only."""
    row, role = await readable(db, club_id, viewer)
    if row["visibility"] != "public" and role is None and not (viewer and viewer.is_moderator):
        raise Forbidden("only members see who is in this club", code="members_only")
    hidden = list(await hidden_user_ids(db, viewer.user_id)) if viewer else []
    rows = await db.pool.fetch(
        "SELECT m.user_id, u.handle, u.display_name, m.role, m.joined_at, m.muted,"
        " row_number() OVER () AS n FROM club_members m JOIN users u ON u.id = m.user_id"
        " WHERE m.club_id = $1 AND NOT (m.user_id = ANY($2::bigint[])) AND m.user_id > $3"
        f" ORDER BY m.user_id LIMIT {limit + 1}", club_id, hidden, cursor)
    items = [MemberOut(user_id=r["user_id"], handle=r["handle"], display_name=r["display_name"],
                       role=r["role"], joined_at=r["joined_at"], muted=r["muted"])
             for r in rows[:limit]]
    return MemberPage(items, str(rows[limit - 1]["user_id"]) if len(rows) > limit else None)


async def requests(db: Database, club_id: int, who: Principal) -> RequestPage:
    await organiser(db, club_id, who)
    rows = await db.pool.fetch(
        "SELECT r.*, u.handle, u.display_name FROM club_join_requests r JOIN users u ON"
        " u.id = r.user_id WHERE r.club_id = $1 AND r.status = 'pending' ORDER BY r.id"
        " LIMIT 500", club_id)
    return RequestPage([RequestOut(id=r["id"], club_id=r["club_id"], user_id=r["user_id"],
                                   handle=r["handle"], display_name=r["display_name"],
                                   message=r["message"], status=r["status"],
                                   created_at=r["created_at"]) for r in rows], None)


async def decide(db: Database, redis: Redis | None, club_id: int, who: Principal,
                 request_id: int, approve: bool) -> JoinOut:
    """An organiser approves (the requester joins, within the cap) or declines a request."""
    row, _ = await organiser(db, club_id, who)
    async with db.pool.acquire() as conn, conn.transaction():
        req = await conn.fetchrow(
            "UPDATE club_join_requests SET status = $3, decided_by = $4, decided_at = now()"
            " WHERE id = $1 AND club_id = $2 AND status = 'pending' RETURNING user_id",
            request_id, club_id, "approved" if approve else "declined", who.user_id)
        if req is None:
            raise NotFound(f"no pending request {request_id}", code="request_not_found")
        uid = int(req["user_id"])
        if approve:
            if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM club_bans WHERE club_id = $1"
                                   " AND user_id = $2)", club_id, uid):
                raise Conflict("that user is banned from the club", code="banned")
            await _check_cap(conn, row)
            await _add(conn, club_id, uid)
    if approve:
        await joined_activity(db, redis, row, uid)
        await notify(db, redis, recipient_id=uid, type="club_request_approved",
                     actor_id=who.user_id, target_kind="club", target_id=club_id,
                     payload={"club": row["name"], "club_id": club_id})
    return JoinOut("joined" if approve else "requested", club_id, request_id)


async def set_role(db: Database, club_id: int, who: Principal, user_id: int, role: str) -> None:
    """The owner makes a member a moderator or back."""
    await organiser(db, club_id, who, owner_only=True)
    current = await role_of(db, club_id, user_id)
    if current is None:
        raise _not_member(user_id)
    if current == "owner":
        raise Conflict("transfer ownership instead", code="is_owner")
    await db.pool.execute("UPDATE club_members SET role = $3 WHERE club_id = $1 AND"
                          " user_id = $2", club_id, user_id, role)


async def transfer(db: Database, club_id: int, who: Principal, user_id: int) -> None:
    """The owner hands the club to another member (the old owner stays, as a moderator)."""
    row, _ = await organiser(db, club_id, who, owner_only=True)
    if await role_of(db, club_id, user_id) is None:
        raise _not_member(user_id)
    old = int(row["owner_id"])
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE club_members SET role = 'moderator' WHERE club_id = $1"
                           " AND user_id = $2", club_id, old)
        await conn.execute("UPDATE club_members SET role = 'owner' WHERE club_id = $1"
                           " AND user_id = $2", club_id, user_id)
        await conn.execute("UPDATE clubs SET owner_id = $2 WHERE id = $1", club_id, user_id)


async def ban(db: Database, club_id: int, who: Principal, data: BanIn) -> None:
    """Organisers ban a user (a member leaves; they can neither rejoin nor see it if secret).
    Moderators cannot ban the owner or each other."""
    _, my_role = await organiser(db, club_id, who)
    target = await role_of(db, club_id, data.user_id)
    if target == "owner" or (target == "moderator" and my_role != "owner"
                             and not who.is_moderator):
        raise Forbidden("you cannot ban this member", code="not_allowed")
    if not await db.pool.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)",
                                  data.user_id):
        raise NotFound(f"no user {data.user_id}", code="user_not_found", field="user_id")
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO club_bans (club_id, user_id, banned_by, reason) VALUES"
                           " ($1, $2, $3, $4) ON CONFLICT DO NOTHING", club_id, data.user_id,
                           who.user_id, data.reason)
        await conn.execute("DELETE FROM club_members WHERE club_id = $1 AND user_id = $2",
                           club_id, data.user_id)
        await conn.execute("UPDATE club_join_requests SET status = 'declined' WHERE"
                           " club_id = $1 AND user_id = $2 AND status = 'pending'",
                           club_id, data.user_id)
        await conn.execute(UNINVITE_SQL, club_id, data.user_id)


async def unban(db: Database, club_id: int, who: Principal, user_id: int) -> None:
    await organiser(db, club_id, who)
    await db.pool.execute("DELETE FROM club_bans WHERE club_id = $1 AND user_id = $2",
                          club_id, user_id)


async def set_muted(db: Database, club_id: int, who: Principal, user_id: int,
                    muted: bool) -> None:
    """Organisers mute a member in club chat (they still read)."""
    await organiser(db, club_id, who)
    role = await role_of(db, club_id, user_id)
    if role is None:
        raise _not_member(user_id)
    if role == "owner":
        raise Forbidden("the owner cannot be muted", code="not_allowed")
    await db.pool.execute("UPDATE club_members SET muted = $3 WHERE club_id = $1 AND"
                          " user_id = $2", club_id, user_id, muted)
