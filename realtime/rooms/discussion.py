"""Discussion events on the wire: the one place a typed `domain.discussion.events` event becomes
the hub's RoomEvent carrier, and the injected publish functions for the hub and for REST."""

from __future__ import annotations

from redis.asyncio import Redis

from domain.discussion.commit import Publish
from domain.discussion.events import SessionEvent, delivery
from realtime.publisher import Publisher, publish_plain
from realtime.rooms.base import HubContext, RoomEvent
from realtime.wire import encode_event, plain_message


def room_event(ev: SessionEvent) -> RoomEvent:
    """The carrier for a typed event (the only construction of content RoomEvents)."""
    d = delivery(ev)
    return RoomEvent(d.event, d.data, redacted=d.redacted, gate=d.gate, author_id=d.author_id,
                     target_user_ids=d.target_user_ids, key=d.key, retracts=d.retracts)


async def _ephemeral(redis: Redis, room: str, ev: SessionEvent) -> None:
    """PUBLISHed without history (typing): never stored, never replayed."""
    await publish_plain(redis, room, plain_message(encode_event(room_event(ev))))


def hub_publish(hub: HubContext, redis: Redis) -> Publish:
    """Publish through the hub (socket commands)."""

    async def publish(room: str, ev: SessionEvent) -> tuple[str, int] | None:
        if delivery(ev).ephemeral:
            await _ephemeral(redis, room, ev)
            return None
        return await hub.publish(room, room_event(ev))

    return publish


def publisher_publish(publisher: Publisher) -> Publish:
    """Publish through a node-less Publisher (REST requests)."""

    async def publish(room: str, ev: SessionEvent) -> tuple[str, int] | None:
        if delivery(ev).ephemeral:
            await _ephemeral(publisher.redis, room, ev)
            return None
        return await publisher.publish(room, room_event(ev))

    return publish
