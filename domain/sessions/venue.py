"""Co-reading sessions as a place of the shielded discussion (`domain.discussion.place.Venue`):
who may read, who may write and where each reader is, from the session's own tables."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.discussion.place import BOOKS, Place, Poster
from domain.discussion.spoilers import ViewerState, known_furthest
from domain.errors import Forbidden, NotFound
from domain.sessions.lifecycle import fetch_session, may_see, room_of
from domain.sessions.schemas import Position
from domain.social.rules import hidden_user_ids, hidden_users_sql

# the live source of a reader's gate progress and position in a session (Redis, set by the
# process's session room kind): (furthest, last position) or None when it has none
LiveOf = Callable[[int, int], Awaitable["tuple[float, Position | None] | None"]]
_CLOSED = {"ended": ("session_ended", "the session has ended and is read-only"),
           "scheduled": ("session_not_live", "the session has not started yet")}
# what `poster` reads about a writer: their participant row and their reading state's furthest
_WRITER_COLS = ("p.progression, p.furthest, p.locator, p.chapter, p.muted, p.kicked,"
                " r.furthest AS state_furthest")
# the session row `place` needs and, in the same statement, the writer's (p.kicked NULL: they
# have not joined)
_PLACE_AND_WRITER_SQL = (
    "SELECT s.id, s.book_id, s.title, s.host_id, s.visibility, s.status, s.chat_locked, "
    + _WRITER_COLS + " FROM reading_sessions s LEFT JOIN session_participants p"
    " ON p.session_id = s.id AND p.user_id = $2 LEFT JOIN reading_states r"
    " ON r.user_id = p.user_id AND r.book_id = s.book_id WHERE s.id = $1")

# a viewer's furthest and shield in a session, and (in the same statement) whom they hide
_VIEWER_SQL = (
    "SELECT GREATEST(p.furthest, r.furthest) AS furthest,"
    " COALESCE(p.shield, s.shield_default) AS shield, ARRAY(" + hidden_users_sql("$2")
    + ") AS hidden FROM reading_sessions s LEFT JOIN session_participants p"
    " ON p.session_id = s.id AND p.user_id = $2 LEFT JOIN reading_states r ON r.user_id = $2"
    " AND r.book_id = s.book_id WHERE s.id = $1")


class _Writer(msgspec.Struct, frozen=True):
    """The writer's row read with the place (`part` None: not a participant)."""

    user_id: int
    part: Any


class SessionVenue:
    """`session:<id>`: live sessions take content from admitted readers (not kicked; mutes and
    the chat lock stop chat and typing, not the host or moderators)."""

    kind = "session"

    def __init__(self) -> None:
        # moves are acked in Redis and written behind: gates at writing time and the viewer's
        # progress take the live furthest too (PostgreSQL may lag by a flush)
        self.live: LiveOf | None = None

    async def _live(self, session_id: int, user_id: int) -> tuple[float, Position | None]:
        got = await self.live(session_id, user_id) if self.live is not None else None
        return got if got is not None else (0.0, None)

    async def place(self, db: Database, place_id: int,
                    writer: Principal | None = None) -> Place:
        """The session as a place; with `writer`, their participant row comes in the same
        statement (`poster` then reads nothing more from PostgreSQL)."""
        prefetched = None
        if writer is None:
            row = await fetch_session(db, place_id)
        else:
            row = await db.pool.fetchrow(_PLACE_AND_WRITER_SQL, place_id, writer.user_id)
            if row is None:
                raise NotFound(f"no session {place_id}", code="session_not_found")
            prefetched = _Writer(writer.user_id, row if row["kicked"] is not None else None)
        book = await BOOKS.get(db, int(row["book_id"]))
        code, reason = _CLOSED.get(row["status"], ("", ""))
        return Place(kind=self.kind, id=int(row["id"]), room=room_of(int(row["id"])),
                     title=str(row["title"]), book_id=book.id, book_title=book.title,
                     audience=row["visibility"], moderators=frozenset({int(row["host_id"])}),
                     chat_locked=bool(row["chat_locked"]), chapter_starts=book.chapter_starts,
                     writable=row["status"] == "live", closed_code=code, closed_reason=reason,
                     prefetched=prefetched)

    async def check_readable(self, db: Database, place: Place,
                             viewer: Principal | None) -> None:
        row = await fetch_session(db, place.id)
        if not await may_see(db, row, viewer):
            raise NotFound(f"no session {place.id}", code="session_not_found")
        if viewer is not None and not viewer.is_moderator:
            kicked = await db.pool.fetchval(
                "SELECT kicked FROM session_participants WHERE session_id = $1 AND user_id = $2",
                place.id, viewer.user_id)
            if kicked:
                raise Forbidden("you were removed from this session", code="kicked")

    async def may_read(self, db: Database, place: Place, user_id: int, role: str) -> bool:
        kicked = await db.pool.fetchval(
            "SELECT kicked FROM session_participants WHERE session_id = $1 AND user_id = $2",
            place.id, user_id)
        if kicked:
            return False
        row = await fetch_session(db, place.id)
        return await may_see(db, row, Principal(user_id=user_id, role=role, jti="", exp=0))

    async def poster(self, db: Database, place: Place, who: Principal, *,
                     chat: bool) -> Poster:
        got = place.prefetched
        if isinstance(got, _Writer) and got.user_id == who.user_id:
            part = got.part
        else:
            part = await db.pool.fetchrow(
                f"SELECT {_WRITER_COLS} FROM session_participants p"
                " JOIN reading_sessions s ON s.id = p.session_id LEFT JOIN reading_states r"
                " ON r.user_id = p.user_id AND r.book_id = s.book_id"
                " WHERE p.session_id = $1 AND p.user_id = $2", place.id, who.user_id)
        if part is None:
            raise Forbidden("join the session first", code="not_participant")
        if part["kicked"]:
            raise Forbidden("you were removed from this session", code="kicked")
        privileged = place.may_moderate(who)
        if chat and part["muted"] and not privileged:
            raise Forbidden("the host muted you in this session", code="muted")
        if chat and place.chat_locked and not privileged:
            raise Forbidden("the host locked the chat", code="chat_locked")
        # the gate at writing time: the author's furthest in their reading state of the book
        # (every source moves it), never below where they are in this session
        live, at = await self._live(place.id, who.user_id)
        furthest = known_furthest(part["furthest"], part["progression"], part["state_furthest"],
                                  live=live)
        if at is not None:  # where they are now (the stored row may lag a flush)
            return Poster(user_id=who.user_id, progression=at.progression, furthest=furthest,
                          locator=at.locator, chapter=at.chapter)
        return Poster(user_id=who.user_id, progression=part["progression"], furthest=furthest,
                      locator=part["locator"], chapter=part["chapter"])

    def viewer_of(self, place: Place, user_id: int) -> ViewerState | None:
        return None  # (the session's place statement does not read the viewer's state)

    async def viewer(self, db: Database, place_id: int, user_id: int | None) -> ViewerState:
        """Outsiders and anonymous viewers see everything gated as not yet read."""
        if user_id is None:
            return ViewerState(user_id=0, progress=None, shield=True)
        # the reader's furthest in their reading state of the session's book (THE value every
        # gate reads), never below their own furthest in this session
        row = await db.pool.fetchrow(_VIEWER_SQL, place_id, user_id)
        if row is None:
            return ViewerState(user_id=user_id, progress=None, shield=True,
                               hidden_authors=frozenset(await hidden_user_ids(db, user_id)))
        hidden = frozenset(int(i) for i in row["hidden"])
        progress = row["furthest"]
        live, _ = await self._live(place_id, user_id)
        if live > (progress or 0.0):
            progress = live
        return ViewerState(user_id=user_id, progress=progress,
                           shield=True if row["shield"] is None else bool(row["shield"]),
                           hidden_authors=hidden)

    def readable_sql(self, alias: str, viewer_param: str) -> str:
        v = viewer_param
        return (f"EXISTS (SELECT 1 FROM reading_sessions s WHERE s.id = {alias} AND"
                f" (s.visibility = 'public' OR s.host_id = {v}"
                " OR EXISTS (SELECT 1 FROM session_participants p WHERE p.session_id = s.id"
                f" AND p.user_id = {v} AND NOT p.kicked)"
                " OR EXISTS (SELECT 1 FROM session_invitations i WHERE i.session_id = s.id"
                f" AND i.user_id = {v})"
                " OR (s.visibility = 'followers' AND EXISTS (SELECT 1 FROM follows f WHERE"
                f" f.follower_id = {v} AND f.followee_id = s.host_id"
                " AND f.status = 'accepted'))))")


VENUE = SessionVenue()
