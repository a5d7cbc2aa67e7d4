"""REST for co-reading sessions: lifecycle, lists, host powers (content: api/discussion.py)."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.ids import Id
from domain.sessions import admission, hosts, invitations, sessions, social
from domain.sessions.record import session_record
from domain.sessions.rows import room_of
from domain.sessions.schemas import (
    InvitationCreate,
    InvitationsOut,
    SessionCreate,
    SessionOut,
    SessionPage,
    SessionRecord,
    SessionUpdate,
)
from domain.settings import Settings
from realtime.rooms.base import RoomEvent
from server.api import discussion
from server.api._requests import Done, publisher_of
from server.api.reading import credit_coreading
from server.deps import services_of

log = logging.getLogger("readalong.sessions")


class JoinIn(msgspec.Struct, forbid_unknown_fields=True):
    invite_code: str | None = None


class HostIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: Id


async def _publish(state: State, redis: Redis, settings: Settings, room: str,
                   event: RoomEvent) -> None:
    """After the commit: tell the room (best effort — REST already holds the record)."""
    publisher = publisher_of(state, redis, settings)
    try:
        await publisher.publish(room, event)
    except Exception:
        log.exception("publishing %s to %s failed", event.event, room)


async def _set_muted(db: Database, user: Principal, state: State, redis: Redis,
                     settings: Settings, session_id: int, user_id: int, muted: bool) -> Done:
    """Mute or unmute a participant, then tell the room."""
    await hosts.set_flag(db, user, session_id, user_id, "muted", muted)
    await _publish(state, redis, settings, room_of(session_id),
                   RoomEvent("muted", {"user_id": user_id, "muted": muted}))
    return Done()


async def _evict(state: State, room: str, user_id: int) -> None:
    """Drop a kicked reader's sockets from the room on every node."""
    services = services_of(state)
    rooms = services.session_rooms
    try:
        if rooms is not None:
            await rooms.kick(services.hub, room, user_id)
    except Exception:
        log.exception("evicting user %s from %s failed", user_id, room)


class SessionController(Controller):
    path = "/api/v1/sessions"
    tags = ["sessions"]

    @post("/", summary="Create a co-reading session for a book")
    async def create(self, data: SessionCreate, db: Database, user: Principal) -> SessionOut:
        return await sessions.create_session(db, user, data)

    @get("/", summary="Sessions live now, upcoming, or mine, with readers present")
    async def index(self, db: Database, maybe_user: Principal | None, redis: Redis,
                    list_: str = Parameter(query="list", default="live"),
                    cursor: str | None = None,
                    limit: int = Parameter(default=20, ge=1, le=100)) -> SessionPage:
        return await sessions.list_sessions(db, maybe_user, list_, cursor, limit, redis)

    @get("/{session_id:int}", summary="One session")
    async def show(self, session_id: int, db: Database, maybe_user: Principal | None,
                   redis: Redis) -> SessionOut:
        return await sessions.get_session(db, session_id, maybe_user, redis)

    @get("/{session_id:int}/record", summary="Attendance, duration, progress read together")
    async def record(self, session_id: int, db: Database,
                     maybe_user: Principal | None) -> SessionRecord:
        return await session_record(db, maybe_user, session_id)

    @patch("/{session_id:int}", summary="Host settings: lock chat, room shield default, title")
    async def update(self, session_id: int, data: SessionUpdate, db: Database, user: Principal,
                     state: State, redis: Redis, settings: Settings) -> SessionOut:
        out = await sessions.update_session(db, user, session_id, data)
        await _publish(state, redis, settings, out.room, RoomEvent("settings", {
            "chat_locked": out.chat_locked, "shield_default": out.shield_default,
            "title": out.title}))
        rooms = services_of(state).session_rooms
        if data.shield_default is not None and rooms is not None:
            await rooms.reshield(out.room)
        return out

    @post("/{session_id:int}/start", summary="Host starts the session (scheduled -> live)",
          status_code=200)
    async def start(self, session_id: int, db: Database, user: Principal, state: State,
                    redis: Redis, settings: Settings) -> SessionOut:
        out = await sessions.start_session(db, user, session_id)
        await _publish(state, redis, settings, out.room, RoomEvent("status", {"status": "live"}))
        await social.after_start(db, redis, out.id)
        return out

    @post("/{session_id:int}/end", summary="Host ends the session (read-only afterwards)",
          status_code=200)
    async def end(self, session_id: int, db: Database, user: Principal, state: State,
                  redis: Redis, settings: Settings) -> SessionOut:
        out = await sessions.end_session(db, user, session_id)
        rooms = services_of(state).session_rooms
        if rooms is not None:  # its pending moves are written, later ones refused
            await rooms.ended(session_id)
        await _publish(state, redis, settings, out.room, RoomEvent("status", {"status": "ended"}))
        await credit_coreading(state, db, redis, settings, out.id, out.book_id)
        return out

    @post("/{session_id:int}/join", summary="Join (invite-only sessions need the code)",
          status_code=200)
    async def join(self, session_id: int, data: JoinIn, db: Database, user: Principal,
                   redis: Redis) -> SessionOut:
        row, new = await admission.admit(db, user, session_id, data.invite_code)
        if new:
            await social.after_join(db, redis, row, user.user_id)
        return await sessions.get_session(db, session_id, user, redis)

    @post("/{session_id:int}/invitations", status_code=201,
          summary="Host invites users (ids or handles): each is notified and may join")
    async def invite(self, session_id: int, data: InvitationCreate, db: Database,
                     user: Principal, redis: Redis, settings: Settings) -> InvitationsOut:
        return await invitations.invite(db, redis, user, session_id, data, settings.public_url)

    @post("/{session_id:int}/host", summary="Hand the host role over", status_code=200)
    async def hand_over(self, session_id: int, data: HostIn, db: Database, user: Principal,
                        state: State, redis: Redis, settings: Settings) -> SessionOut:
        out = await hosts.hand_over(db, user, session_id, data.user_id)
        await _publish(state, redis, settings, out.room,
                       RoomEvent("host_changed", {"host_id": out.host_id}))
        return out

    @post("/{session_id:int}/participants/{user_id:int}/mute", status_code=200,
          summary="Mute a participant (host or moderator)")
    async def mute(self, session_id: int, user_id: int, db: Database, user: Principal,
                   state: State, redis: Redis, settings: Settings) -> Done:
        return await _set_muted(db, user, state, redis, settings, session_id, user_id, True)

    @delete("/{session_id:int}/participants/{user_id:int}/mute", status_code=200,
            summary="Unmute a participant")
    async def unmute(self, session_id: int, user_id: int, db: Database, user: Principal,
                     state: State, redis: Redis, settings: Settings) -> Done:
        return await _set_muted(db, user, state, redis, settings, session_id, user_id, False)

    @post("/{session_id:int}/participants/{user_id:int}/kick", status_code=200,
          summary="Remove a participant for good (they cannot rejoin)")
    async def kick(self, session_id: int, user_id: int, db: Database, user: Principal,
                   state: State, redis: Redis, settings: Settings) -> Done:
        await hosts.set_flag(db, user, session_id, user_id, "kicked", True)
        room = room_of(session_id)
        await _publish(state, redis, settings, room, RoomEvent("kicked", {"user_id": user_id}))
        await _evict(state, room, user_id)
        return Done()


CONTROLLERS: list[Any] = [SessionController, *discussion.CONTROLLERS]
