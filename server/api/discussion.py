"""REST for the shielded discussion of a session: chat, reactions, annotations (and the book-wide
annotation listing). Each route calls the same use-case as the socket command and hands its
outcome to the same post-commit helper (publish, then side effects)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.discussion import actions, effects, listings
from domain.discussion.commit import Outcome, deliver
from domain.discussion.schemas import (
    AnnotationCreate,
    AnnotationOut,
    AnnotationPage,
    MessageIn,
    MessageOut,
    MessagePage,
    ReactionCreate,
    ReactionOut,
    ReactionPage,
)
from domain.errors import NotFound
from domain.ids import MAX_ID, in_range
from domain.sessions.books import get_book
from domain.sessions.venue import VENUE
from domain.settings import Settings
from realtime.publisher import Publisher
from realtime.rooms.discussion import publisher_publish
from server.deps import services_of

log = logging.getLogger("readalong.discussion")
T = TypeVar("T")
RUN_EFFECT = effects.runner(VENUE)

#: `Idempotency-Key`: a resend with the same key (same user) stores and delivers once.
IdempotencyKey = Annotated[str | None, Parameter(
    header="Idempotency-Key", required=False, min_length=1, max_length=100,
    description="Client-chosen key: resending with it stores and delivers the item once")]


def _found(**ids: int) -> None:
    """A path id outside the BIGINT range names nothing stored: 404, never a database error."""
    for name, value in ids.items():
        if not in_range(value):
            what = name.removesuffix("_id")
            raise NotFound(f"no {what} {value}", code=f"{what}_not_found")


class Done(msgspec.Struct):
    ok: bool = True


def _publisher(state: State, redis: Redis, settings: Settings) -> Publisher:
    """The app's Publisher, made on first use (the same one the session routes use)."""
    services = services_of(state)
    if services.publisher is None:
        services.publisher = Publisher(redis, settings)
    return services.publisher


async def _deliver(outcome: Outcome[T], db: Database, state: State, redis: Redis,
                   settings: Settings) -> T:
    """After the commit: the same helper the socket uses (publish, then side effects)."""
    await deliver(outcome, publisher_publish(_publisher(state, redis, settings)), db, redis,
                  RUN_EFFECT)
    return outcome.result


class DiscussionController(Controller):
    path = "/api/v1/sessions"
    tags = ["sessions"]

    @get("/{session_id:int}/messages", summary="Chat history through the spoiler shield")
    async def messages(self, session_id: int, db: Database, maybe_user: Principal | None,
                       cursor: str | None = None,
                       limit: int = Parameter(default=50, ge=1, le=200)) -> MessagePage:
        _found(session_id=session_id)
        return await listings.list_messages(db, VENUE, session_id, maybe_user, cursor, limit)

    @post("/{session_id:int}/messages", summary="Send a chat message")
    async def send(self, session_id: int, data: MessageIn, db: Database, user: Principal,
                   state: State, redis: Redis, settings: Settings,
                   idempotency_key: IdempotencyKey = None) -> MessageOut:
        _found(session_id=session_id)
        out = await actions.post_message(db, VENUE, session_id, user, data.body,
                                         idempotency_key)
        return await _deliver(out, db, state, redis, settings)

    @patch("/{session_id:int}/messages/{message_id:int}", summary="Edit my message")
    async def edit(self, session_id: int, message_id: int, data: MessageIn, db: Database,
                   user: Principal, state: State, redis: Redis, settings: Settings) -> MessageOut:
        _found(session_id=session_id, message_id=message_id)
        out = await actions.edit_message(db, VENUE, session_id, user, message_id, data.body)
        return await _deliver(out, db, state, redis, settings)

    @delete("/{session_id:int}/messages/{message_id:int}", status_code=200,
            summary="Delete a message (author, host or moderator)")
    async def remove(self, session_id: int, message_id: int, db: Database, user: Principal,
                     state: State, redis: Redis, settings: Settings) -> Done:
        _found(session_id=session_id, message_id=message_id)
        out = await actions.delete_message(db, VENUE, session_id, user, message_id)
        await _deliver(out, db, state, redis, settings)
        return Done()

    @get("/{session_id:int}/reactions", summary="Reactions through the spoiler shield")
    async def reactions(self, session_id: int, db: Database, maybe_user: Principal | None,
                        cursor: str | None = None,
                        limit: int = Parameter(default=100, ge=1, le=200)) -> ReactionPage:
        _found(session_id=session_id)
        return await listings.list_reactions(db, VENUE, session_id, maybe_user, cursor, limit)

    @post("/{session_id:int}/reactions",
          summary="React to a passage, or to an annotation (its author is notified)")
    async def react(self, session_id: int, data: ReactionCreate, db: Database, user: Principal,
                    state: State, redis: Redis, settings: Settings,
                    idempotency_key: IdempotencyKey = None) -> ReactionOut:
        _found(session_id=session_id)
        out = await actions.react(db, VENUE, session_id, user, data.emoji, data.position,
                                  data.annotation_id, idempotency_key)
        return await _deliver(out, db, state, redis, settings)

    @get("/{session_id:int}/annotations", summary="A session's annotations through the shield")
    async def annotations(self, session_id: int, db: Database, maybe_user: Principal | None,
                          cursor: str | None = None,
                          limit: int = Parameter(default=50, ge=1, le=200)) -> AnnotationPage:
        _found(session_id=session_id)
        return await listings.list_annotations(db, VENUE, session_id, maybe_user, cursor, limit)

    @post("/{session_id:int}/annotations", summary="Annotate a passage in a live session")
    async def annotate(self, session_id: int, data: AnnotationCreate, db: Database,
                       user: Principal, state: State, redis: Redis, settings: Settings,
                       idempotency_key: IdempotencyKey = None) -> AnnotationOut:
        _found(session_id=session_id)
        out = await actions.annotate(db, VENUE, session_id, user, data, idempotency_key)
        return await _deliver(out, db, state, redis, settings)

    @delete("/{session_id:int}/annotations/{annotation_id:int}", status_code=200,
            summary="Delete an annotation (author, host or moderator)")
    async def unannotate(self, session_id: int, annotation_id: int, db: Database,
                         user: Principal, state: State, redis: Redis,
                         settings: Settings) -> Done:
        _found(session_id=session_id, annotation_id=annotation_id)
        out = await actions.delete_annotation(db, VENUE, session_id, user, annotation_id)
        await _deliver(out, db, state, redis, settings)
        return Done()


class AnnotationController(Controller):
    path = "/api/v1/annotations"
    tags = ["sessions"]

    @get("/", summary="Public annotations on a book, gated by how far you have read")
    async def by_book(self, db: Database, maybe_user: Principal | None,
                      book_id: int = Parameter(query="book_id", ge=1, le=MAX_ID),
                      cursor: str | None = None, shield: bool = True,
                      limit: int = Parameter(default=50, ge=1, le=200)) -> AnnotationPage:
        await get_book(db, book_id)
        return await listings.list_book_annotations(db, VENUE, maybe_user, book_id, cursor,
                                                    limit, shield)


CONTROLLERS: list[Any] = [DiscussionController, AnnotationController]
