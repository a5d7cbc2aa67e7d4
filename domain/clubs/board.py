"""What the club reads and where its members are: its books (current and past, with the
members' average rating) and the member board (who is where in the current book and whether
they are ahead of, on track with or behind the latest opened section, respecting each member's
profile visibility and private reading states: then only "hidden" shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from domain.accounts.tokens import Principal
from domain.clubs.clubs import fetch
from domain.clubs.venue import check_club_readable
from domain.db import Database
from domain.reading.progress import furthest_of
from domain.social.rules import hidden_user_ids, may_view_profile

Standing = Literal["ahead", "on_track", "behind", "hidden"]


class ClubBook(msgspec.Struct):
    book_id: int
    title: str
    started_at: datetime
    finished_at: datetime | None
    current: bool
    average_rating: float | None   # the members' ratings (stars, quarter precision)
    ratings: int


class BoardRow(msgspec.Struct):
    user_id: int
    display_name: str
    role: str
    furthest: float | None
    standing: Standing


class Board(msgspec.Struct):
    book_id: int
    section_start: float   # the latest opened section's range (0-0 before any opens)
    section_end: float
    members: list[BoardRow]


def standing(reached: float, start: float, end: float) -> Standing:
    if reached > end:
        return "ahead"
    return "on_track" if reached >= start else "behind"


async def board(db: Database, club_id: int, viewer: Principal | None) -> Board:
    await check_club_readable(db, club_id, viewer)
    club = await fetch(db, club_id)
    if club["book_id"] is None:  # no current book: nobody is anywhere yet
        return Board(0, 0.0, 0.0, [])
    book = int(club["book_id"])
    sec = await db.pool.fetchrow(
        "SELECT range_start, range_end FROM club_sections WHERE club_id = $1 AND book_id = $2"
        " AND opened_at IS NOT NULL ORDER BY position DESC LIMIT 1", club_id, book)
    start, end = (float(sec["range_start"]), float(sec["range_end"])) if sec else (0.0, 0.0)
    hidden = await hidden_user_ids(db, viewer.user_id) if viewer else set()
    rows = await db.pool.fetch(
        "SELECT m.user_id, m.role, u.display_name, COALESCE(s.private, false) AS private"
        " FROM club_members m JOIN users u ON u.id = m.user_id LEFT JOIN reading_states s ON"
        " s.user_id = m.user_id AND s.book_id = $2 WHERE m.club_id = $1 ORDER BY m.user_id"
        " LIMIT 1000", club_id, book)
    rows = [r for r in rows if int(r["user_id"]) not in hidden]
    reached = await furthest_of(db.pool, [int(r["user_id"]) for r in rows], book)
    out: list[BoardRow] = []
    for r in rows:
        uid = int(r["user_id"])
        shown = (viewer is not None and viewer.user_id == uid) or (
            not r["private"] and await may_view_profile(
                db, viewer.user_id if viewer else None, uid,
                viewer_role=viewer.role if viewer else None))
        value = reached[uid] if shown else None
        out.append(BoardRow(uid, r["display_name"], r["role"], value,
                            standing(value, start, end) if value is not None else "hidden"))
    return Board(book, start, end, out)


async def books(db: Database, club_id: int, viewer: Principal | None) -> list[ClubBook]:
    """Current and past books, newest first."""
    await check_club_readable(db, club_id, viewer)
    rows = await db.pool.fetch(
        "SELECT cb.book_id, b.title, cb.started_at, cb.finished_at, r.avg_q, r.n FROM"
        " club_books cb JOIN books b ON b.id = cb.book_id LEFT JOIN LATERAL (SELECT"
        " avg(v.rating_quarters) AS avg_q, count(*) AS n FROM reviews v JOIN club_members m"
        " ON m.user_id = v.user_id AND m.club_id = cb.club_id WHERE v.book_id = cb.book_id"
        " AND v.rating_quarters IS NOT NULL AND v.hidden_at IS NULL) r ON true WHERE"
        " cb.club_id = $1 ORDER BY cb.started_at DESC, cb.id DESC LIMIT 200", club_id)
    return [ClubBook(book_id=r["book_id"], title=r["title"], started_at=r["started_at"],
                     finished_at=r["finished_at"], current=r["finished_at"] is None,
                     average_rating=(round(float(r["avg_q"]) / 4 * 4) / 4
                                     if r["avg_q"] is not None else None),
                     ratings=int(r["n"] or 0)) for r in rows]
