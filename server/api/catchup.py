"""REST for catch-up summaries of a session, a club's chat or a club section's thread: ask for
one (the worker pushes it on user:<id>), read it, say how far you have seen."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.ai import catchup, visits
from domain.db import Database
from domain.errors import NotFound
from domain.jobqueue import enqueue

MessageId = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Since = Annotated[int | None, Parameter(ge=0, le=2**63 - 1, description=(
    "summarise the messages after this id; absent = since my last visit (see the README)"))]


class CatchUpRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`since`: summarise the messages after this id (0 = from the start); absent = since my
    last visit."""

    since: MessageId | None = None


class SeenRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`last_seen`: the last message id I have seen; absent = the newest one now."""

    last_seen: MessageId | None = None


class Queued(msgspec.Struct):
    """The summary is being made; the worker pushes `catchup_ready` on `user:<id>`."""

    status: str = "queued"
    since_id: int = 0


class Seen(msgspec.Struct):
    seen_id: int


async def _ask(db: Database, redis: Redis, user: Principal, kind: str, place_id: int,
               data: CatchUpRequest | None) -> Response[Any]:
    venue = catchup.VENUES[kind]
    await venue.check_readable(db, await venue.place(db, place_id), user)  # 404/403 first
    since = data.since if data and data.since is not None else \
        await visits.arrive(db, user.user_id, kind, place_id)
    ready, key = await catchup.cached(db, redis, venue, user, place_id, since)
    if ready is not None:
        return Response(content=ready, status_code=200)
    # one job per (reader, place, gate, range): asking twice queues it once; a new message
    # or a move forward is another range or gate, so another job
    await enqueue(redis, "ai_catchup", user.user_id, user.role, place_id, since, kind,
                  job_id=f"ai_catchup:{user.user_id}:{key}")
    return Response(content=Queued(since_id=since), status_code=202)


async def _read(db: Database, redis: Redis, user: Principal, kind: str, place_id: int,
                since: int | None) -> catchup.CatchUp:
    if since is None:
        since = await visits.last_since(db, user.user_id, kind, place_id)
    ready, _ = await catchup.cached(db, redis, catchup.VENUES[kind], user, place_id, since)
    if ready is None:
        raise NotFound("no summary ready for this range yet: POST to ask for one",
                       code="catchup_not_ready")
    return ready


async def _seen(db: Database, user: Principal, kind: str, place_id: int,
                data: SeenRequest | None) -> Seen:
    venue = catchup.VENUES[kind]
    await venue.check_readable(db, await venue.place(db, place_id), user)
    return Seen(seen_id=await visits.mark_seen(db, user.user_id, kind, place_id,
                                               data.last_seen if data else None))


ASK = dict(summary="Ask for a summary of what I missed (202; pushed as catchup_ready)",
           status_code=200, responses={202: ResponseSpec(data_container=Queued,
                                                         description="queued for the worker")})
READ = dict(summary="The summary of what I missed, once the worker made it")
SEEN = dict(summary="Record how far I have seen (ends my visit: the next catch-up starts there)",
            status_code=200)


class SessionCatchUpController(Controller):
    path = "/api/v1/sessions/{session_id:int}/catch-up"
    tags = ("ai",)

    @post("/", **ASK)  # type: ignore[arg-type]
    async def ask(self, db: Database, redis: Redis, user: Principal, session_id: int,
                  data: CatchUpRequest | None = None) -> Response[Any]:
        return await _ask(db, redis, user, "session", session_id, data)

    @get("/", **READ)  # type: ignore[arg-type]
    async def read(self, db: Database, redis: Redis, user: Principal, session_id: int,
                   since: Since = None) -> catchup.CatchUp:
        return await _read(db, redis, user, "session", session_id, since)

    @post("/seen", **SEEN)  # type: ignore[arg-type]
    async def seen(self, db: Database, user: Principal, session_id: int,
                   data: SeenRequest | None = None) -> Seen:
        return await _seen(db, user, "session", session_id, data)


class ClubCatchUpController(Controller):
    path = "/api/v1/clubs/{club_id:int}/catch-up"
    tags = ("ai",)

    @post("/", **ASK)  # type: ignore[arg-type]
    async def ask(self, db: Database, redis: Redis, user: Principal, club_id: int,
                  data: CatchUpRequest | None = None) -> Response[Any]:
        return await _ask(db, redis, user, "club", club_id, data)

    @get("/", **READ)  # type: ignore[arg-type]
    async def read(self, db: Database, redis: Redis, user: Principal, club_id: int,
                   since: Since = None) -> catchup.CatchUp:
        return await _read(db, redis, user, "club", club_id, since)

    @post("/seen", **SEEN)  # type: ignore[arg-type]
    async def seen(self, db: Database, user: Principal, club_id: int,
                   data: SeenRequest | None = None) -> Seen:
        return await _seen(db, user, "club", club_id, data)


class ThreadCatchUpController(Controller):
    path = "/api/v1/clubs/{club_id:int}/sections/{section_id:int}/catch-up"
    tags = ("ai",)

    @post("/", **ASK)  # type: ignore[arg-type]
    async def ask(self, db: Database, redis: Redis, user: Principal, club_id: int,
                  section_id: int, data: CatchUpRequest | None = None) -> Response[Any]:
        await visits.check_section(db, club_id, section_id)
        return await _ask(db, redis, user, "club_thread", section_id, data)

    @get("/", **READ)  # type: ignore[arg-type]
    async def read(self, db: Database, redis: Redis, user: Principal, club_id: int,
                   section_id: int, since: Since = None) -> catchup.CatchUp:
        await visits.check_section(db, club_id, section_id)
        return await _read(db, redis, user, "club_thread", section_id, since)

    @post("/seen", **SEEN)  # type: ignore[arg-type]
    async def seen(self, db: Database, user: Principal, club_id: int, section_id: int,
                   data: SeenRequest | None = None) -> Seen:
        await visits.check_section(db, club_id, section_id)
        return await _seen(db, user, "club_thread", section_id, data)


CONTROLLERS: list[Any] = [SessionCatchUpController, ClubCatchUpController,
                          ThreadCatchUpController]
