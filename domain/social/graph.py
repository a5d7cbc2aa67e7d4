"""Social-graph use-cases: follow (and follow requests), block, mute, and the paged lists.

Following a `public` profile is immediate; following a `followers`-only profile creates a
pending request the owner approves or declines. `private` profiles cannot be followed (they are
invisible to others). A block removes follows and requests both ways in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Forbidden, Invalid, NotFound
from domain.social import cursor as cursors
from domain.social.profiles import ensure_visible, not_found, user_id_by_handle
from domain.social.rules import relation


class UserCard(msgspec.Struct, frozen=True):
    """A user as shown in lists."""

    id: int
    handle: str
    display_name: str
    avatar_url: str | None
    since: datetime


class UserPage(msgspec.Struct, frozen=True):
    items: list[UserCard]
    next_cursor: str | None = None


class FollowState(msgspec.Struct, frozen=True):
    """`following`, `requested` (awaiting approval) or `none`."""

    state: str


async def lock_pair(conn: Any, a: int, b: int) -> None:
    """Serialise graph changes between the same two users (a transaction-scoped advisory lock)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                       f"social-pair:{min(a, b)}:{max(a, b)}")


async def _target(db: Database, actor: Principal, handle: str, action: str) -> int:
    target = await user_id_by_handle(db, handle)
    if target == actor.user_id:
        raise Invalid(f"you cannot {action} yourself", code=f"cannot_{action}_self",
                      field="handle")
    return target


async def follow(db: Database, actor: Principal, handle: str) -> FollowState:
    """Follow `handle`: immediate for public profiles, a request for followers-only ones."""
    target = await _target(db, actor, handle, "follow")
    row = await db.pool.fetchrow(
        "SELECT u.visibility, EXISTS (SELECT 1 FROM blocks b WHERE"
        " (b.blocker_id = $1 AND b.blocked_id = $2) OR (b.blocker_id = $2 AND b.blocked_id = $1))"
        " AS blocked FROM users u WHERE u.id = $2", actor.user_id, target)
    if row is None or row["blocked"]:
        raise not_found()
    if row["visibility"] == "private":
        if actor.is_moderator:
            raise Forbidden("private profiles cannot be followed", code="profile_private")
        raise not_found()
    status = "accepted" if row["visibility"] == "public" else "pending"
    # the pair lock orders this against a concurrent block of the same two users, and the
    # NOT EXISTS re-checks the block after it, so a block always wins
    async with db.pool.acquire() as conn, conn.transaction():
        await lock_pair(conn, actor.user_id, target)
        state = await conn.fetchval(
            "WITH ins AS ("
            " INSERT INTO follows (follower_id, followee_id, status)"
            " SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE"
            "  (b.blocker_id = $1 AND b.blocked_id = $2)"
            "  OR (b.blocker_id = $2 AND b.blocked_id = $1))"
            " ON CONFLICT (follower_id, followee_id) DO NOTHING RETURNING status)"
            " SELECT status FROM ins UNION ALL"
            " SELECT status FROM follows WHERE follower_id = $1 AND followee_id = $2 LIMIT 1",
            actor.user_id, target, status)
    if state is None:
        raise not_found()
    return FollowState(state="following" if state == "accepted" else "requested")


async def unfollow(db: Database, actor: Principal, handle: str) -> None:
    """Stop following `handle` (or withdraw the request); idempotent."""
    target = await _target(db, actor, handle, "follow")
    await db.pool.execute("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2",
                          actor.user_id, target)


async def remove_follower(db: Database, actor: Principal, handle: str) -> None:
    """The caller makes `handle` stop following them (or declines their request); idempotent."""
    target = await _target(db, actor, handle, "follow")
    await db.pool.execute("DELETE FROM follows WHERE follower_id = $2 AND followee_id = $1",
                          actor.user_id, target)


async def approve_request(db: Database, actor: Principal, handle: str) -> FollowState:
    """Accept `handle`'s pending request to follow the caller; 404 if there is none."""
    target = await _target(db, actor, handle, "follow")
    done = await db.pool.fetchval(
        "UPDATE follows SET status = 'accepted' WHERE follower_id = $2 AND followee_id = $1"
        " AND status = 'pending' RETURNING id", actor.user_id, target)
    if done is None:
        raise not_found_request()
    return FollowState(state="following")


def not_found_request() -> NotFound:
    return NotFound("no pending follow request from this user", code="request_not_found")


async def block(db: Database, actor: Principal, handle: str) -> None:
    """Block `handle`: follows and requests both ways are removed; idempotent."""
    target = await _target(db, actor, handle, "block")
    async with db.pool.acquire() as conn, conn.transaction():
        await lock_pair(conn, actor.user_id, target)
        await conn.execute(
            "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2) "
            "ON CONFLICT (blocker_id, blocked_id) DO NOTHING", actor.user_id, target)
        await conn.execute(
            "DELETE FROM follows WHERE (follower_id = $1 AND followee_id = $2)"
            " OR (follower_id = $2 AND followee_id = $1)", actor.user_id, target)


async def unblock(db: Database, actor: Principal, handle: str) -> None:
    target = await _target(db, actor, handle, "block")
    await db.pool.execute("DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2",
                          actor.user_id, target)


async def mute(db: Database, actor: Principal, handle: str) -> None:
    """Mute `handle`: their activity is hidden from the caller; they are not told."""
    target = await _target(db, actor, handle, "mute")
    await db.pool.execute("INSERT INTO mutes (muter_id, muted_id) VALUES ($1, $2) "
                          "ON CONFLICT (muter_id, muted_id) DO NOTHING", actor.user_id, target)


async def unmute(db: Database, actor: Principal, handle: str) -> None:
    target = await _target(db, actor, handle, "mute")
    await db.pool.execute("DELETE FROM mutes WHERE muter_id = $1 AND muted_id = $2",
                          actor.user_id, target)


# Lists. Each is keyset-paged on (created_at DESC, id DESC) of the relation row, so pages are
# stable while rows are added; users blocked either way with the viewer are left out.
_LISTS = {
    # name: (relation table, owner column, other column, extra condition)
    "followers": ("follows", "followee_id", "follower_id", "AND r.status = 'accepted'"),
    "following": ("follows", "follower_id", "followee_id", "AND r.status = 'accepted'"),
    "requests": ("follows", "followee_id", "follower_id", "AND r.status = 'pending'"),
    "blocks": ("blocks", "blocker_id", "blocked_id", ""),
    "mutes": ("mutes", "muter_id", "muted_id", ""),
}


async def _page(db: Database, kind: str, owner_id: int, viewer_id: int | None,
                cursor: str | None, limit: int) -> UserPage:
    table, owner_col, other_col, extra = _LISTS[kind]
    limit = cursors.check_limit(limit)
    after = cursors.decode(cursor)
    params: list[object] = [owner_id, after[0] if after else None, after[1] if after else None,
                             limit + 1]
    hide_blocked = ""
    if kind != "blocks" and viewer_id is not None:
        params.append(viewer_id)
        hide_blocked = (
            " AND NOT EXISTS (SELECT 1 FROM blocks b"
            " WHERE (b.blocker_id = $5 AND b.blocked_id = u.id)"
            " OR (b.blocker_id = u.id AND b.blocked_id = $5))")
    sql = (
        f"SELECT r.id AS rid, r.created_at AS since, u.id, u.handle, u.display_name, u.avatar_url"
        f" FROM {table} r JOIN users u ON u.id = r.{other_col}"
        f" WHERE r.{owner_col} = $1 {extra}{hide_blocked}"
        f" AND ($2::timestamptz IS NULL OR (r.created_at, r.id) < ($2::timestamptz, $3::bigint))"
        f" ORDER BY r.created_at DESC, r.id DESC LIMIT $4"
    )
    rows = await db.pool.fetch(sql, *params)
    items = [UserCard(id=r["id"], handle=r["handle"], display_name=r["display_name"],
                      avatar_url=r["avatar_url"], since=r["since"]) for r in rows[:limit]]
    return UserPage(items=items, next_cursor=cursors.next_page(rows, limit, "since", "rid"))


async def list_of(db: Database, viewer: Principal | None, handle: str, kind: str,
                  cursor: str | None = None, limit: int = 50) -> UserPage:
    """`followers` or `following` of `handle`, visible to whoever may see the profile."""
    owner_id = await user_id_by_handle(db, handle)
    visibility = await db.pool.fetchval("SELECT visibility FROM users WHERE id = $1", owner_id)
    rel = await relation(db, viewer.user_id if viewer else None, owner_id)
    ensure_visible(viewer, visibility, rel)
    return await _page(db, kind, owner_id, viewer.user_id if viewer else None, cursor, limit)


async def my_list(db: Database, actor: Principal, kind: str, cursor: str | None = None,
                  limit: int = 50) -> UserPage:
    """The caller's own `requests` (pending, to approve), `blocks` or `mutes`."""
    return await _page(db, kind, actor.user_id, actor.user_id, cursor, limit)
