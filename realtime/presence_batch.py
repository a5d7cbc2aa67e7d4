"""Presence batching: a node coalesces its join/leave/update diffs per room and publishes them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from redis.asyncio import Redis

from realtime.presence import Presence
from realtime.publisher import publish_plain, publish_plain_many
from realtime.registry import LocalRoom
from realtime.wire import Member, WirePresence, encode_wire, plain_message

log = logging.getLogger("readalong.hub")

PRESENCE_BATCH = 0.05  # seconds: a node coalesces its presence diffs per room (joins storms)


class PresenceBatcher:
    """All of a room's changes within PRESENCE_BATCH go out as one diff (so 1,000 readers
    joining is not 1,000 x 1,000 frames)."""

    def __init__(self, redis: Redis, presence: Presence) -> None:
        self.redis = redis
        self.presence = presence
        # room -> user -> ("joined" | "updated" | "left", member): diffs waiting to be published
        self._diffs: dict[str, dict[int, tuple[str, Member | None]]] = {}
        self._flush_task: asyncio.Task[None] | None = None

    def queue(self, room: str, what: str, user_id: int, member: Member | None) -> None:
        users = self._diffs.setdefault(room, {})
        previous = users.get(user_id)
        if previous is not None and previous[0] == "joined" and what == "updated":
            what = "joined"
        users[user_id] = (what, member)
        if self._flush_task is None:
            self._flush_task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(PRESENCE_BATCH)
        await self.flush()

    async def flush(self) -> None:
        self._flush_task = None
        diffs, self._diffs = self._diffs, {}
        if not diffs:
            return
        try:
            messages: list[tuple[str, bytes]] = []
            for room, users in diffs.items():
                diff = WirePresence()
                for user_id, (what, member) in users.items():
                    if what == "left":
                        diff.left.append(user_id)
                    elif member is not None:
                        (diff.joined if what == "joined" else diff.updated).append(member)
                messages.append((room, plain_message(encode_wire(diff))))
            await publish_plain_many(self.redis, messages)
        except Exception:
            log.debug("hub: presence diffs not published", exc_info=True)

    def cancel(self) -> None:
        if self._flush_task is not None:
            self._flush_task.cancel()

    async def publish_diffs(self, diffs: dict[str, tuple[list[int], list[Member]]]) -> None:
        """Publish the diffs of a node's members leaving at once (a dead node, our own stop)."""
        for room, (left, updated) in diffs.items():
            diff = WirePresence(left=left, updated=updated)
            await publish_plain(self.redis, room, plain_message(encode_wire(diff)))

    async def leave_node(self, node_id: str, *, claim: bool) -> int:
        """Remove a node's members from every room and tell the rooms; rooms touched."""
        diffs = await self.presence.drop_node(node_id, claim=claim)
        await self.publish_diffs(diffs)
        return len(diffs)

    async def resync(self, rooms: Iterable[LocalRoom]) -> None:
        """Put this node's members back (after Redis lost them, or we were swept)."""
        for lr in list(rooms):
            if not lr.kind.presence:
                continue
            counts: dict[int, tuple[int, str]] = {}
            for sub in lr.subs.values():
                info = sub.conn.info
                if info is None or not sub.joined:
                    continue
                n, _ = counts.get(info.user_id, (0, info.display_name))
                counts[info.user_id] = (n + 1, info.display_name)
            for user_id, (n, display) in counts.items():
                joined, member = await self.presence.join(lr.name, user_id, display, n, "set")
                if joined:
                    self.queue(lr.name, "joined", user_id, member)
