"""REST for co-reading sessions: lifecycle, lists, host powers, chat/reactions/annotations."""

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
from domain.sessions import content, invitations, lifecycle, social
from domain.sessions.schemas import (
    AnnotationCreate,
    AnnotationOut,
    AnnotationPage,
    InvitationCreate,
    InvitationsOut,
    MessageOut,
    MessagePage,
    ReactionCreate,
    ReactionOut,
    ReactionPage,
    SessionCreate,
    SessionOut,
    SessionPage,
    SessionRecord,
    SessionUpdate,
)
from domain.settings import Settings
from realtime.publisher import Publisher
from realtime.rooms.base import RoomEvent
from realtime.rooms.session import (
    annotation_deleted_event,
    annotation_event,
    message_deleted_event,
    message_event,
    reaction_event,
)
from server.deps import services_of

log = logging.getLogger("readalong.sessions")


class JoinIn(msgspec.Struct, forbid_unknown_fields=True):
    invite_code: str | None = None


class HostIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: int


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    body: str


class Done(msgspec.Struct):
    ok: bool = True


async def _publish(state: State, redis: Redis, settings: Settings, room: str,
                   event: RoomEvent) -> None:
    """After the commit: tell the room (best effort — REST already holds the record)."""
    extras = services_of(state).extras
    publisher = extras.get("publisher")
    if publisher is None:
        publisher = extras["publisher"] = Publisher(redis, settings)
    try:
        await publisher.publish(room, event)
    except Exception:
        log.exception("publishing %s to %s failed", event.event, room)


async def _set_muted(db: Database, user: Principal, state: State, redis: Redis,
                     settings: Settings, session_id: int, user_id: int, muted: bool) -> Done:
    """Mute or unmute a participant, then tell the room."""
    await lifecycle.set_flag(db, user, session_id, user_id, "muted", muted)
    await _publish(state, redis, settings, lifecycle.room_of(session_id),
                   RoomEvent("muted", {"user_id": user_id, "muted": muted}))
    return Done()


async def _evict(state: State, room: str, user_id: int) -> None:
    """Drop a kicked reader's sockets from the room on every node."""
    extras = services_of(state).extras
    rooms = extras.get("session_rooms")
    try:
        if rooms is not None:
            await rooms.kick(extras.get("hub"), room, user_id)
    except Exception:
        log.exception("evicting user %s from %s failed", user_id, room)


class SessionController(Controller):
    path = "/api/v1/sessions"
    tags = ["sessions"]  # noqa: RUF012 - Litestar's own attribute

    @post("/", summary="Create a co-reading session for a book")
    async def create(self, data: SessionCreate, db: Database, user: Principal) -> SessionOut:
        return await lifecycle.create_session(db, user, data)

    @get("/", summary="Sessions live now, upcoming, or mine, with readers present")
    async def index(self, db: Database, maybe_user: Principal | None, redis: Redis,
                    list_: str = Parameter(query="list", default="live"),
                    cursor: str | None = None,
                    limit: int = Parameter(default=20, ge=1, le=100)) -> SessionPage:
        return await lifecycle.list_sessions(db, maybe_user, list_, cursor, limit, redis)

    @get("/{session_id:int}", summary="One session")
    async def show(self, session_id: int, db: Database, maybe_user: Principal | None,
                   redis: Redis) -> SessionOut:
        return await lifecycle.get_session(db, session_id, maybe_user, redis)

    @get("/{session_id:int}/record", summary="Attendance, duration, progress read together")
    async def record(self, session_id: int, db: Database,
                     maybe_user: Principal | None) -> SessionRecord:
        return await lifecycle.session_record(db, maybe_user, session_id)

    @patch("/{session_id:int}", summary="Host settings: lock chat, room shield default, title")
    async def update(self, session_id: int, data: SessionUpdate, db: Database, user: Principal,
                     state: State, redis: Redis, settings: Settings) -> SessionOut:
        out = await lifecycle.update_session(db, user, session_id, data)
        await _publish(state, redis, settings, out.room, RoomEvent("settings", {
            "chat_locked": out.chat_locked, "shield_default": out.shield_default,
            "title": out.title}))
        rooms = services_of(state).extras.get("session_rooms")
        if data.shield_default is not None and rooms is not None:
            await rooms.reshield(out.room)
        return out

    @post("/{session_id:int}/start", summary="Host starts the session (scheduled -> live)",
          status_code=200)
    async def start(self, session_id: int, db: Database, user: Principal, state: State,
                    redis: Redis, settings: Settings) -> SessionOut:
        out = await lifecycle.start_session(db, user, session_id)
        await _publish(state, redis, settings, out.room, RoomEvent("status", {"status": "live"}))
        await social.after_start(db, redis, out.id)
        return out

    @post("/{session_id:int}/end", summary="Host ends the session (read-only afterwards)",
          status_code=200)
    async def end(self, session_id: int, db: Database, user: Principal, state: State,
                  redis: Redis, settings: Settings) -> SessionOut:
        out = await lifecycle.end_session(db, user, session_id)
        await _publish(state, redis, settings, out.room, RoomEvent("status", {"status": "ended"}))
        return out

    @post("/{session_id:int}/join", summary="Join (invite-only sessions need the code)",
          status_code=200)
    async def join(self, session_id: int, data: JoinIn, db: Database, user: Principal,
                   redis: Redis) -> SessionOut:
        row, new = await lifecycle.admit(db, user, session_id, data.invite_code)
        if new:
            await social.after_join(db, redis, row, user.user_id)
        return await lifecycle.get_session(db, session_id, user, redis)

    @post("/{session_id:int}/invitations", status_code=201,
          summary="Host invites users (ids or handles): each is notified and may join")
    async def invite(self, session_id: int, data: InvitationCreate, db: Database,
                     user: Principal, redis: Redis, settings: Settings) -> InvitationsOut:
        return await invitations.invite(db, redis, user, session_id, data, settings.public_url)

    @post("/{session_id:int}/host", summary="Hand the host role over", status_code=200)
    async def hand_over(self, session_id: int, data: HostIn, db: Database, user: Principal,
                        state: State, redis: Redis, settings: Settings) -> SessionOut:
        out = await lifecycle.hand_over(db, user, session_id, data.user_id)
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
        await lifecycle.set_flag(db, user, session_id, user_id, "kicked", True)
        room = lifecycle.room_of(session_id)
        await _publish(state, redis, settings, room, RoomEvent("kicked", {"user_id": user_id}))
        await _evict(state, room, user_id)
        return Done()

    @get("/{session_id:int}/messages", summary="Chat history through the spoiler shield")
    async def messages(self, session_id: int, db: Database, maybe_user: Principal | None,
                       cursor: str | None = None,
                       limit: int = Parameter(default=50, ge=1, le=200)) -> MessagePage:
        return await content.list_messages(db, maybe_user, session_id, cursor, limit)

    @post("/{session_id:int}/messages", summary="Send a chat message")
    async def send(self, session_id: int, data: MessageIn, db: Database, user: Principal,
                   state: State, redis: Redis, settings: Settings) -> MessageOut:
        msg = await content.post_message(db, user, session_id, data.body)
        await _publish(state, redis, settings, lifecycle.room_of(session_id), message_event(msg))
        await social.after_message(db, redis, msg)
        return msg

    @patch("/{session_id:int}/messages/{message_id:int}", summary="Edit my message")
    async def edit(self, session_id: int, message_id: int, data: MessageIn, db: Database,
                   user: Principal, state: State, redis: Redis, settings: Settings) -> MessageOut:
        msg = await content.edit_message(db, user, session_id, message_id, data.body)
        await _publish(state, redis, settings, lifecycle.room_of(session_id),
                       message_event(msg, "chat_edited"))
        return msg

    @delete("/{session_id:int}/messages/{message_id:int}", status_code=200,
            summary="Delete a message (author, host or moderator)")
    async def remove(self, session_id: int, message_id: int, db: Database, user: Principal,
                     state: State, redis: Redis, settings: Settings) -> Done:
        msg = await content.delete_message(db, user, session_id, message_id)
        await _publish(state, redis, settings, lifecycle.room_of(session_id),
                       message_deleted_event(msg, user.user_id))
        return Done()

    @get("/{session_id:int}/reactions", summary="Reactions through the spoiler shield")
    async def reactions(self, session_id: int, db: Database, maybe_user: Principal | None,
                        cursor: str | None = None,
                        limit: int = Parameter(default=100, ge=1, le=200)) -> ReactionPage:
        return await content.list_reactions(db, maybe_user, session_id, cursor, limit)

    @post("/{session_id:int}/reactions",
          summary="React to a passage, or to an annotation (its author is notified)")
    async def react(self, session_id: int, data: ReactionCreate, db: Database, user: Principal,
                    state: State, redis: Redis, settings: Settings) -> ReactionOut:
        r = await content.react(db, user, session_id, data.emoji, data.position,
                                data.annotation_id)
        await _publish(state, redis, settings, lifecycle.room_of(session_id), reaction_event(r))
        await social.after_reaction(db, redis, r)
        return r

    @get("/{session_id:int}/annotations", summary="A session's annotations through the shield")
    async def annotations(self, session_id: int, db: Database, maybe_user: Principal | None,
                          cursor: str | None = None,
                          limit: int = Parameter(default=50, ge=1, le=200)) -> AnnotationPage:
        return await content.list_session_annotations(db, maybe_user, session_id, cursor, limit)

    @post("/{session_id:int}/annotations", summary="Annotate a passage in a live session")
    async def annotate(self, session_id: int, data: AnnotationCreate, db: Database,
                       user: Principal, state: State, redis: Redis,
                       settings: Settings) -> AnnotationOut:
        ann = await content.annotate(db, user, session_id, data)
        await _publish(state, redis, settings, lifecycle.room_of(session_id),
                       annotation_event(ann))
        await social.after_annotation(db, redis, ann)
        return ann


    @delete("/{session_id:int}/annotations/{annotation_id:int}", status_code=200,
            summary="Delete an annotation (author, host or moderator)")
    async def unannotate(self, session_id: int, annotation_id: int, db: Database,
                         user: Principal, state: State, redis: Redis,
                         settings: Settings) -> Done:
        gone = await content.delete_annotation(db, user, session_id, annotation_id)
        await _publish(state, redis, settings, lifecycle.room_of(session_id),
                       annotation_deleted_event(gone, user.user_id))
        await social.after_annotation_deleted(db, gone)
        return Done()


class AnnotationController(Controller):
    path = "/api/v1/annotations"
    tags = ["sessions"]  # noqa: RUF012 - Litestar's own attribute

    @get("/", summary="Public annotations on a book, gated by how far you have read")
    async def by_book(self, db: Database, maybe_user: Principal | None,
                      book_id: int = Parameter(query="book_id"),
                      cursor: str | None = None, shield: bool = True,
                      limit: int = Parameter(default=50, ge=1, le=200)) -> AnnotationPage:
        return await content.list_book_annotations(db, maybe_user, book_id, cursor, limit,
                                                   shield)


CONTROLLERS: list[Any] = [SessionController, AnnotationController]
