"""Where a stage may be held and by whom: a live co-reading session (`session:<id>`: its host
opens it, admitted readers join) or a club event (`club_event:<id>`: the event's creator or the
club's owner/moderators open it, club members join). Blocks either way with the stage's host
keep a user out, as they keep them out of the session."""

from __future__ import annotations

import msgspec

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Forbidden, Invalid, NotFound
from domain.social.rules import blocked_either_way

KINDS = ("session", "club_event")

_SESSION_SQL = (
    "SELECT s.host_id, s.status, p.kicked FROM reading_sessions s LEFT JOIN"
    " session_participants p ON p.session_id = s.id AND p.user_id = $2 WHERE s.id = $1")
_EVENT_SQL = (
    "SELECT e.created_by, e.status, e.club_id, m.role, EXISTS (SELECT 1 FROM club_bans b"
    " WHERE b.club_id = e.club_id AND b.user_id = $2) AS banned FROM club_events e"
    " LEFT JOIN club_members m ON m.club_id = e.club_id AND m.user_id = $2 WHERE e.id = $1")


class Standing(msgspec.Struct, frozen=True):
    """A user's standing at one place: may they manage its stage; whose stage it is."""

    place: str
    host_id: int  # the session's host / the event's creator
    manager: bool


def parse(place: str) -> tuple[str, int]:
    """`session:<id>` or `club_event:<id>` -> (kind, id), or `invalid_room`."""
    kind, _, raw = place.partition(":")
    if kind not in KINDS or not raw.isdigit() or len(raw) > 18 or int(raw) < 1:
        raise Invalid("a stage is stage:session:<id> or stage:club_event:<id>",
                      code="invalid_room", field="room")
    return kind, int(raw)


async def standing(db: Database, place: str, who: Principal,
                   stage_host: int | None = None) -> Standing:
    """The member's standing, or refuse: `stage_not_found` (no such place), `not_member`,
    `session_not_live` / `event_cancelled`, `blocked` (either way with the host or with the
    stage's host)."""
    kind, pid = parse(place)
    uid = who.user_id
    if kind == "session":
        row = await db.pool.fetchrow(_SESSION_SQL, pid, uid)
        if row is None:
            raise NotFound(f"no session {pid}", code="stage_not_found", field="room")
        host = int(row["host_id"])
        if uid != host and (row["kicked"] is None or row["kicked"]):
            raise Forbidden("join the session first", code="not_member")
        if row["status"] != "live":
            raise Forbidden("the session is not live", code="session_not_live")
        manager = uid == host or who.is_moderator
    else:
        row = await db.pool.fetchrow(_EVENT_SQL, pid, uid)
        if row is None:
            raise NotFound(f"no club event {pid}", code="stage_not_found", field="room")
        host = int(row["created_by"])
        if row["role"] is None or row["banned"]:
            raise Forbidden("only the club's members may join", code="not_member")
        if row["status"] != "confirmed":
            raise Forbidden("the event was cancelled", code="event_cancelled")
        manager = uid == host or row["role"] in ("owner", "moderator") or who.is_moderator
    for other in {host, stage_host or host}:
        if await blocked_either_way(db, uid, other):
            raise Forbidden("you cannot join this stage", code="blocked")
    return Standing(place=place, host_id=host, manager=manager)


_LIVE_SESSIONS_SQL = ("SELECT id FROM reading_sessions WHERE id = ANY($1::bigint[])"
                      " AND status = 'live'")
_LIVE_EVENTS_SQL = ("SELECT id FROM club_events WHERE id = ANY($1::bigint[])"
                    " AND status = 'confirmed'")


async def still_open(db: Database, places: list[str]) -> set[str]:
    """Those of `places` that may still hold a stage (a live session, a confirmed event)."""
    ids: dict[str, list[int]] = {kind: [] for kind in KINDS}
    for place in places:
        kind, pid = parse(place)
        ids[kind].append(pid)
    out: set[str] = set()
    for kind, sql in (("session", _LIVE_SESSIONS_SQL), ("club_event", _LIVE_EVENTS_SQL)):
        if ids[kind]:
            out |= {f"{kind}:{r['id']}" for r in await db.pool.fetch(sql, ids[kind])}
    return out
