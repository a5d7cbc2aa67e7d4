"""What "since your last visit" means, per (reader, place): the catch-up range's start.

A visit to a place's catch-up starts when the reader asks for a summary without naming a
`since` and their previous ask is more than VISIT_GAP_S old (or there is none): the range then
starts after `seen_id` (the last message they had seen when they last came, or told us they
saw), and `seen_id` moves to the place's newest message (they are here now: what they see next
they see live). Asking again within the same visit (a retry, or a minute later) keeps the same
start, so the range only grows. `POST …/catch-up/seen {last_seen}` records explicitly how far
the reader has seen (e.g. when they leave the room) and ends the visit; it only moves forward.
Rows: `ai_visits` (migration m0028). Place ids of another kind's tables are read with the
discussion's own table map (domain.discussion.store.TABLES).
"""

from __future__ import annotations

from domain.db import Database
from domain.discussion.store import TABLES
from domain.errors import NotFound

VISIT_GAP_S = 15 * 60

_ARRIVE_SQL = f"""
INSERT INTO ai_visits AS v (user_id, kind, place_id, seen_id, asked_since, visited_at)
VALUES ($1, $2, $3, $4, 0, now())
ON CONFLICT (user_id, kind, place_id) DO UPDATE SET
    asked_since = CASE WHEN v.visited_at < now() - interval '{VISIT_GAP_S} seconds'
                       THEN v.seen_id ELSE v.asked_since END,
    seen_id = GREATEST(v.seen_id, EXCLUDED.seen_id),
    visited_at = now()
RETURNING asked_since
"""

_SEEN_SQL = """
INSERT INTO ai_visits AS v (user_id, kind, place_id, seen_id, asked_since, visited_at)
VALUES ($1, $2, $3, $4, 0, now() - interval '1 day')
ON CONFLICT (user_id, kind, place_id) DO UPDATE SET seen_id = GREATEST(v.seen_id, $4),
    visited_at = LEAST(v.visited_at, now() - interval '1 day')
RETURNING seen_id
"""


async def newest_message(db: Database, kind: str, place_id: int) -> int:
    """The id of the newest message of the place (0 when there is none)."""
    t = TABLES[kind]
    value = await db.pool.fetchval(
        f"SELECT coalesce(max(id), 0) FROM {t.messages} WHERE {t.place} = $1", place_id)
    return int(value)


async def arrive(db: Database, user_id: int, kind: str, place_id: int) -> int:
    """Record the reader's visit now; the id their catch-up range starts after."""
    newest = await newest_message(db, kind, place_id)
    return int(await db.pool.fetchval(_ARRIVE_SQL, user_id, kind, place_id, newest))


async def last_since(db: Database, user_id: int, kind: str, place_id: int) -> int:
    """Where the reader's current visit's range starts (0 before any visit)."""
    value = await db.pool.fetchval(
        "SELECT asked_since FROM ai_visits WHERE user_id = $1 AND kind = $2 AND place_id = $3",
        user_id, kind, place_id)
    return int(value or 0)


async def mark_seen(db: Database, user_id: int, kind: str, place_id: int,
                    last_seen: int | None) -> int:
    """The reader has seen up to `last_seen` (None: the newest message now); the stored mark."""
    seen = await newest_message(db, kind, place_id) if last_seen is None else last_seen
    return int(await db.pool.fetchval(_SEEN_SQL, user_id, kind, place_id, seen))


async def check_section(db: Database, club_id: int, section_id: int) -> None:
    """404 unless `section_id` is a section of club `club_id`."""
    found = await db.pool.fetchval(
        "SELECT club_id FROM club_sections WHERE id = $1", section_id)
    if found is None or int(found) != club_id:
        raise NotFound(f"no section {section_id} in this club", code="section_not_found")
