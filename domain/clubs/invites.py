"""Invitation links: a random token with an optional expiry and use limit; redeeming one counts
a use atomically (two joiners never both take the last use)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.clubs.clubs import organiser
from domain.clubs.schemas import InviteCreate, InviteOut
from domain.db import Database
from domain.errors import Gone, NotFound
from domain.notifications.service import notify
from domain.social.rules import blocked_either_way


def _out(r: Any) -> InviteOut:
    return InviteOut(id=r["id"], club_id=r["club_id"], token=r["token"],
                     expires_at=r["expires_at"], max_uses=r["max_uses"], uses=r["uses"],
                     revoked=r["revoked"])


async def create(db: Database, club_id: int, who: Principal, data: InviteCreate) -> InviteOut:
    await organiser(db, club_id, who)
    expires = (datetime.now(UTC) + timedelta(hours=data.expires_in_hours)
               if data.expires_in_hours else None)
    row = await db.pool.fetchrow(
        "INSERT INTO club_invites (club_id, token, created_by, expires_at, max_uses) VALUES"
        " ($1, $2, $3, $4, $5) RETURNING *", club_id, secrets.token_urlsafe(24), who.user_id,
        expires, data.max_uses)
    return _out(row)


async def listing(db: Database, club_id: int, who: Principal) -> list[InviteOut]:
    await organiser(db, club_id, who)
    rows = await db.pool.fetch("SELECT * FROM club_invites WHERE club_id = $1 ORDER BY id",
                               club_id)
    return [_out(r) for r in rows]


async def revoke(db: Database, club_id: int, who: Principal, invite_id: int) -> None:
    await organiser(db, club_id, who)
    if await db.pool.fetchval("UPDATE club_invites SET revoked = true WHERE id = $1 AND"
                              " club_id = $2 RETURNING id", invite_id, club_id) is None:
        raise NotFound(f"no invitation {invite_id}", code="invite_not_found")


async def redeem(conn: Any, club_id: int, token: str) -> None:
    """Count one use of a valid link of this club (in the joiner's transaction), or 410."""
    used = await conn.fetchval(
        "UPDATE club_invites SET uses = uses + 1 WHERE club_id = $1 AND token = $2 AND NOT"
        " revoked AND (expires_at IS NULL OR expires_at > now()) AND (max_uses IS NULL OR"
        " uses < max_uses) RETURNING id", club_id, token)
    if used is None:
        raise Gone("this invitation link is invalid, expired or used up",
                   code="invite_invalid", field="invite")


async def invite_users(db: Database, redis: Redis | None, club_id: int, who: Principal,
                       user_ids: list[int]) -> int:
    """Invite users directly: each gets a single-use link (7 days) in a `club_invited`
    notification. Members, banned users and users blocked either way with the inviter are
    skipped silently; returns how many were invited."""
    club, _ = await organiser(db, club_id, who)
    rows = await db.pool.fetch(
        "SELECT u.id FROM users u WHERE u.id = ANY($1::bigint[]) AND NOT EXISTS (SELECT 1 FROM"
        " club_members m WHERE m.club_id = $2 AND m.user_id = u.id) AND NOT EXISTS (SELECT 1"
        " FROM club_bans b WHERE b.club_id = $2 AND b.user_id = u.id)", user_ids, club_id)
    sent = 0
    for r in rows:
        uid = int(r["id"])
        if await blocked_either_way(db, uid, who.user_id):
            continue
        link = await create(db, club_id, who, InviteCreate(expires_in_hours=24 * 7, max_uses=1))
        nid = await notify(db, redis, recipient_id=uid, type="club_invited",
                           actor_id=who.user_id, target_kind="club", target_id=club_id,
                           payload={"club": club["name"], "club_id": club_id,
                                    "invite": link.token})
        sent += nid is not None
    return sent
