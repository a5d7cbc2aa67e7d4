"""Clubs as places of the shielded discussion (`domain.discussion.place.Venue`): club chat
(`club:<id>`, kind "club") and section threads (kind "club_thread", one per schedule section).
Where a member is comes from the one reading state (`domain.reading.progress`) of the club's
current book; who may read and write from the club's membership."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from domain.accounts.tokens import Principal
from domain.clubs.clubs import ORGANISERS, not_found, readable, role_of, room_of
from domain.db import Database
from domain.discussion.place import BOOKS, Place, Poster
from domain.discussion.spoilers import ViewerState, known_furthest
from domain.errors import Forbidden, NotFound
from domain.reading.progress import furthest
from domain.social.rules import hidden_user_ids, hidden_users_sql

# the live source of a member's furthest in a club's book (Redis: club moves are acked there and
# written behind; set by the process's club room kind): (club id, user id, book id) -> furthest
# or None when it has none
LiveOf = Callable[[int, int, int], Awaitable[float | None]]


def _who(user_id: int, role: str) -> Principal:
    return Principal(user_id=user_id, role=role, jti="", exp=0)


# a place's moderators (its club's organisers) and, in the same statement, what `poster` needs
# about the writer in `$2` (NULL: nobody): their membership and their furthest in `book`, and
# whom they hide (with that furthest, their viewer state: `viewer_of`)
def _with_writer(club: str, book: str) -> str:
    return (f"ARRAY(SELECT o.user_id FROM club_members o WHERE o.club_id = {club} AND"
            " o.role IN ('owner', 'moderator')) AS moderators, w.role AS w_role,"
            " w.muted AS w_muted, r.furthest AS w_furthest, ARRAY(" + hidden_users_sql("$2")
            + ") AS w_hidden FROM"
            f" {{}} LEFT JOIN club_members w ON w.club_id = {club} AND w.user_id = $2"
            f" LEFT JOIN reading_states r ON r.user_id = $2 AND r.book_id = {book}")


_CLUB_SQL = ("SELECT c.id, c.name, c.visibility, c.book_id, "
             + _with_writer("c.id", "c.book_id").format("clubs c") + " WHERE c.id = $1")
_SECTION_SQL = ("SELECT s.*, c.name AS club_name, c.visibility, "
                + _with_writer("s.club_id", "s.book_id").format(
                    "club_sections s JOIN clubs c ON c.id = s.club_id") + " WHERE s.id = $1")


class _Writer(msgspec.Struct, frozen=True):
    """The writer's membership read with the place (`role` None: not a member), the place's
    row (a section's dates and range) and their stored furthest in its book."""

    user_id: int
    role: str | None
    muted: bool
    furthest: float
    row: Any = None
    hidden: frozenset[int] | None = None  # whom they hide (None: not read)


def _writer(row: Any, writer: Principal | None) -> _Writer | None:
    if writer is None:
        return None
    return _Writer(writer.user_id, row["w_role"], bool(row["w_muted"]),
                   float(row["w_furthest"] or 0.0), row,
                   frozenset(int(u) for u in row["w_hidden"]))


def prefetched_viewer(place: Place, user_id: int) -> ViewerState | None:
    """The viewer state `club_viewer` would read for the user the place was read for (`place(...,
    writer=)`: their furthest in its book and whom they hide came with it), else None."""
    known = place.prefetched
    if not isinstance(known, _Writer) or known.user_id != user_id or known.hidden is None:
        return None
    return ViewerState(user_id=user_id, progress=known.furthest, shield=True,
                       hidden_authors=known.hidden)


async def check_club_readable(db: Database, club_id: int, viewer: Principal | None) -> str | None:
    """A public club's discussion is readable by whoever may see the club (through the shield);
    a private or secret club's by its members only (404 for those who may not see it)."""
    row, role = await readable(db, club_id, viewer)
    if row["visibility"] != "public" and role is None and not (viewer and viewer.is_moderator):
        raise Forbidden("only members read this club's discussion", code="members_only")
    return role


async def may_not_read(db: Database, club_id: int, user_ids: list[int]) -> list[int]:
    """Of these users (0: a guest), those `check_club_readable` now refuses (e.g. the
    non-members of a club just made private or secret), in order."""
    ids = sorted({u for u in user_ids if u > 0})
    rows = await db.pool.fetch("SELECT u.id, u.role, m.user_id IS NOT NULL AS member"
                               " FROM users u LEFT JOIN club_members m ON m.club_id = $1"
                               " AND m.user_id = u.id WHERE u.id = ANY($2::bigint[])",
                               club_id, ids)
    roles = {int(r["id"]): (r["role"], r["member"]) for r in rows}
    out: list[int] = []
    for uid in sorted(set(user_ids)):
        role, member = roles.get(uid, (None, False))
        if member:
            continue
        try:
            await check_club_readable(db, club_id, _who(uid, role) if role else None)
        except (Forbidden, NotFound):
            out.append(uid)
    return out


async def member_poster(db: Database, club_id: int, book_id: int | None, who: Principal,
                        chat: bool, live: LiveOf | None = None,
                        known: _Writer | None = None) -> tuple[str, float]:
    """The member's role and furthest progression in the club's book (the stored one or the
    live one of the club's room, whichever is larger), or why they may not write. `known`:
    their membership and stored furthest, read with the place (nothing more is read here)."""
    if known is None or known.user_id != who.user_id:
        row = await db.pool.fetchrow("SELECT role, muted FROM club_members WHERE club_id = $1"
                                     " AND user_id = $2", club_id, who.user_id)
        stored = await furthest(db.pool, who.user_id, book_id) if row and book_id else 0.0
        known = _Writer(who.user_id, row["role"] if row else None,
                        bool(row and row["muted"]), stored)
    if known.role is None:
        raise Forbidden("join the club first", code="not_member")
    if chat and known.muted and known.role not in ORGANISERS:
        raise Forbidden("the organisers muted you in this club", code="muted")
    if not book_id:
        return known.role, 0.0
    moved = await live(club_id, who.user_id, book_id) if live is not None else None
    return known.role, known_furthest(known.furthest, live=moved)


def _viewer_sql(places: str) -> str:
    """A member's furthest in the book of the place `$1` of `places` (a table with `id` and
    `book_id`) and, in the same statement, whom they hide (`$2`)."""
    return ("SELECT r.furthest, ARRAY(" + hidden_users_sql("$2") + f") AS hidden FROM {places}"
            " p LEFT JOIN reading_states r ON r.user_id = $2 AND r.book_id = p.book_id"
            " WHERE p.id = $1")


_CLUB_VIEWER_SQL = _viewer_sql("clubs")
_SECTION_VIEWER_SQL = _viewer_sql("club_sections")


async def club_viewer(db: Database, sql: str, place_id: int,
                      user_id: int | None) -> ViewerState:
    """The viewer's furthest in the place's book (0 without one) and whom they hide: one
    statement."""
    if user_id is None:
        return ViewerState(user_id=0, progress=None, shield=True)
    row = await db.pool.fetchrow(sql, place_id, user_id)
    hidden = row["hidden"] if row is not None else await hidden_user_ids(db, user_id)
    reached = row["furthest"] if row is not None else None
    return ViewerState(user_id=user_id, progress=float(reached or 0.0), shield=True,
                       hidden_authors=frozenset(int(u) for u in hidden))


def club_readable_sql(club: str, v: str) -> str:
    return (f"EXISTS (SELECT 1 FROM clubs k WHERE k.id = {club} AND ((k.visibility = 'public'"
            f" AND NOT EXISTS (SELECT 1 FROM club_bans b WHERE b.club_id = k.id AND"
            f" b.user_id = {v})) OR EXISTS (SELECT 1 FROM club_members m WHERE"
            f" m.club_id = k.id AND m.user_id = {v})))")


class ClubVenue:
    """`club:<id>`: club chat, written by members (mutes stop chat), gated by each member's
    furthest progression in the club's current book."""

    kind = "club"

    def __init__(self) -> None:
        self.live: LiveOf | None = None  # a gate at writing time reads the live furthest too

    async def place(self, db: Database, place_id: int,
                    writer: Principal | None = None) -> Place:
        """The club as a place; with `writer`, their membership and furthest in the club's book
        come in the same statement (`poster` then reads nothing more from PostgreSQL)."""
        row = await db.pool.fetchrow(_CLUB_SQL, place_id, writer.user_id if writer else None)
        if row is None:
            raise not_found(place_id)
        book = await BOOKS.get(db, row["book_id"])
        return Place(kind=self.kind, id=int(row["id"]), room=room_of(int(row["id"])),
                     title=str(row["name"]), book_id=book.id, book_title=book.title,
                     audience="public" if row["visibility"] == "public" else "invite",
                     moderators=frozenset(int(u) for u in row["moderators"]),
                     chapter_starts=book.chapter_starts, prefetched=_writer(row, writer))

    async def check_readable(self, db: Database, place: Place,
                             viewer: Principal | None) -> None:
        await check_club_readable(db, place.id, viewer)

    async def may_read(self, db: Database, place: Place, user_id: int, role: str) -> bool:
        try:
            await check_club_readable(db, place.id, _who(user_id, role))
        except (Forbidden, NotFound):
            return False
        return True

    async def poster(self, db: Database, place: Place, who: Principal, *,
                     chat: bool) -> Poster:
        _, reached = await member_poster(db, place.id, place.book_id or None, who, chat,
                                         CLUB_VENUE.live, place.prefetched)
        return Poster(user_id=who.user_id, progression=reached, furthest=reached,
                      chapter=place.chapter_at(reached))

    async def viewer(self, db: Database, place_id: int, user_id: int | None) -> ViewerState:
        return await club_viewer(db, _CLUB_VIEWER_SQL, place_id, user_id)

    def viewer_of(self, place: Place, user_id: int) -> ViewerState | None:
        return prefetched_viewer(place, user_id)

    def readable_sql(self, alias: str, viewer_param: str) -> str:
        return club_readable_sql(alias, viewer_param)


class ThreadVenue:
    """One thread per schedule section: written by members once the section has opened
    (organisers before), each post gated at least at the section's end (a member behind the
    section sees that posts exist, never their content)."""

    kind = "club_thread"

    def __init__(self) -> None:
        # the live source of a member's furthest in a thread room (section id, user id, book
        # id): thread moves are acked in Redis and written behind too (set by the room kind)
        self.live: LiveOf | None = None

    async def section(self, db: Database, section_id: int) -> Any:
        """The section's row (its club, book, range and dates), or `section_not_found`."""
        return await self._section(db, section_id)

    async def _section(self, db: Database, section_id: int, writer_id: int | None = None) -> Any:
        row = await db.pool.fetchrow(_SECTION_SQL, section_id, writer_id)
        if row is None:
            raise NotFound(f"no section {section_id}", code="section_not_found")
        return row

    async def place(self, db: Database, place_id: int,
                    writer: Principal | None = None) -> Place:
        """The section's thread as a place; with `writer`, the section's row, their membership
        and furthest come in the same statement (`poster` then reads nothing more)."""
        s = await self._section(db, place_id, writer.user_id if writer else None)
        book = await BOOKS.get(db, int(s["book_id"]))
        return Place(kind=self.kind, id=int(s["id"]), room=f"club_thread:{s['id']}",
                     title=f"{s['club_name']}: {s['title']}", book_id=book.id,
                     book_title=book.title,
                     audience="public" if s["visibility"] == "public" else "invite",
                     moderators=frozenset(int(u) for u in s["moderators"]),
                     chat_locked=bool(s["thread_locked"]), chapter_starts=book.chapter_starts,
                     prefetched=_writer(s, writer))

    async def check_readable(self, db: Database, place: Place,
                             viewer: Principal | None) -> None:
        s = await self._section(db, place.id)
        await check_club_readable(db, int(s["club_id"]), viewer)

    async def may_read(self, db: Database, place: Place, user_id: int, role: str) -> bool:
        try:
            await self.check_readable(db, place, _who(user_id, role))
        except (Forbidden, NotFound):
            return False
        return True

    async def poster(self, db: Database, place: Place, who: Principal, *,
                     chat: bool) -> Poster:
        known = place.prefetched
        if isinstance(known, _Writer) and known.user_id == who.user_id:
            s = known.row
        else:
            s, known = await self._section(db, place.id), None
        role, reached = await member_poster(db, int(s["club_id"]), int(s["book_id"]), who, chat,
                                            self._live_of(place.id), known)
        if s["opened_at"] is None and role not in ORGANISERS:
            raise Forbidden("this section's discussion has not opened yet",
                            code="section_not_open")
        if chat and place.chat_locked and role not in ORGANISERS:
            raise Forbidden("the organisers locked this thread", code="thread_locked")
        gate = max(reached, float(s["range_end"]))  # never below the section's end
        return Poster(user_id=who.user_id, progression=reached, furthest=gate,
                      chapter=place.chapter_at(reached), floor=float(s["range_start"]))

    def _live_of(self, section_id: int) -> LiveOf:
        """A member's live furthest in the book: from the club's room or this thread's room
        (moves in either are written behind), whichever is larger."""

        async def live(club_id: int, user_id: int, book_id: int) -> float | None:
            got = [await of(pid, user_id, book_id) for of, pid in
                   ((CLUB_VENUE.live, club_id), (self.live, section_id)) if of is not None]
            return max((g for g in got if g is not None), default=None)
        return live

    async def viewer(self, db: Database, place_id: int, user_id: int | None) -> ViewerState:
        return await club_viewer(db, _SECTION_VIEWER_SQL, place_id, user_id)

    def viewer_of(self, place: Place, user_id: int) -> ViewerState | None:
        return prefetched_viewer(place, user_id)

    def readable_sql(self, alias: str, viewer_param: str) -> str:
        return club_readable_sql(f"(SELECT club_id FROM club_sections WHERE id = {alias})",
                                 viewer_param)


CLUB_VENUE = ClubVenue()
THREAD_VENUE = ThreadVenue()


async def thread_rooms(db: Database, club_id: int) -> list[str]:
    """The rooms of the club's section threads (`club_thread:<section id>`)."""
    rows = await db.pool.fetch("SELECT id FROM club_sections WHERE club_id = $1", club_id)
    return [f"club_thread:{r['id']}" for r in rows]


async def club_role(db: Database, club_id: int, user_id: int) -> str | None:
    return await role_of(db, club_id, user_id)
