"""REST for catch-up summaries: ask for one (the worker pushes it on user:<id>), read it."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.ai import catchup
from domain.db import Database
from domain.errors import NotFound
from domain.jobqueue import enqueue

Since = Annotated[int, Parameter(ge=0, le=2**63 - 1, description=(
    "summarise the messages after this id (the last one you saw); 0 = from the start"))]


class CatchUpRequest(msgspec.Struct, forbid_unknown_fields=True):
    since: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 0


class Queued(msgspec.Struct):
    """The summary is being made; the worker pushes `catchup_ready` on `user:<id>`."""

    status: str = "queued"


class CatchUpController(Controller):
    path = "/api/v1/sessions/{session_id:int}/catch-up"
    tags = ("ai",)

    @post("/", summary="Ask for a summary of what I missed (202; pushed as catchup_ready)",
          status_code=200,
          responses={202: ResponseSpec(data_container=Queued, description="queued for the worker")})
    async def ask(self, db: Database, redis: Redis, user: Principal, session_id: int,
                  data: CatchUpRequest | None = None) -> Response[Any]:
        since = data.since if data else 0
        ready, key = await catchup.cached(db, redis, catchup.VENUES["session"], user,
                                          session_id, since)  # 404/403 as the chat listing
        if ready is not None:
            return Response(content=ready, status_code=200)
        # one job per (reader, place, gate, range): asking twice queues it once; a new message
        # or a move forward is another range or gate, so another job
        await enqueue(redis, "ai_catchup", user.user_id, user.role, session_id, since, "session",
                      job_id=f"ai_catchup:{user.user_id}:{key}")
        return Response(content=Queued(), status_code=202)

    @get("/", summary="The summary of what I missed, once the worker made it")
    async def read(self, db: Database, redis: Redis, user: Principal, session_id: int,
                   since: Since = 0) -> catchup.CatchUp:
        ready, _ = await catchup.cached(db, redis, catchup.VENUES["session"], user, session_id,
                                        since)
        if ready is None:
            raise NotFound("no summary ready for this range yet: POST to ask for one",
                           code="catchup_not_ready")
        return ready


CONTROLLERS: list[Any] = [CatchUpController]
