"""REST for club chat (`/api/v1/clubs/{id}/messages`) and section threads
(`/api/v1/clubs/{id}/sections/{sid}/posts`: posts, replies, edits, reactions): the discussion
component's use-cases over the club venues, delivered by the same post-commit helper as the
socket commands."""

from __future__ import annotations

from typing import Any, TypeVar

from litestar import Controller, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.clubs import board, reports, schedule
from domain.clubs.schemas import (
    PostEdit,
    PostIn,
    PostReaction,
    ScheduleIn,
    SectionOut,
    SectionPage,
    ShiftIn,
    ThreadChange,
)
from domain.clubs.venue import CLUB_VENUE, THREAD_VENUE
from domain.db import Database
from domain.discussion import actions, effects, listings
from domain.discussion.commit import Outcome
from domain.discussion.place import Venue
from domain.discussion.schemas import (
    MessageIn,
    MessageOut,
    MessagePage,
    ReactionOut,
    ReactionPage,
)
from domain.errors import NotFound
from domain.reading.progress import passive_events
from domain.settings import Settings
from server.api import reading
from server.api._requests import Done, IdempotencyKey, deliver_outcome, found
from server.api.clubs import evict_member

T = TypeVar("T")
RUNNERS = {CLUB_VENUE.kind: effects.runner(CLUB_VENUE),
           THREAD_VENUE.kind: effects.runner(THREAD_VENUE)}


async def _deliver(outcome: Outcome[T], venue: Venue, db: Database, state: State,
                   redis: Redis, settings: Settings) -> T:
    return await deliver_outcome(outcome, RUNNERS[venue.kind], db, state, redis, settings)


async def _section(db: Database, club_id: int, section_id: int) -> int:
    found(club_id=club_id, section_id=section_id)
    if not await db.pool.fetchval("SELECT EXISTS (SELECT 1 FROM club_sections WHERE id = $1"
                                  " AND club_id = $2)", section_id, club_id):
        raise NotFound(f"no section {section_id}", code="section_not_found")
    return section_id


class ClubChatController(Controller):
    path = "/api/v1/clubs/{club_id:int}"
    tags = ["clubs"]

    @get("/messages", summary="Club chat history through the spoiler shield")
    async def messages(self, club_id: int, db: Database, maybe_user: Principal | None,
                       cursor: str | None = None,
                       limit: int = Parameter(default=50, ge=1, le=200),
                       before: str | None = Parameter(
                           default=None, description=(
                               "Page newest first, ending before this message (a `next_cursor`"
                               " of such a page), or `latest` for the newest page; not with"
                               " `cursor`"))) -> MessagePage:
        found(club_id=club_id)
        return await listings.list_messages(db, CLUB_VENUE, club_id, maybe_user, cursor, limit,
                                            before)

    @post("/messages", summary="Send a club chat message (members)")
    async def send(self, club_id: int, data: MessageIn, db: Database, user: Principal,
                   state: State, redis: Redis, settings: Settings,
                   idempotency_key: IdempotencyKey = None) -> MessageOut:
        found(club_id=club_id)
        out = await actions.post_message(db, CLUB_VENUE, club_id, user, data.body,
                                         idempotency_key)
        return await _deliver(out, CLUB_VENUE, db, state, redis, settings)

    @patch("/messages/{message_id:int}", summary="Edit my club chat message")
    async def edit(self, club_id: int, message_id: int, data: MessageIn, db: Database,
                   user: Principal, state: State, redis: Redis, settings: Settings) -> MessageOut:
        found(club_id=club_id, message_id=message_id)
        out = await actions.edit_message(db, CLUB_VENUE, club_id, user, message_id, data.body)
        return await _deliver(out, CLUB_VENUE, db, state, redis, settings)

    @delete("/messages/{message_id:int}", status_code=200,
            summary="Delete a club chat message (author or organisers)")
    async def remove(self, club_id: int, message_id: int, db: Database, user: Principal,
                     state: State, redis: Redis, settings: Settings) -> Done:
        found(club_id=club_id, message_id=message_id)
        out = await actions.delete_message(db, CLUB_VENUE, club_id, user, message_id)
        await _deliver(out, CLUB_VENUE, db, state, redis, settings)
        return Done()

    @get("/board", summary="Who is where in the book: ahead / on track / behind the schedule")
    async def board(self, club_id: int, db: Database,
                    maybe_user: Principal | None) -> board.Board:
        found(club_id=club_id)
        return await board.board(db, club_id, maybe_user)

    @post("/reports", summary="Report a club-chat message or thread post to the moderators")
    async def report(self, club_id: int, data: reports.ReportIn, db: Database,
                     user: Principal) -> reports.ReportOut:
        found(club_id=club_id)
        return await reports.report(db, club_id, user, data)

    @get("/reports", summary="The moderation queue: open reports, or those resolved one way"
                             " (`?status=hidden`: what may be restored) (organisers)")
    async def queue(self, club_id: int, db: Database, user: Principal,
                    status: reports.QueueStatus = "open") -> list[reports.ReportOut]:
        found(club_id=club_id)
        return await reports.queue(db, club_id, user, status)

    @post("/reports/{report_id:int}/resolve", status_code=200,
          summary="Hide the message, dismiss the report, ban the author, or restore a hidden"
                  " message with a note (organisers)")
    async def resolve(self, club_id: int, report_id: int, data: reports.ResolveIn,
                      db: Database, user: Principal, state: State, redis: Redis,
                      settings: Settings) -> reports.ReportOut:
        found(club_id=club_id, report_id=report_id)
        out, outcome = await reports.resolve(db, club_id, report_id, user, data.action,
                                             data.note)
        if outcome is not None:
            venue = CLUB_VENUE if out.place_kind == "club" else THREAD_VENUE
            await _deliver(outcome, venue, db, state, redis, settings)
        if data.action == "ban":
            await evict_member(state, club_id, out.author_id)
        return out

    @get("/books", summary="The club's current and past books (dates, members' average"
                           " rating)")
    async def books(self, club_id: int, db: Database,
                    maybe_user: Principal | None) -> list[board.ClubBook]:
        found(club_id=club_id)
        return await board.books(db, club_id, maybe_user)

    @get("/sections", summary="The schedule: each section, open or not, locked for me or not,"
                              " with its post count")
    async def sections(self, club_id: int, db: Database,
                       maybe_user: Principal | None) -> SectionPage:
        found(club_id=club_id)
        return await schedule.sections(db, club_id, maybe_user)

    @post("/schedule", summary="Set the current book's schedule (organisers; default: one"
                               " section per chapter)")
    async def set_schedule(self, club_id: int, data: ScheduleIn, db: Database,
                           user: Principal) -> SectionPage:
        found(club_id=club_id)
        await schedule.set_schedule(db, club_id, user, data)
        return await schedule.sections(db, club_id, user)

    @post("/schedule/shift", status_code=200, summary="Shift the schedule (members are told)")
    async def shift(self, club_id: int, data: ShiftIn, db: Database, redis: Redis,
                    user: Principal) -> SectionPage:
        found(club_id=club_id)
        await schedule.shift(db, redis, club_id, user, data)
        return await schedule.sections(db, club_id, user)

    @get("/sections/{section_id:int}", summary="One section")
    async def section(self, club_id: int, section_id: int, db: Database,
                      maybe_user: Principal | None) -> SectionOut:
        await _section(db, club_id, section_id)
        return await schedule.section(db, club_id, section_id, maybe_user)

    @patch("/sections/{section_id:int}/thread",
           summary="Lock/unlock a section thread or pin a post (organisers)")
    async def thread(self, club_id: int, section_id: int, data: ThreadChange, db: Database,
                     user: Principal) -> SectionOut:
        await _section(db, club_id, section_id)
        return await schedule.moderate_thread(db, club_id, section_id, user, data)

    @post("/sections/{section_id:int}/read", status_code=200,
          summary="I've read up to here: my furthest moves to the section's end")
    async def mark_read(self, club_id: int, section_id: int, db: Database, redis: Redis,
                        settings: Settings, state: State, user: Principal) -> dict[str, float]:
        await _section(db, club_id, section_id)
        moved = await schedule.mark_read(db, club_id, section_id, user)
        # committed: the reader's live rooms (sessions and clubs, every node), boards, goals
        await reading.after_change(state, db, redis, settings, user.user_id,
                                   passive_events([moved]))
        return {"furthest": moved.furthest}

    @get("/sections/{section_id:int}/posts", summary="A section thread through the shield")
    async def posts(self, club_id: int, section_id: int, db: Database,
                    maybe_user: Principal | None, cursor: str | None = None,
                    limit: int = Parameter(default=50, ge=1, le=200)) -> MessagePage:
        await _section(db, club_id, section_id)
        return await listings.list_messages(db, THREAD_VENUE, section_id, maybe_user, cursor,
                                            limit)

    @post("/sections/{section_id:int}/posts", summary="Post in a section thread (once open)")
    async def thread_post(self, club_id: int, section_id: int, data: PostIn, db: Database,
                   user: Principal, state: State, redis: Redis, settings: Settings,
                   idempotency_key: IdempotencyKey = None) -> MessageOut:
        await _section(db, club_id, section_id)
        out = await actions.post_message(db, THREAD_VENUE, section_id, user, data.body,
                                         idempotency_key, data.spoiler_free, data.parent_id)
        return await _deliver(out, THREAD_VENUE, db, state, redis, settings)

    @patch("/sections/{section_id:int}/posts/{message_id:int}",
           summary="Edit my thread post (its gate rises to what I have read)")
    async def edit_post(self, club_id: int, section_id: int, message_id: int, data: PostEdit,
                        db: Database, user: Principal, state: State, redis: Redis,
                        settings: Settings) -> MessageOut:
        await _section(db, club_id, section_id)
        found(message_id=message_id)
        out = await actions.edit_message(db, THREAD_VENUE, section_id, user, message_id,
                                         data.body)
        return await _deliver(out, THREAD_VENUE, db, state, redis, settings)

    @get("/sections/{section_id:int}/reactions",
         summary="Reactions on a section thread's posts through the shield")
    async def reactions(self, club_id: int, section_id: int, db: Database,
                        maybe_user: Principal | None, cursor: str | None = None,
                        limit: int = Parameter(default=100, ge=1, le=200)) -> ReactionPage:
        await _section(db, club_id, section_id)
        return await listings.list_reactions(db, THREAD_VENUE, section_id, maybe_user, cursor,
                                             limit)

    @post("/sections/{section_id:int}/posts/{message_id:int}/reactions",
          summary="React to a thread post (gated at max(the post's gate, my furthest))")
    async def react(self, club_id: int, section_id: int, message_id: int, data: PostReaction,
                    db: Database, user: Principal, state: State, redis: Redis,
                    settings: Settings, idempotency_key: IdempotencyKey = None) -> ReactionOut:
        await _section(db, club_id, section_id)
        found(message_id=message_id)
        out = await actions.react(db, THREAD_VENUE, section_id, user, data.emoji, None, None,
                                  idempotency_key, message_id)
        return await _deliver(out, THREAD_VENUE, db, state, redis, settings)

    @delete("/sections/{section_id:int}/posts/{message_id:int}", status_code=200,
            summary="Delete a thread post (author or organisers)")
    async def unpost(self, club_id: int, section_id: int, message_id: int, db: Database,
                     user: Principal, state: State, redis: Redis, settings: Settings) -> Done:
        await _section(db, club_id, section_id)
        found(message_id=message_id)
        out = await actions.delete_message(db, THREAD_VENUE, section_id, user, message_id)
        await _deliver(out, THREAD_VENUE, db, state, redis, settings)
        return Done()


CONTROLLERS: list[Any] = [ClubChatController]
