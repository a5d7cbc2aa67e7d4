"""Item-item neighbours (collaborative filtering) in `book_neighbours`: a full pass (nightly)
and an incremental update (every minute) that recomputes only the books a change can move.

Cosine over the readers x books matrix: sim(i, j) = dot(i, j) / sqrt(norm(i) norm(j)), from
interaction weights (domain/ai/recs.py). Row triggers (migration m0028) record in
`ai_dirty_states` each (reader, book) whose status, privacy or rating changed (progress moves do
not fire). A change of reader u's weight on book b moves dot(b, j) for the books j u has, and
norm(b), hence sim(b, j) for every book j co-read with b. So the affected books are b, u's
books and every book co-read with b; each of them gets its list recomputed from the histories
of all its readers, with the stored norms (`book_norms`) of the books outside that set. The
result is the list the full pass would write (same sums, same order: tests compare them). A
reader with more than MAX_HISTORY states (whose cut to their strongest can move other books'
norms) or more than MAX_AFFECTED affected books falls back to the full pass.
"""

from __future__ import annotations

from typing import Any

from domain.ai import recs
from domain.db import Database

NEIGHBOURS = 50
MAX_HISTORY = 200
MAX_AFFECTED = 5000

_STATES_SQL = """
SELECT rs.user_id, rs.book_id, rs.status,
       (SELECT max(r.rating_quarters) FROM reviews r
        WHERE r.user_id = rs.user_id AND r.book_id = rs.book_id) AS rating
FROM reading_states rs WHERE NOT rs.private
"""
_ORDER = " ORDER BY rs.user_id, rs.book_id"

_AFFECTED_SQL = """
SELECT unnest($2::bigint[]) AS book_id
UNION SELECT book_id FROM reading_states WHERE user_id = ANY($1::bigint[]) AND NOT private
UNION SELECT o.book_id FROM reading_states d
      JOIN reading_states o ON o.user_id = d.user_id AND NOT o.private
      WHERE d.book_id = ANY($2::bigint[]) AND NOT d.private
"""

_WRITE_SQL = """
INSERT INTO book_neighbours (book_id, neighbour_id, score, cf)
SELECT u.book_id, u.other, u.score, u.score
FROM unnest($1::bigint[], $2::bigint[], $3::float8[]) AS u(book_id, other, score)
JOIN books a ON a.id = u.book_id JOIN books b ON b.id = u.other
"""
_NORMS_SQL = """
INSERT INTO book_norms (book_id, norm)
SELECT u.book_id, u.norm FROM unnest($1::bigint[], $2::float8[]) AS u(book_id, norm)
JOIN books b ON b.id = u.book_id
ON CONFLICT (book_id) DO UPDATE SET norm = EXCLUDED.norm
"""


def _histories(rows: list[Any]) -> list[dict[int, float]]:
    """Reader histories in reader-id order (rows come ordered by reader, then book)."""
    by_user: dict[int, dict[int, float]] = {}
    for r in rows:
        by_user.setdefault(r["user_id"], {})[r["book_id"]] = recs.interaction_weight(
            r["status"], r["rating"])
    return list(by_user.values())


async def _write(conn: Any, books: set[int] | None, near: dict[int, list[tuple[int, float]]],
                 norms: dict[int, float]) -> None:
    """Replace the lists and norms of `books` (every book when None) in one transaction."""
    out = [(b, o, sc) for b, pairs in near.items() for o, sc in pairs]
    async with conn.transaction():
        if books is None:
            await conn.execute("DELETE FROM book_neighbours")
            await conn.execute("DELETE FROM book_norms")
        else:
            await conn.execute("DELETE FROM book_neighbours WHERE book_id = ANY($1::bigint[])",
                               list(books))
            await conn.execute("DELETE FROM book_norms WHERE book_id = ANY($1::bigint[])",
                               list(books))
        # books deleted meanwhile drop out by the joins
        await conn.execute(_WRITE_SQL, [b for b, _, _ in out], [o for _, o, _ in out],
                           [sc for _, _, sc in out])
        await conn.execute(_NORMS_SQL, list(norms), list(norms.values()))


async def rebuild_neighbours(db: Database) -> int:
    """The full pass: every book's neighbours and norm from every reading state; books written."""
    async with db.pool.acquire() as conn:
        await conn.execute("DELETE FROM ai_dirty_states")  # everything is recomputed now
        rows = await conn.fetch(_STATES_SQL + _ORDER)
    histories = _histories(rows)
    near = recs.neighbours_from(histories, NEIGHBOURS, MAX_HISTORY)
    async with db.pool.acquire() as conn:
        await _write(conn, None, near, recs.norms_of(histories, MAX_HISTORY))
    return len(near)


async def update_neighbours(db: Database) -> int:
    """The incremental update from the recorded changes; the books recomputed (-1: it fell
    back to the full pass)."""
    async with db.pool.acquire() as conn:
        dirty = await conn.fetch("SELECT user_id, book_id FROM ai_dirty_states")
        if not dirty:
            return 0
        users = sorted({int(d["user_id"]) for d in dirty})
        books = sorted({int(d["book_id"]) for d in dirty})
        heavy = await conn.fetchval(
            "SELECT count(*) FROM (SELECT user_id FROM reading_states WHERE "
            "user_id = ANY($1::bigint[]) AND NOT private GROUP BY user_id "
            f"HAVING count(*) > {MAX_HISTORY}) h", users)
        affected = {int(r["book_id"]) for r in await conn.fetch(_AFFECTED_SQL, users, books)}
        if heavy or len(affected) > MAX_AFFECTED:
            await rebuild_neighbours(db)
            return -1
        rows = await conn.fetch(
            _STATES_SQL + " AND rs.user_id IN (SELECT user_id FROM reading_states WHERE "
            "book_id = ANY($1::bigint[]) AND NOT private)" + _ORDER, list(affected))
        histories = _histories(rows)
        fresh = {b: n for b, n in recs.norms_of(histories, MAX_HISTORY).items()
                 if b in affected}
        others = {j for h in histories for j in h} - affected
        norms = {int(r["book_id"]): float(r["norm"]) for r in await conn.fetch(
            "SELECT book_id, norm FROM book_norms WHERE book_id = ANY($1::bigint[])",
            list(others))}
        if len(norms) < len(others):  # norms never stored (before a first full pass)
            await rebuild_neighbours(db)
            return -1
        norms.update(fresh)
        near = recs.neighbours_for(affected & set(fresh), histories, norms, NEIGHBOURS,
                                   MAX_HISTORY)
        await _write(conn, affected, near, fresh)
        await conn.execute(
            "DELETE FROM ai_dirty_states d USING unnest($1::bigint[], $2::bigint[]) AS "
            "u(user_id, book_id) WHERE d.user_id = u.user_id AND d.book_id = u.book_id",
            [int(d["user_id"]) for d in dirty], [int(d["book_id"]) for d in dirty])
    return len(affected)
