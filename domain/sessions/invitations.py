"""Session invitations: the host invites users by id or handle; each is notified once with the
invite code and link, and may then see and join the session (invite-only and followers-only)."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Conflict, Forbidden, Invalid
from domain.notifications.service import notify
from domain.sessions.rows import fetch_session
from domain.sessions.schemas import InvitationCreate, InvitationsOut

log = logging.getLogger("readalong.sessions")
MAX_INVITES = 50


def invite_link(public_url: str, session_id: int, code: str | None) -> str:
    query = {"session": str(session_id), **({"invite": code} if code else {})}
    return f"{public_url.rstrip('/')}/app/?{urlencode(query)}"


async def _resolve(db: Database, data: InvitationCreate) -> set[int]:
    """User ids for the ids and handles given; any unknown one is a 422 (nothing stored)."""
    if not data.user_ids and not data.handles:
        raise Invalid("invite at least one user (user_ids or handles)",
                      code="empty_invitation", field="user_ids")
    if len(set(data.user_ids)) + len(set(data.handles)) > MAX_INVITES:
        raise Invalid(f"at most {MAX_INVITES} users per request", code="too_many_invitations",
                      field="user_ids")
    ids: set[int] = set()
    if data.user_ids:
        rows = await db.pool.fetch("SELECT id FROM users WHERE id = ANY($1::bigint[])",
                                   list(set(data.user_ids)))
        found = {int(r["id"]) for r in rows}
        missing = sorted(set(data.user_ids) - found)
        if missing:
            raise Invalid(f"no such users: {missing}", code="unknown_user", field="user_ids")
        ids |= found
    if data.handles:
        wanted = {h.lower() for h in data.handles}
        rows = await db.pool.fetch(
            "SELECT id, lower(handle) AS handle FROM users WHERE lower(handle) = ANY($1::text[])",
            list(wanted))
        missing_h = sorted(wanted - {r["handle"] for r in rows})
        if missing_h:
            raise Invalid(f"no such users: {missing_h}", code="unknown_user", field="handles")
        ids |= {int(r["id"]) for r in rows}
    return ids


async def invite(db: Database, redis: Redis | None, actor: Principal, session_id: int,
                 data: InvitationCreate, public_url: str) -> InvitationsOut:
    """The host (or a moderator) invites users. Users blocked either way with the host or the
    inviter, and readers removed from the session, are left out silently. Newly invited users
    get a `session_invitation` notification (after the commit; a failure there is logged)."""
    row = await fetch_session(db, session_id)
    if actor.user_id != row["host_id"] and not actor.is_moderator:
        raise Forbidden("only the host or a moderator may invite", code="not_host")
    if row["status"] == "ended":
        raise Conflict("the session has ended", code="session_ended")
    wanted = await _resolve(db, data) - {actor.user_id, int(row["host_id"])}
    rows = await db.pool.fetch(
        "WITH cand AS (SELECT unnest($2::bigint[]) AS uid),"
        " ok AS (SELECT c.uid FROM cand c WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE"
        "   (b.blocker_id = c.uid AND b.blocked_id IN ($3, $4))"
        "   OR (b.blocked_id = c.uid AND b.blocker_id IN ($3, $4)))"
        "  AND NOT EXISTS (SELECT 1 FROM session_participants p WHERE p.session_id = $1"
        "   AND p.user_id = c.uid AND p.kicked)),"
        " ins AS (INSERT INTO session_invitations (session_id, user_id, invited_by)"
        "   SELECT $1, uid, $3 FROM ok ON CONFLICT (session_id, user_id) DO NOTHING"
        "   RETURNING user_id)"
        " SELECT ok.uid, (ok.uid IN (SELECT user_id FROM ins)) AS new FROM ok",
        session_id, sorted(wanted), actor.user_id, int(row["host_id"]))
    code = row["invite_code"]
    link = invite_link(public_url, session_id, code)
    notified: list[int] = []
    for r in rows:
        if not r["new"]:
            continue
        try:
            nid = await notify(db, redis, recipient_id=int(r["uid"]), type="session_invitation",
                               actor_id=actor.user_id, target_kind="session",
                               target_id=session_id, payload={
                                   "title": row["title"], "session_id": session_id,
                                   "invite_code": code, "link": link})
            if nid is not None:
                notified.append(int(r["uid"]))
        except Exception:
            log.exception("invitation of user %s to session %s was not notified", r["uid"],
                          session_id)
    return InvitationsOut(session_id=session_id, invited=sorted(int(r["uid"]) for r in rows),
                          notified=sorted(notified), invite_code=code, link=link)
