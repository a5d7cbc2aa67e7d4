"""REST for the shielded discussion of a session: chat, reactions, annotations (and the book-wide
annotation listing). Each route calls the same use-case as the socket command and hands its
outcome to the same post-commit helper (publish, then side effects)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.discussion import actions, effects, listings
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
from domain.ids import MAX_ID
from domain.sessions.books import get_book
from domain.sessions.venue import VENUE
from domain.settings import Settings
from server.api._requests import Done, IdempotencyKey, deliver_outcome, found

log = logging.getLogger("readalong.discussion")
RUN_EFFECT = effects.runner(VENUE)


class DiscussionController(Controller):
    path = "/api/v1/sessions"
    tags = ["sessions"]

    @get("/{session_id:int}/messages", summary="Chat history through the spoiler shield")
    async def messages(self, session_id: int, db: Database, maybe_user: Principal | None,
                       cursor: str | None = None,
                       limit: int = Parameter(default=50, ge=1, le=200)) -> MessagePage:
        found(session_id=session_id)
        return await listings.list_messages(db, VENUE, session_id, maybe_user, cursor, limit)

    @post("/{session_id:int}/messages", summary="Send a chat message")
    async def send(self, session_id: int, data: MessageIn, db: Database, user: Principal,
                   state: State, redis: Redis, settings: Settings,
                   idempotency_key: IdempotencyKey = None) -> MessageOut:
        found(session_id=session_id)
        out = await actions.post_message(db, VENUE, session_id, user, data.body,
                                         idempotency_key)
        return await deliver_outcome(out, RUN_EFFECT, db, state, redis, settings)

    @patch("/{session_id:int}/messages/{message_id:int}", summary="Edit my message")
    async def edit(self, session_id: int, message_id: int, data: MessageIn, db: Database,
                   user: Principal, state: State, redis: Redis, settings: Settings) -> MessageOut:
        found(session_id=session_id, message_id=message_id)
        out = await actions.edit_message(db, VENUE, session_id, user, message_id, data.body)
        return await deliver_outcome(out, RUN_EFFECT, db, state, redis, settings)

    @delete("/{session_id:int}/messages/{message_id:int}", status_code=200,
            summary="Delete a message (author, host or moderator)")
    async def remove(self, session_id: int, message_id: int, db: Database, user: Principal,
                     state: State, redis: Redis, settings: Settings) -> Done:
        found(session_id=session_id, message_id=message_id)
        out = await actions.delete_message(db, VENUE, session_id, user, message_id)
        await deliver_outcome(out, RUN_EFFECT, db, state, redis, settings)
        return Done()

    @get("/{session_id:int}/reactions", summary="Reactions through the spoiler shield")
    async def reactions(self, session_id: int, db: Database, maybe_user: Principal | None,
                        cursor: str | None = None,
                        limit: int = Parameter(default=100, ge=1, le=200)) -> ReactionPage:
        found(session_id=session_id)
        return await listings.list_reactions(db, VENUE, session_id, maybe_user, cursor, limit)

    @post("/{session_id:int}/reactions",
          summary="React to a passage, or to an annotation (its author is notified)")
    async def react(self, session_id: int, data: ReactionCreate, db: Database, user: Principal,
                    state: State, redis: Redis, settings: Settings,
                    idempotency_key: IdempotencyKey = None) -> ReactionOut:
        found(session_id=session_id)
        out = await actions.react(db, VENUE, session_id, user, data.emoji, data.position,
                                  data.annotation_id, idempotency_key)
        return await deliver_outcome(out, RUN_EFFECT, db, state, redis, settings)

    @get("/{session_id:int}/annotations", summary="A session's annotations through the shield")
    async def annotations(self, session_id: int, db: Database, maybe_user: Principal | None,
                          cursor: str | None = None,
                          limit: int = Parameter(default=50, ge=1, le=200)) -> AnnotationPage:
        found(session_id=session_id)
        return await listings.list_annotations(db, VENUE, session_id, maybe_user, cursor, limit)

    @post("/{session_id:int}/annotations", summary="Annotate a passage in a live session")
    async def annotate(self, session_id: int, data: AnnotationCreate, db: Database,
                       user: Principal, state: State, redis: Redis, settings: Settings,
                       idempotency_key: IdempotencyKey = None) -> AnnotationOut:
        found(session_id=session_id)
        out = await actions.annotate(db, VENUE, session_id, user, data, idempotency_key)
        return await deliver_outcome(out, RUN_EFFECT, db, state, redis, settings)

    @delete("/{session_id:int}/annotations/{annotation_id:int}", status_code=200,
            summary="Delete an annotation (author, host or moderator)")
    async def unannotate(self, session_id: int, annotation_id: int, db: Database,
                         user: Principal, state: State, redis: Redis,
                         settings: Settings) -> Done:
        found(session_id=session_id, annotation_id=annotation_id)
        out = await actions.delete_annotation(db, VENUE, session_id, user, annotation_id)
        await deliver_outcome(out, RUN_EFFECT, db, state, redis, settings)
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
