"""Request helpers shared by the REST controllers: the out-of-range path-id 404, the `{ok: true}`
reply, the `Idempotency-Key` header, the app's one Publisher (made on first use), and the
post-commit delivery of a discussion outcome."""

from __future__ import annotations

from typing import Annotated, TypeVar

import msgspec
from litestar.datastructures import State
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.db import Database
from domain.discussion.commit import Outcome, Runner, deliver
from domain.errors import NotFound
from domain.ids import in_range
from domain.settings import Settings
from realtime.publisher import Publisher
from realtime.rooms.discussion import publisher_publish
from server.deps import services_of

T = TypeVar("T")

#: `Idempotency-Key`: a resend with the same key (same user) stores and delivers once.
IdempotencyKey = Annotated[str | None, Parameter(
    header="Idempotency-Key", required=False, min_length=1, max_length=100,
    description="Client-chosen key: resending with it stores and delivers the item once")]


class Done(msgspec.Struct):
    ok: bool = True


def found(**ids: int) -> None:
    """A path id outside the BIGINT range names nothing stored: 404, never a database error."""
    for name, value in ids.items():
        if not in_range(value):
            what = name.removesuffix("_id")
            raise NotFound(f"no {what} {value}", code=f"{what}_not_found")


def publisher_of(state: State, redis: Redis, settings: Settings) -> Publisher:
    """The app's Publisher, made on first use (every REST route publishes through this one)."""
    services = services_of(state)
    if services.publisher is None:
        services.publisher = Publisher(redis, settings)
    return services.publisher


async def deliver_outcome(outcome: Outcome[T], run_effect: Runner, db: Database, state: State,
                          redis: Redis, settings: Settings) -> T:
    """After the commit: the same helper the socket uses (publish, then side effects)."""
    await deliver(outcome, publisher_publish(publisher_of(state, redis, settings)), db, redis,
                  run_effect)
    return outcome.result
