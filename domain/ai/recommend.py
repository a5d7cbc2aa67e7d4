"""Recommendations from the database: similar books, "for me" with reasons, trending, neighbours.

- neighbours (domain/ai/neighbours.py, worker: nightly full pass, incremental every minute):
  item-item cosine over the readers x books matrix of reading states (status and rating
  weights, domain/ai/recs.py), top 50 per book into `book_neighbours`. Private states are left
  out of every aggregate.
- `similar`: content (embedding neighbours, HNSW) + CF neighbours + shared subjects/authors.
- `for_me`: my CF neighbours' books, content close to what I liked, what people I follow and
  the other members of my clubs read, and trending; never a book on any of my shelves; each
  item with a reason and a confidence.
  Without any history it falls back to popularity (in my shelved subjects when I have some).
- trending (domain/ai/trending.py) is one of the sources of "for me".
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.ai import recs, vectors
from domain.ai.embed import Embedder
from domain.ai.trending import POPULAR_SQL, trending
from domain.db import Database

VERBS = {"read": "finished", "reading": "are reading", "want_to_read": "want to read",
         "did_not_finish": "tried"}


class Recommendation(msgspec.Struct):
    book_id: int
    title: str
    authors: list[str]
    reason: str
    confidence: float
    source: str  # cf | content | social | club | trending | popularity | subjects


async def _titles(conn: Any, ids: list[int]) -> dict[int, tuple[str, list[str]]]:
    rows = await conn.fetch(
        "SELECT b.id, b.title, ARRAY(SELECT a.name FROM book_authors ba JOIN authors a "
        "ON a.id = ba.author_id WHERE ba.book_id = b.id ORDER BY ba.position) AS authors "
        "FROM books b WHERE b.id = ANY($1::bigint[])", ids)
    return {r["id"]: (r["title"], list(r["authors"])) for r in rows}


class _Pool:
    """Candidate scores per book, remembering the strongest contribution as the reason."""

    def __init__(self) -> None:
        self.score: dict[int, float] = {}
        self.best: dict[int, tuple[float, str, str]] = {}

    def add(self, book_id: int, amount: float, reason: str, source: str) -> None:
        if amount <= 0:
            return
        self.score[book_id] = self.score.get(book_id, 0.0) + amount
        if amount > self.best.get(book_id, (0.0, "", ""))[0]:
            self.best[book_id] = (amount, reason, source)


class _Blended(_Pool):
    """For "for me": each source's amounts scaled to [0, 1] by its best, then weighted
    (recs.FOR_ME) and summed - the evaluated hybrid blend - the reason being the source that
    contributed most to the book."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: dict[str, dict[int, tuple[float, float, str]]] = {}

    def add(self, book_id: int, amount: float, reason: str, source: str) -> None:
        if amount <= 0:
            return
        part = self.parts.setdefault(source, {})
        total, strongest, why = part.get(book_id, (0.0, 0.0, reason))
        if amount > strongest:
            strongest, why = amount, reason
        part[book_id] = (total + amount, strongest, why)

    def settle(self, weights: dict[str, float]) -> None:
        for source, part in self.parts.items():
            top = max(a for a, _, _ in part.values())
            for book_id, (amount, _, reason) in part.items():
                super().add(book_id, weights.get(source, 0.0) * amount / top, reason, source)


async def _finish(conn: Any, pool: _Pool, exclude: set[int], limit: int) -> list[Recommendation]:
    ranked = sorted((b for b in pool.score if b not in exclude),
                    key=lambda b: (-pool.score[b], b))[:limit]
    names = await _titles(conn, ranked)
    return [Recommendation(book_id=b, title=names[b][0], authors=names[b][1],
                           reason=pool.best[b][1], confidence=recs.confidence(pool.score[b]),
                           source=pool.best[b][2]) for b in ranked if b in names]


SIMILAR_CACHE = "ra:ai:sim:"   # ra:ai:sim:<model>:<book>:<limit> -> list[Recommendation]
SIMILAR_TTL_S = 600


async def similar_cached(db: Database, redis: Redis, embedder: Embedder, book_id: int,
                         limit: int) -> list[Recommendation]:
    """`similar`, cached for SIMILAR_TTL_S per (model, book, limit) (neighbours change hourly)."""
    key = f"{SIMILAR_CACHE}{embedder.model_id}:{book_id}:{limit}"
    try:
        raw = await redis.get(key)
    except RedisError:
        raw = None
    if raw is not None:
        return msgspec.msgpack.decode(raw, type=list[Recommendation])
    items = await similar(db, embedder, book_id, limit)
    with contextlib.suppress(RedisError):
        await redis.set(key, msgspec.msgpack.encode(items), ex=SIMILAR_TTL_S)
    return items


async def similar(db: Database, embedder: Embedder, book_id: int,
                  limit: int) -> list[Recommendation]:
    """Books like `book_id`: content neighbours, CF neighbours and shared subjects/authors."""
    pool = _Pool()
    async with db.pool.acquire() as conn:
        title = await conn.fetchval("SELECT title FROM books WHERE id = $1", book_id)
        vec = await vectors.book_vector(conn, embedder.model_id, book_id)
        if vec is not None:
            for other, sim in await vectors.nearest(conn, embedder.model_id, vec, 30, [book_id]):
                pool.add(other, 0.55 * max(sim, 0.0), "close in content", "content")
        for r in await conn.fetch("SELECT neighbour_id, cf FROM book_neighbours WHERE book_id "
                                  "= $1 ORDER BY score DESC LIMIT 30", book_id):
            pool.add(r["neighbour_id"], 0.6 * r["cf"], f"readers of {title} also read it", "cf")
        shared = await conn.fetch("""
            SELECT o.book_id, count(*) AS n, min(s.name) AS name FROM book_subjects mine
            JOIN book_subjects o ON o.subject_id = mine.subject_id AND o.book_id <> $1
            JOIN subjects s ON s.id = mine.subject_id
            WHERE mine.book_id = $1 AND o.book_id = ANY($2::bigint[]) GROUP BY o.book_id""",
            book_id, list(pool.score))
        for r in shared:
            pool.add(r["book_id"], 0.05 * min(r["n"], 3), f"also {r['name']}", "subjects")
        authors = await conn.fetch("""
            SELECT o.book_id, a.name FROM book_authors mine
            JOIN book_authors o ON o.author_id = mine.author_id AND o.book_id <> $1
            JOIN authors a ON a.id = mine.author_id WHERE mine.book_id = $1 LIMIT 50""", book_id)
        for r in authors:
            pool.add(r["book_id"], 0.3, f"also by {r['name']}", "author")
        return await _finish(conn, pool, {book_id}, limit)


async def for_me(db: Database, redis: Redis, embedder: Embedder, user_id: int, limit: int,
                 variant: str = "hybrid") -> list[Recommendation]:
    """My recommendations (variant `hybrid` uses every source, `cf` only neighbours+trending)."""
    pool = _Blended()
    async with db.pool.acquire() as conn:
        mine = await conn.fetch("""
            SELECT rs.book_id, rs.status, b.title, (SELECT max(r.rating_quarters) FROM reviews r
                WHERE r.user_id = rs.user_id AND r.book_id = rs.book_id) AS rating
            FROM reading_states rs JOIN books b ON b.id = rs.book_id WHERE rs.user_id = $1""",
            user_id)
        shelved = {r["book_id"] for r in mine}
        liked = sorted(((recs.interaction_weight(r["status"], r["rating"]), r) for r in mine
                        if recs.interaction_weight(r["status"], r["rating"]) >= 0.4),
                       key=lambda p: (-p[0], p[1]["book_id"]))[:10]

        def why(r: Any) -> str:
            verb = "rated highly" if (r["rating"] or 0) >= 16 else VERBS[r["status"]]
            return f"because you {verb} {r['title']}"

        by_id = {r["book_id"]: (w, r) for w, r in liked}
        for n in await conn.fetch("SELECT book_id, neighbour_id, cf FROM book_neighbours "
                                  "WHERE book_id = ANY($1::bigint[])", list(by_id)):
            w, r = by_id[n["book_id"]]
            pool.add(n["neighbour_id"], w * n["cf"], why(r), "cf")
        if variant == "hybrid":
            weights = {r["book_id"]: (w, r) for w, r in liked[:3]}
            for src, other, sim in await vectors.nearest_many(
                    conn, embedder.model_id, list(weights), 10 + min(len(shelved), 90)):
                w, r = weights[src]
                pool.add(other, w * max(sim, 0.0), why(r), "content")
            for s in await conn.fetch("""
                SELECT rs.book_id, min(u.handle) AS handle, count(*) AS n FROM follows f
                JOIN users u ON u.id = f.followee_id AND u.visibility <> 'private'
                JOIN reading_states rs ON rs.user_id = f.followee_id AND NOT rs.private
                     AND rs.status IN ('read', 'reading')
                WHERE f.follower_id = $1 AND f.status = 'accepted'
                GROUP BY rs.book_id ORDER BY n DESC LIMIT 50""", user_id):
                pool.add(s["book_id"], min(s["n"], 4), f"read by @{s['handle']}", "social")
            for c in await conn.fetch(_CLUBS_SQL, user_id):
                pool.add(c["book_id"], min(c["n"], 4), f"popular in {c['club']}", "club")
        hot = await trending(redis, "week", 50)
        top = hot[0][1] if hot else 1.0
        for book_id, score in hot:
            pool.add(book_id, score / top, "trending this week", "trending")
        if not liked:  # cold start: popularity, in the subjects I shelved when I have some
            await _cold_start(conn, redis, pool, user_id)
        pool.settle(recs.FOR_ME)
        return await _finish(conn, pool, shelved, limit)


# what the other members of my clubs read or are reading (non-private states and profiles)
_CLUBS_SQL = """
SELECT rs.book_id, min(c.name) AS club, count(*) AS n FROM club_members me
JOIN clubs c ON c.id = me.club_id
JOIN club_members o ON o.club_id = me.club_id AND o.user_id <> me.user_id
JOIN users u ON u.id = o.user_id AND u.visibility <> 'private'
JOIN reading_states rs ON rs.user_id = o.user_id AND NOT rs.private
     AND rs.status IN ('read', 'reading')
WHERE me.user_id = $1 GROUP BY rs.book_id ORDER BY n DESC, rs.book_id LIMIT 50"""


async def _cold_start(conn: Any, redis: Redis, pool: _Pool, user_id: int) -> None:
    # my favourite genres (profile) first, then the subjects of whatever I shelved
    favourite = await conn.fetch("""
        SELECT s.id AS subject_id, s.name FROM users u
        JOIN subjects s ON lower(s.name) = ANY(ARRAY(SELECT lower(g) FROM unnest(
             u.favourite_genres) g))
        WHERE u.id = $1
        UNION ALL (
        SELECT bs.subject_id, s.name FROM reading_states rs
        JOIN book_subjects bs ON bs.book_id = rs.book_id JOIN subjects s ON s.id = bs.subject_id
        WHERE rs.user_id = $1 GROUP BY bs.subject_id, s.name ORDER BY count(*) DESC LIMIT 3)
        """, user_id)
    for f in favourite:
        for r in await conn.fetch("""
            SELECT bs.book_id, count(rs.id) AS n FROM book_subjects bs
            LEFT JOIN reading_states rs ON rs.book_id = bs.book_id AND NOT rs.private
            WHERE bs.subject_id = $1 GROUP BY bs.book_id ORDER BY n DESC, bs.book_id
            LIMIT 30""", f["subject_id"]):
            pool.add(r["book_id"], 1 + min(r["n"], 20), f"popular in {f['name']}",
                     "subjects")
    popular = await trending(redis, "all", 50)  # rebuilt by the worker with the trending sets
    if not popular:  # not built yet (or Redis lost): ask PostgreSQL
        popular = [(r["book_id"], float(r["n"])) for r in await conn.fetch(POPULAR_SQL)][:50]
    for book_id, n in popular:
        pool.add(book_id, 1 + min(n, 20), "popular with readers", "popularity")
