"""The server app with test holds in a club subscribe (no tests here): `uvicorn --factory
tests.held_app:create_app`. A test arms a hold on (point, room, user) in Redis; that user's next
subscribe to that room stops at the point, says so, and goes on when the test lets it:

- `checked`: the access check (`authorize`) has passed, the socket is not registered yet;
- `joining`: the socket is in the node's table (pending), its presence join not sent yet.

So a test can put a commit and its eviction exactly there, with no sleep."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from redis.asyncio import Redis

from realtime.presence import Presence
from realtime.rooms.base import ConnectionInfo, HubContext, Viewer
from realtime.rooms.club.room import _PlaceRoom
from server.app import create_app as create_server_app

_PREFIX = "ra:test:hold:"


def hold_key(point: str, room: str, user_id: int) -> str:
    """Set it (any value) to arm the hold of the user's next subscribe to `room`."""
    return f"{_PREFIX}{point}:{room}:{user_id}"


def held_key(point: str, room: str, user_id: int) -> str:
    """A list the held subscribe pushes to when it stops (the test pops it to wait)."""
    return hold_key(point, room, user_id) + ":held"


def go_key(point: str, room: str, user_id: int) -> str:
    """A list the test pushes to, to let the held subscribe go on."""
    return hold_key(point, room, user_id) + ":go"


async def _hold(redis: Redis, point: str, room: str, user_id: int) -> None:
    if not await redis.getdel(hold_key(point, room, user_id)):
        return
    await redis.rpush(held_key(point, room, user_id), 1)  # type: ignore[misc]
    for _ in range(30):  # (BLPOP in steps under the client's socket timeout; ~30 s at most)
        if await redis.blpop([go_key(point, room, user_id)], timeout=1):  # type: ignore[misc]
            return


def create_app() -> Litestar:
    authorize = _PlaceRoom.authorize
    join = Presence.join_with_snapshot

    async def held_authorize(self: _PlaceRoom, hub: HubContext, conn: ConnectionInfo,
                             room_id: str) -> Viewer:
        viewer = await authorize(self, hub, conn, room_id)
        await _hold(self.redis, "checked", self._room(room_id), conn.user_id)
        return viewer

    async def held_join(self: Presence, room: str, user_id: int, *args: Any,
                        **kw: Any) -> Any:
        await _hold(self.redis, "joining", room, user_id)
        return await join(self, room, user_id, *args, **kw)

    _PlaceRoom.authorize = held_authorize  # type: ignore[method-assign]
    Presence.join_with_snapshot = held_join  # type: ignore[method-assign]
    return create_server_app()
