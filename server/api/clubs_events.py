"""REST for club events (RSVP, iCalendar feeds) and polls: `/api/v1/clubs/{id}/events…`,
`/api/v1/clubs/{id}/calendar.ics`, `/api/v1/me/clubs/calendar.ics`, `/api/v1/clubs/{id}/polls…`."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, get, patch, post, put
from litestar.datastructures import State
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.clubs import events, ical, polls
from domain.clubs.clubs import room_of
from domain.clubs.event_schemas import (
    Attendee,
    EventIn,
    EventOut,
    EventUpdate,
    PollIn,
    PollOut,
    RsvpIn,
    VoteIn,
)
from domain.clubs.room_events import ClubEvent, PollClosed, PollOpened, PollVoted, wire
from domain.db import Database
from domain.settings import Settings
from realtime.rooms.base import RoomEvent
from server.api._requests import found, publisher_of

log = logging.getLogger("readalong.clubs")
ICS = "text/calendar; charset=utf-8"


async def _announce(state: State, redis: Redis, settings: Settings, club_id: int,
                    ev: ClubEvent) -> None:
    """A poll event on `club:<id>` (best effort: the change is committed already)."""
    try:
        name, body = wire(ev)
        await publisher_of(state, redis, settings).publish(room_of(club_id), RoomEvent(name, body))
    except Exception:
        log.warning("publishing %s on club %s failed", type(ev).__name__, club_id, exc_info=True)


class ClubEventController(Controller):
    path = "/api/v1/clubs/{club_id:int}"
    tags = ["clubs"]

    @get("/events", summary="The club's events with RSVP counts")
    async def list_events(self, club_id: int, db: Database,
                          maybe_user: Principal | None) -> list[EventOut]:
        found(club_id=club_id)
        return await events.listing(db, club_id, maybe_user)

    @post("/events", summary="Create an event (organisers; `coreading`: with a linked"
                             " invite-only session at its start)")
    async def create_event(self, club_id: int, data: EventIn, db: Database, redis: Redis,
                           settings: Settings, user: Principal) -> EventOut:
        found(club_id=club_id)
        return await events.create(db, club_id, user, data, redis, settings.public_url)

    @get("/events/{event_id:int}", summary="One event")
    async def event(self, club_id: int, event_id: int, db: Database,
                    maybe_user: Principal | None) -> EventOut:
        found(club_id=club_id, event_id=event_id)
        return await events.get(db, club_id, event_id, maybe_user)

    @patch("/events/{event_id:int}", summary="Edit an event (SEQUENCE rises; attendees told)")
    async def edit_event(self, club_id: int, event_id: int, data: EventUpdate, db: Database,
                         redis: Redis, user: Principal) -> EventOut:
        found(club_id=club_id, event_id=event_id)
        return await events.update(db, redis, club_id, event_id, user, data)

    @post("/events/{event_id:int}/cancel", status_code=200,
          summary="Cancel an event (STATUS:CANCELLED; attendees told)")
    async def cancel_event(self, club_id: int, event_id: int, db: Database, redis: Redis,
                           user: Principal) -> EventOut:
        found(club_id=club_id, event_id=event_id)
        return await events.cancel(db, redis, club_id, event_id, user)

    @put("/events/{event_id:int}/rsvp", summary="Answer going / maybe / no")
    async def rsvp(self, club_id: int, event_id: int, data: RsvpIn, db: Database,
                   user: Principal) -> EventOut:
        found(club_id=club_id, event_id=event_id)
        return await events.rsvp(db, club_id, event_id, user, data.answer)

    @get("/events/{event_id:int}/attendees", summary="Who answered what")
    async def attendees(self, club_id: int, event_id: int, db: Database,
                        maybe_user: Principal | None) -> list[Attendee]:
        found(club_id=club_id, event_id=event_id)
        return await events.attendees(db, club_id, event_id, maybe_user)

    @get("/events/{event_id:int}/event.ics", summary="One event as iCalendar", media_type=ICS)
    async def event_ics(self, club_id: int, event_id: int, db: Database,
                        maybe_user: Principal | None) -> bytes:
        found(club_id=club_id, event_id=event_id)
        await events.get(db, club_id, event_id, maybe_user)
        name, rows = await events.feed_rows(db, club_id, None, maybe_user)
        return ical.calendar([r for r in rows if r["id"] == event_id], name)

    @get("/calendar.ics", summary="The club's calendar feed (non-public clubs: `?token=`)",
         media_type=ICS)
    async def calendar(self, club_id: int, db: Database, maybe_user: Principal | None,
                       token: str | None = Parameter(default=None, max_length=64)
                       ) -> bytes:
        found(club_id=club_id)
        name, rows = await events.feed_rows(db, club_id, token, maybe_user)
        return ical.calendar(rows, name)

    @post("/calendar/token", status_code=200, summary="My private token for the club's feed")
    async def calendar_token(self, club_id: int, db: Database,
                             user: Principal) -> dict[str, str]:
        found(club_id=club_id)
        token = await events.calendar_token(db, club_id, user)
        return {"token": token, "path": f"/api/v1/clubs/{club_id}/calendar.ics?token={token}"}

    @get("/polls", summary="The club's polls (counts shown by each poll's `results` mode)")
    async def list_polls(self, club_id: int, db: Database,
                         maybe_user: Principal | None) -> list[PollOut]:
        found(club_id=club_id)
        return await polls.listing(db, club_id, maybe_user)

    @post("/polls", summary="Open a poll (organisers; members are notified)")
    async def create_poll(self, club_id: int, data: PollIn, db: Database, redis: Redis,
                          user: Principal, state: State, settings: Settings) -> PollOut:
        found(club_id=club_id)
        out = await polls.create(db, redis, club_id, user, data)
        await _announce(state, redis, settings, club_id,
                        PollOpened(await polls.live_data(db, club_id, out.id)))
        return out

    @post("/polls/{poll_id:int}/close", status_code=200,
          summary="Close a poll early (organisers; members are notified, results kept)")
    async def close_poll(self, club_id: int, poll_id: int, db: Database, redis: Redis,
                         user: Principal, state: State, settings: Settings) -> PollOut:
        found(club_id=club_id, poll_id=poll_id)
        out = await polls.close(db, redis, club_id, poll_id, user)
        await _announce(state, redis, settings, club_id,
                        PollClosed(await polls.live_data(db, club_id, poll_id)))
        return out

    @get("/polls/{poll_id:int}", summary="One poll")
    async def poll(self, club_id: int, poll_id: int, db: Database,
                   maybe_user: Principal | None) -> PollOut:
        found(club_id=club_id, poll_id=poll_id)
        return await polls.get(db, club_id, poll_id, maybe_user)

    @put("/polls/{poll_id:int}/vote", summary="Cast or change my ballot (one per member)")
    async def vote(self, club_id: int, poll_id: int, data: VoteIn, db: Database,
                   user: Principal, state: State, redis: Redis,
                   settings: Settings) -> PollOut:
        found(club_id=club_id, poll_id=poll_id)
        out = await polls.vote(db, club_id, poll_id, user, list(data.option_ids))
        await _announce(state, redis, settings, club_id,
                        PollVoted(await polls.live_data(db, club_id, poll_id)))
        return out


class MyCalendarController(Controller):
    path = "/api/v1/me/clubs"
    tags = ["clubs"]

    @get("/calendar.ics", summary="Every event of every club I am in, as iCalendar",
         media_type=ICS)
    async def my_calendar(self, db: Database, user: Principal) -> bytes:
        return (ical.calendar(await events.member_feed_rows(db, user.user_id),
                                  "My book clubs"))


CONTROLLERS: list[Any] = [ClubEventController, MyCalendarController]
