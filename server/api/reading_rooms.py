"""A reader's furthest grew (any source: REST progress, a KOReader sync, a session, a club):
their live CLUB rooms follow, on every node. The session rooms are `SessionRoom.
reader_advanced`'s; this is the same for `club:<id>` and its section threads
`club_thread:<id>` of that book: the reader's viewer progress on each of their sockets
(`hub.update_reader` crosses nodes), then the full text of what the move unlocked there
(`hub.send_to_reader`). Reads domain/clubs' tables with its own SQL and clubs' venues."""

from __future__ import annotations

from domain.clubs.venue import CLUB_VENUE, THREAD_VENUE
from domain.db import Database
from domain.discussion.events import Unlocked
from domain.discussion.listings import unlocked_between
from domain.discussion.place import Venue
from realtime.rooms.base import HubContext
from realtime.rooms.club.moves import member_field
from realtime.rooms.discussion import room_event
from realtime.rooms.positions.live import LivePositions

# The member's clubs reading this book, and those clubs' section threads of it that have
# opened (a thread not open yet has nothing to unlock), at most 50 places.
_PLACES_SQL = """
SELECT 'club' AS kind, c.id FROM clubs c JOIN club_members m ON m.club_id = c.id
WHERE m.user_id = $1 AND c.book_id = $2
UNION ALL
SELECT 'club_thread' AS kind, s.id FROM club_sections s
JOIN club_members m ON m.club_id = s.club_id
WHERE m.user_id = $1 AND s.book_id = $2 AND s.opened_at IS NOT NULL
LIMIT 50
"""
_VENUES: dict[str, Venue] = {"club": CLUB_VENUE, "club_thread": THREAD_VENUE}


async def club_rooms_advanced(hub: HubContext, db: Database, user_id: int, book_id: int,
                              previous: float, furthest: float,
                              live: LivePositions | None = None) -> None:
    """Push the reader's new progress and their unlocks into their club rooms of `book_id`
    (and raise their live furthest in each of those rooms, so a later move there never lowers
    it)."""
    if furthest <= previous:
        return
    for row in await db.pool.fetch(_PLACES_SQL, user_id, book_id):
        kind, place_id = str(row["kind"]), int(row["id"])
        venue = _VENUES[kind]
        room = f"{kind}:{place_id}"
        if live is not None:  # club and thread rooms keep live positions (per book)
            await live.raise_furthest(room, user_id, furthest, member_field(user_id, book_id))
        await hub.update_reader(room, user_id, progress=furthest)
        state = await venue.viewer(db, place_id, user_id)
        if not state.shield:
            continue  # shield off: they already get full text
        items = await unlocked_between(db, venue.kind, place_id, state, previous, furthest)
        if items:
            await hub.send_to_reader(room, user_id, [room_event(Unlocked(i)) for i in items])
