"""Who may read a club-scoped leaderboard (`club-pages-month:<club id>`): anyone for a public
club, only its members for a private or secret one (others get the same 404 as an unknown
board, so a secret club's id reveals nothing). Reads domain/clubs' tables with its own SQL."""

from __future__ import annotations

from typing import Any

from domain.errors import NotFound

_ACCESS_SQL = (
    "SELECT c.visibility, EXISTS (SELECT 1 FROM club_members m WHERE m.club_id = c.id"
    " AND m.user_id = $2) AS member FROM clubs c WHERE c.id = $1")


async def check_access(conn: Any, club_id: int, viewer_id: int | None) -> None:
    """Raise NotFound unless `viewer_id` may see club `club_id`'s boards."""
    row = await conn.fetchrow(_ACCESS_SQL, club_id, viewer_id or 0)
    if row is None or (row["visibility"] != "public" and not row["member"]):
        raise NotFound("no such leaderboard", code="leaderboard_not_found")
