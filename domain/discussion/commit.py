"""Publishing after the commit, as part of the API: a use-case returns an `Outcome` (its result,
the events to publish, the side effects to run) and `deliver` — the one helper both REST and the
socket call — publishes the events, then runs the side effects, always in that order."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.discussion.events import SessionEvent

log = logging.getLogger("readalong.discussion")

T = TypeVar("T")

#: Injected by the transport: publish one event into a room; returns (epoch, offset) when the
#: room keeps history. domain/ never imports realtime/.
Publish = Callable[[str, SessionEvent], Awaitable[tuple[str, int] | None]]


class Effect(msgspec.Struct, frozen=True):
    """A side effect to run after publishing (see domain.discussion.effects.run)."""

    kind: str             # "mentions" | "reply" | "annotation_reaction" | "feed" | "unfeed"
    item: Any
    place: Any


class Outcome(msgspec.Struct, Generic[T]):
    """What a committed use-case hands back. `replayed`: an idempotent resend found the item
    stored already (no events and no side effects, so it is delivered exactly once)."""

    result: T
    room: str = ""
    events: list[SessionEvent] = msgspec.field(default_factory=list)
    effects: list[Effect] = msgspec.field(default_factory=list)
    replayed: bool = False


Runner = Callable[[Database, Redis | None, Effect], Awaitable[None]]


async def deliver(outcome: Outcome[T], publish: Publish, db: Database, redis: Redis | None,
                  run_effect: Runner) -> list[tuple[str, int]]:
    """After the commit: publish each event (best effort — the record is durable already),
    then run the side effects (each never raises). Returns the positions of the published
    events in the room's history."""
    positions: list[tuple[str, int]] = []
    for event in outcome.events:
        try:
            pos = await publish(outcome.room, event)
        except Exception:
            log.exception("publishing %s to %s failed", type(event).__name__, outcome.room)
            continue
        if pos is not None:
            positions.append(pos)
    for effect in outcome.effects:
        try:
            await run_effect(db, redis, effect)
        except Exception:
            log.exception("side effect %s failed", effect.kind)
    return positions
