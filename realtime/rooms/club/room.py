"""Club room kinds: admission through the club's rules, the discussion commands over the club
venues, and presence positions that move the reader's one reading state of the club's book
(`club:<id>` and a section thread alike: acked in Redis and written behind, `moves.py`)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.clubs.room_events import ClubEvent
from domain.clubs.venue import CLUB_VENUE, THREAD_VENUE
from domain.db import Database
from domain.discussion import effects
from domain.discussion.events import SessionWireEvent, Unlocked
from domain.discussion.listings import unlocked_between
from domain.discussion.place import Place, Venue
from domain.discussion.schemas import Position
from domain.errors import Forbidden, Invalid
from domain.reading.progress import advance, passive_events
from realtime.rooms import base, discussion_commands
from realtime.rooms.base import ConnectionInfo, HubContext, RoomEvent, RoomKind, Viewer
from realtime.rooms.club.moves import AfterMove, ClubMoves
from realtime.rooms.discussion import room_event
from realtime.rooms.discussion_commands import DiscussionCommand


class ClubPresence(msgspec.Struct, forbid_unknown_fields=True):
    """What a member puts in presence: optionally where they are in the club's book (it moves
    their reading state forward, never back) and whether they are active."""

    position: Position | None = None
    state: Literal["active", "idle"] = "active"


def place_id_of(room_id: str, prefix: str) -> int:
    raw = room_id.partition(":")[2] if room_id.startswith(f"{prefix}:") else room_id
    if not raw.isdigit() or len(raw) > 18 or int(raw) < 1:
        raise Invalid(f"a {prefix} room is {prefix}:<id>", code="invalid_room", field="room")
    return int(raw)


def _principal(conn: ConnectionInfo) -> Principal:
    return Principal(user_id=conn.user_id, role=conn.role, jti="", exp=0)


class _PlaceRoom(RoomKind):
    """A room whose content is one discussion place of `venue`. With `moves` (the server's),
    positions take the hot path: acked in Redis, written behind."""

    venue: Venue
    keeps_history = True
    accepts_publish = True
    presence = True
    guarded = True  # private clubs evict non-members, bans and leaves evict the member
    events = SessionWireEvent | ClubEvent  # listed by /asyncapi.json

    def __init__(self, db: Database, redis: Redis, after_move: AfterMove | None = None,
                 moves: ClubMoves | None = None) -> None:
        self.db = db
        self.redis = redis
        self.after_move = after_move
        self.moves = moves
        self._effects = effects.runner(self.venue)
        self._local: dict[tuple[str, int], set[str]] = {}

    def _room(self, room_id: str) -> str:
        return room_id if room_id.startswith(f"{self.prefix}:") else f"{self.prefix}:{room_id}"

    async def authorize(self, hub: HubContext, conn: ConnectionInfo, room_id: str) -> Viewer:
        pid = place_id_of(room_id, self.prefix)
        place = await self._place(pid)
        await self.venue.check_readable(self.db, place, _principal(conn))
        state = await self.venue.viewer(self.db, pid, conn.user_id)
        self._local.setdefault((self._room(room_id), conn.user_id), set()).add(conn.conn_id)
        progress = await self._admit(place, conn.user_id, state.progress)
        return Viewer(progress=progress, shield=state.shield,
                      hidden_authors=state.hidden_authors)

    async def _place(self, place_id: int) -> Place:
        if self.moves is None:
            return await self.venue.place(self.db, place_id)
        return await self.moves.places.read(place_id)  # this node's copy, fresh

    async def _admit(self, place: Place, user_id: int, stored: float | None) -> float | None:
        """The viewer's progress at subscribe: the stored furthest, or with `moves` the live
        one (seeded from the stored one, never lowered)."""
        if self.moves is None or user_id == 0:
            return stored
        return await self.moves.admit(place.id, user_id, place.book_id, stored or 0.0)

    async def on_leave(self, hub: HubContext, conn: ConnectionInfo, room_id: str) -> None:
        key = (self._room(room_id), conn.user_id)
        tabs = self._local.get(key)
        if tabs is not None:
            tabs.discard(conn.conn_id)
            if not tabs:
                del self._local[key]

    async def on_publish(self, hub: HubContext, conn: ConnectionInfo, room_id: str,
                         data: dict[str, Any]) -> tuple[list[RoomEvent], dict[str, Any]]:
        pid = place_id_of(room_id, self.prefix)
        cmd = discussion_commands.decode(data, DiscussionCommand, f"{self.prefix} command")
        result = await discussion_commands.handle(hub, self.redis, self.db, self.venue,
                                                  self._effects, pid, conn, _principal(conn),
                                                  cmd)
        return [], result

    async def on_presence(self, hub: HubContext, conn: ConnectionInfo, room_id: str,
                          meta: dict[str, Any]) -> dict[str, Any] | base.MetaStored:
        """A position moves the member's reading state of the club's book: with `moves`
        acked in Redis and written behind (`moves.py`), else at once (the one entry point,
        `progress.advance`), then their viewer here and what they just unlocked."""
        pid = place_id_of(room_id, self.prefix)
        parsed: ClubPresence = discussion_commands.decode(meta, ClubPresence, "presence meta")
        out: dict[str, Any] = {"state": parsed.state}
        if parsed.position is None:
            return out
        if self.moves is not None:
            return await self.moves.move(hub, conn, pid, parsed.position, out)
        place = await self.venue.place(self.db, pid)
        if not place.book_id:
            raise Invalid("this club reads no book right now", code="no_book",
                          field="position")
        who = _principal(conn)
        await self.venue.poster(self.db, place, who, chat=False)  # members only
        async with self.db.pool.acquire() as raw, raw.transaction():
            moved = await advance(raw, conn.user_id, place.book_id,
                                  parsed.position.progression, "club",
                                  locator=parsed.position.locator)
        out["position"] = msgspec.to_builtins(parsed.position)
        happened = passive_events([moved])
        if self.after_move is not None and happened:
            # every room of the book the reader is in, on every node -- this one included
            await self.after_move(conn.user_id, happened)
            return out
        room = self._room(room_id)
        tabs = sorted(self._local.get((room, conn.user_id), ())) or [conn.conn_id]
        for tab in tabs:
            hub.update_viewer(tab, room, progress=moved.furthest)
        if moved.moved:
            state = await self.venue.viewer(self.db, pid, conn.user_id)
            items = await unlocked_between(self.db, self.venue.kind, pid, state,
                                           moved.previous, moved.furthest)
            if items:
                events = [room_event(Unlocked(i)) for i in items]
                for tab in tabs:
                    await hub.send_to(tab, room, events)
        return out


class ClubRoom(_PlaceRoom):
    """`club:<id>`: club chat with history, presence and typing; schedule announcements."""

    prefix = "club"
    venue = CLUB_VENUE

    def reshield_now(self, hub: HubContext, room: str) -> None:
        """The club switched books: until `on_reshield` has read each reader's progress in the
        new one, this node's readers are shielded at 0 (more hidden for that instant, never
        the old book's progress over the new book's content)."""
        for tabs in hub.local_readers(room).values():
            for tab in tabs:
                hub.update_viewer(tab, room, progress=0.0)

    async def on_reshield(self, hub: HubContext, room: str) -> None:
        """(On every node, from the control channel: the club switched books, after the
        commit, `server.api.clubs`) the club's place and each local reader's progress in its
        current book, read again."""
        pid = place_id_of(room, self.prefix)
        place = await self._place(pid)
        for user_id, tabs in hub.local_readers(room).items():
            state = await self.venue.viewer(self.db, pid, user_id)
            progress = await self._admit(place, user_id, state.progress)
            for tab in tabs:
                hub.update_viewer(tab, room, progress=progress)


class ClubThreadRoom(_PlaceRoom):
    """`club_thread:<section id>`: one section's thread, live (posting once it opened)."""

    prefix = "club_thread"
    venue = THREAD_VENUE

    async def on_presence(self, hub: HubContext, conn: ConnectionInfo, room_id: str,
                          meta: dict[str, Any]) -> dict[str, Any] | base.MetaStored:
        try:
            return await super().on_presence(hub, conn, room_id, meta)
        except Forbidden as exc:
            if exc.code != "section_not_open":
                raise
            return {"state": "active"}
