"""Club moves on the hot path, the way co-reading sessions move: a position in `club:<id>` is
acked once the session move script (`realtime.rooms.positions.live`) has stored it in Redis on
the club room's slot, and the session write-behind writes it to PostgreSQL behind the ack
through its `club` route (`progress.advance_many(..., "club")`, then the reading events once
the batch committed).

- Positions are per book (the hash field is `<user id>:<book id>`): a club that switches its
  current book starts each member from their furthest in that book.
- Who may move: the room's `members` set (same slot), filled at subscribe and when a refused
  move finds the reader is a member after all (one query, then in the set), emptied of a
  reader after the commit of their leave or ban (`server.api.clubs.evict_member`). A move of
  anyone else is refused with `not_member` in the move script itself: no query per move.
- The club's place (current book, chapter starts) is cached per node: read at subscribe and
  on a reshield (the club switched books), never per move.
- A section's thread (`club_thread:<section id>`, `ThreadMoves`) moves the same way, in its
  own room's keys and members set, written behind through the `club_thread` route (its book
  is the section's); a move there before the section opened is ignored, as it always was
  (organisers' excepted).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from domain.clubs.clubs import ORGANISERS
from domain.clubs.venue import CLUB_VENUE, THREAD_VENUE, club_role
from domain.db import Database
from domain.discussion.place import Place
from domain.errors import Forbidden, Invalid
from domain.reading.events import ReadingEvent
from domain.reading.progress import (
    Advance,
    Passive,
    advance_many,
    check_progression,
    furthest,
    passive_events,
)
from domain.sessions.schemas import Position
from realtime.rooms import base
from realtime.rooms.base import ConnectionInfo, HubContext
from realtime.rooms.positions.live import LivePositions, NotSeeded
from realtime.rooms.positions.writebehind import Pending, WriteBehind

log = logging.getLogger("readalong.clubs")
# After a club move's commit: the reading life's after-commit path for (reader, events) -- the
# reader's every live room on every node (this one too), boards, goals. Injected by the server.
AfterMove = Callable[[int, list[ReadingEvent]], Awaitable[None]]


def member_field(user_id: int, book_id: int) -> str:
    """A club member's field in the room's live positions: positions are per book."""
    return f"{user_id}:{book_id}"


class ClubPlaces:
    """Each club's (or section thread's) place per node (its current book), read at subscribe
    and on a reshield."""

    def __init__(self, db: Database, venue: Any = CLUB_VENUE) -> None:
        self.db = db
        self.venue = venue
        self._places: dict[int, Place] = {}

    def cached(self, club_id: int) -> Place | None:
        return self._places.get(club_id)

    async def read(self, club_id: int) -> Place:
        place: Place = await self.venue.place(self.db, club_id)
        if len(self._places) > 10_000:
            self._places.clear()
        self._places[club_id] = place
        return place


class ClubMoves:
    """The live side of `club:<id>` moves and their write-behind route (one per process)."""

    venue: Any = CLUB_VENUE

    def __init__(self, db: Database, live: LivePositions, behind: WriteBehind,
                 after_move: AfterMove | None) -> None:
        self.db = db
        self.live = live
        self.after_move = after_move
        self.kind = self.venue.kind
        self.places = ClubPlaces(db, self.venue)
        behind.route(self.kind, self.write, self.after)
        self.venue.live = self.live_of  # an author's gate at writing time reads it too

    def room(self, place_id: int) -> str:
        return f"{self.kind}:{place_id}"

    async def club_of(self, place_id: int) -> int:
        """The club whose membership says who may move in the place."""
        return place_id

    async def may_move(self, place_id: int, user_id: int) -> bool:
        """Whether a member's move in the place counts (False: ignored, not refused)."""
        return True

    async def live_of(self, club_id: int, user_id: int, book_id: int) -> float | None:
        got = await self.live.get(self.room(club_id), user_id, member_field(user_id, book_id))
        return got.furthest if got is not None else None

    async def admit(self, club_id: int, user_id: int, book_id: int, stored: float) -> float:
        """At subscribe (or a reshield): a member may move from now on (in the set before the
        membership is read, so a leave committed meanwhile always takes them out again);
        their live furthest in the club's book starts from the stored one (never lowered).
        The live furthest."""
        room = self.room(club_id)
        await self.live.add_member(room, user_id)
        if await club_role(self.db, await self.club_of(club_id), user_id) is None:
            await self.live.drop_member(room, user_id)
        if not book_id:
            return stored
        got = await self.live.seed(room, user_id, stored, None, member_field(user_id, book_id))
        return max(stored, got.furthest)

    async def move(self, hub: HubContext, conn: ConnectionInfo, club_id: int,
                   position: Position, out: dict[str, Any]
                   ) -> dict[str, Any] | base.MetaStored:
        """Ack a member's position in Redis (no PostgreSQL): the live shield of their sockets
        follows at once (on every node); PostgreSQL and the unlock pushes follow the flush."""
        place = self.places.cached(club_id) or await self.places.read(club_id)
        if not await self.may_move(club_id, conn.user_id):
            return out  # the hub stores the meta; the position is not taken
        if not place.book_id:
            raise Invalid("this club reads no book right now", code="no_book",
                          field="position")
        progression = check_progression(position.progression)
        pos = Position(progression=progression, locator=position.locator,
                       chapter=place.chapter_at(progression))
        out["position"] = msgspec.to_builtins(position)
        room, uid, field = self.room(club_id), conn.user_id, member_field(conn.user_id,
                                                                           place.book_id)
        meta = base.encode_meta(out)
        for attempt in (1, 2):
            try:
                before, after, elsewhere, member = await self.live.move(
                    room, uid, pos, conn.node_id, meta, field=field, members=True)
                break
            except NotSeeded:  # not stored for this book yet (the club just switched books)
                if attempt == 2:
                    raise
                await self.live.seed(room, uid, await furthest(self.db.pool, uid,
                                                               place.book_id), None, field)
            except Forbidden as exc:  # not in the set: a member after all (joined since)?
                if exc.code != "not_member" or attempt == 2 or await club_role(
                        self.db, await self.club_of(club_id), uid) is None:
                    raise
                await self.live.add_member(room, uid)
        if after > before:  # the live shield of every socket of theirs in the room
            if elsewhere:
                await hub.update_reader(room, uid, progress=after)
            else:
                hub.update_local_reader(room, uid, progress=after)
        return base.MetaStored(out, member)

    async def write(self, pending: list[Pending]) -> list[Advance]:
        """(From the write-behind) the club moves of a batch in one transaction."""
        moves = [Passive(user_id=p.user_id, book_id=p.book_id, progression=p.furthest,
                         locator=p.position.locator if p.position.progression == p.furthest
                         else None) for p in pending if p.book_id]
        for attempt in (1, 2):
            try:
                async with self.db.pool.acquire() as conn, conn.transaction():
                    return list((await advance_many(conn, moves, "club")).values())
            except Exception:
                if attempt == 2:
                    raise
                log.warning("writing club moves behind failed; once more", exc_info=True)
        raise AssertionError("unreachable")

    async def after(self, advances: list[Advance]) -> None:
        """(After the batch committed) each reader's reading events, once: unlock pushes in
        their live rooms on every node, boards, started-book activities, goals."""
        if self.after_move is None:
            return
        by_reader: dict[int, list[Advance]] = {}
        for a in advances:
            by_reader.setdefault(a.user_id, []).append(a)
        for user_id, theirs in by_reader.items():
            happened = passive_events(theirs)
            if not happened:
                continue
            try:
                await self.after_move(user_id, happened)
            except Exception:
                log.exception("after writing club moves of reader %s", user_id)


class ThreadMoves(ClubMoves):
    """`club_thread:<section id>` moves: the section's book, its club's membership; a move
    before the section opened is ignored (an organiser's counts), as the synchronous path
    did. Which club and whether it opened are cached per node (a section never closes)."""

    venue = THREAD_VENUE

    def __init__(self, db: Database, live: LivePositions, behind: WriteBehind,
                 after_move: AfterMove | None) -> None:
        super().__init__(db, live, behind, after_move)
        self._sections: dict[int, tuple[int, bool]] = {}

    async def _section(self, section_id: int, fresh: bool = False) -> tuple[int, bool]:
        got = self._sections.get(section_id)
        if got is None or (fresh and not got[1]):
            row = await THREAD_VENUE.section(self.db, section_id)
            got = (int(row["club_id"]), row["opened_at"] is not None)
            if len(self._sections) > 10_000:
                self._sections.clear()
            self._sections[section_id] = got
        return got

    async def club_of(self, place_id: int) -> int:
        return (await self._section(place_id))[0]

    async def may_move(self, place_id: int, user_id: int) -> bool:
        if (await self._section(place_id))[1]:
            return True
        club, opened = await self._section(place_id, fresh=True)  # opened since?
        return opened or await club_role(self.db, club, user_id) in ORGANISERS
