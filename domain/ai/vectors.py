"""Book vectors in PostgreSQL (pgvector): what a book's text is, embedding sweeps, nearest books.

The worker keeps `book_embeddings` current with one sweep (`embed_catalog`): it embeds every
book whose row for the current model is missing or older than the book (`book_version` <>
`books.version`), in batches, and records its progress in Redis. A cron runs the sweep every few
seconds, but it returns at once when the catalog version (bumped by every write to `books`,
migration m0013) has not moved since the last complete sweep of this model - so creates and
edits are embedded within seconds without touching the catalog's write path, and a model change
(another `model_id`) finds every book stale and re-embeds the catalog in the background while
search keeps answering from the rows that exist. The old model's rows go once the new is whole.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.ai.embed import Embedder, from_pgvector, to_pgvector
from domain.db import Database

if TYPE_CHECKING:
    from domain.ai.embed import Vectors

BATCH = 256
ANALYZE_AFTER = 500          # rows written by one sweep before the table's statistics are renewed
INDEXED_DIM = 256            # the HNSW index covers rows of this dimension (migration m0021)
PROGRESS_KEY = "ra:ai:embed:progress"   # hash: model, total, done, started, finished, state
SWEPT_KEY = "ra:ai:embed:swept:"        # ra:ai:embed:swept:<model> -> catalog version swept

_TEXT_SQL = """
SELECT b.id, b.version, b.title, coalesce(b.subtitle, '') AS subtitle, b.description,
       ARRAY(SELECT a.name FROM book_authors ba JOIN authors a ON a.id = ba.author_id
             WHERE ba.book_id = b.id ORDER BY ba.position) AS authors,
       ARRAY(SELECT s.name FROM book_subjects bs JOIN subjects s ON s.id = bs.subject_id
             WHERE bs.book_id = b.id ORDER BY lower(s.name)) AS subjects
FROM books b WHERE b.id = ANY($1::bigint[]) ORDER BY b.id
"""

_BATCH_SQL = """
SELECT b.id FROM books b
LEFT JOIN book_embeddings e ON e.book_id = b.id AND e.model = $1
WHERE b.id > $2 AND ($3 OR e.book_id IS NULL OR e.book_version <> b.version)
ORDER BY b.id LIMIT $4
"""

_COUNT_SQL = """
SELECT count(*) FROM books b
LEFT JOIN book_embeddings e ON e.book_id = b.id AND e.model = $1
WHERE $2 OR e.book_id IS NULL OR e.book_version <> b.version
"""

# a book deleted meanwhile is skipped by the join; an edit meanwhile leaves a stale book_version
_UPSERT_SQL = """
INSERT INTO book_embeddings (book_id, model, dim, book_version, embedding, updated_at)
SELECT u.id, $1, $2, u.version, u.vec::vector, now()
FROM unnest($3::bigint[], $4::int[], $5::text[]) AS u(id, version, vec)
JOIN books b ON b.id = u.id
ON CONFLICT (book_id, model) DO UPDATE
SET dim = EXCLUDED.dim, book_version = EXCLUDED.book_version,
    embedding = EXCLUDED.embedding, updated_at = now()
"""


class Progress(msgspec.Struct):
    model: str = ""
    state: str = "idle"       # idle | running | done
    total: int = 0
    done: int = 0
    started: float = 0.0
    finished: float = 0.0


def book_text(title: str, subtitle: str, authors: Sequence[str], subjects: Sequence[str],
              description: str) -> str:
    """The text a book is embedded from: title, subtitle, authors, subjects and description."""
    parts = [title, subtitle, ", ".join(authors), ", ".join(subjects), description]
    return ". ".join(p.strip() for p in parts if p and p.strip())


async def embed_books(db: Database, embedder: Embedder, ids: Sequence[int]) -> int:
    """Embed the books `ids` with `embedder` and upsert their rows; the number written."""
    if not ids:
        return 0
    async with db.pool.acquire() as conn:
        rows = await conn.fetch(_TEXT_SQL, list(ids))
    if not rows:
        return 0
    texts = [book_text(r["title"], r["subtitle"], r["authors"], r["subjects"], r["description"])
             for r in rows]
    vectors = await embedder.embed(texts)
    dim = int(vectors.shape[1])
    async with db.pool.acquire() as conn:
        await conn.execute(_UPSERT_SQL, embedder.model_id, dim, [r["id"] for r in rows],
                           [r["version"] for r in rows], [to_pgvector(v) for v in vectors])
    return len(rows)


async def _set_progress(redis: Redis, progress: Progress) -> None:
    with contextlib.suppress(RedisError):
        await redis.hset(PROGRESS_KEY, mapping={  # type: ignore[misc]
            k: str(v) for k, v in msgspec.structs.asdict(progress).items()})


async def progress(redis: Redis) -> Progress:
    """The last (or running) embedding sweep's progress."""
    raw: dict[bytes, bytes] = await redis.hgetall(PROGRESS_KEY)  # type: ignore[misc]
    values = {k.decode(): v.decode() for k, v in raw.items()}
    return msgspec.convert(values, Progress, strict=False)


async def embed_catalog(db: Database, redis: Redis, embedder: Embedder, *,
                        force: bool = False) -> int:
    """Embed every stale book (all of them with `force`) in batches; the number embedded.

    Returns at once (0) when nothing was written to the catalog since the last complete sweep of
    this model. Progress goes to Redis (`progress()`); old models' rows go once this is whole.
    """
    model = embedder.model_id
    async with db.pool.acquire() as conn:
        version = int(await conn.fetchval("SELECT version FROM catalog_state WHERE id = 1"))
        if not force:
            swept = await _swept(redis, model)
            if swept == version:
                return 0
        total = int(await conn.fetchval(_COUNT_SQL, model, force))
    state = Progress(model=model, state="running", total=total, started=time.time())
    if total:
        await _set_progress(redis, state)
    last, done = 0, 0
    while True:
        async with db.pool.acquire() as conn:
            ids = [r["id"] for r in await conn.fetch(_BATCH_SQL, model, last, force, BATCH)]
        if not ids:
            break
        done += await embed_books(db, embedder, ids)
        last = ids[-1]
        state.done = done
        await _set_progress(redis, state)
    async with db.pool.acquire() as conn:
        await conn.execute("DELETE FROM book_embeddings WHERE model <> $1", model)
        if done >= ANALYZE_AFTER:  # fresh statistics, or the planner may skip the HNSW index
            await conn.execute("ANALYZE book_embeddings")
    with contextlib.suppress(RedisError):
        await redis.set(SWEPT_KEY + model, version)
    if total:
        state.state, state.finished = "done", time.time()
        await _set_progress(redis, state)
    return done


async def _swept(redis: Redis, model: str) -> int | None:
    try:
        raw = await redis.get(SWEPT_KEY + model)
    except RedisError:
        return None
    return int(raw) if raw is not None else None


def _distance_sql(dim: int, param: str, exact: bool = False) -> str:
    """Cosine distance to `param`; 256-d rows use the HNSW index's expression unless `exact`."""
    if dim == INDEXED_DIM and not exact:
        return f"(e.embedding::vector(256) <=> {param}::vector(256))"
    return f"(e.embedding <=> {param}::vector)"


def knn_sql(dim: int, where: str, p_vec: str, p_model: str, p_limit: str,
            exact: bool = False) -> str:
    """Book ids and similarities nearest a query vector, for the current model and `where`."""
    dist = _distance_sql(dim, p_vec, exact)
    return (f"SELECT e.book_id AS id, 1 - {dist} AS similarity FROM book_embeddings e "
            f"JOIN books b ON b.id = e.book_id WHERE e.model = {p_model} AND e.dim = {dim} "
            f"AND {where} ORDER BY {dist} LIMIT {p_limit}")


async def nearest(conn: Any, model: str, vector: Vectors, limit: int,
                  exclude: Sequence[int] = ()) -> list[tuple[int, float]]:
    """The `limit` books nearest `vector` (one row), best first, as (id, cosine similarity)."""
    vec = vector.reshape(-1)
    dim = int(vec.shape[0])
    sql = knn_sql(dim, "NOT (e.book_id = ANY($4::bigint[]))", "$1", "$2", "$3")
    await set_ef_search(conn, limit + len(exclude))
    rows = await conn.fetch(sql, to_pgvector(vec), model, limit, list(exclude))
    return [(int(r["id"]), float(r["similarity"])) for r in rows]


async def set_ef_search(conn: Any, candidates: int) -> None:
    """Let the HNSW scan return at least `candidates` rows (pgvector's default is 40)."""
    await conn.execute(f"SET hnsw.ef_search = {max(40, min(int(candidates), 1000))}")


async def book_vector(conn: Any, model: str, book_id: int) -> Vectors | None:
    """The stored vector of one book for `model`, or None when not embedded (yet)."""
    raw = await conn.fetchval("SELECT embedding::text FROM book_embeddings "
                              "WHERE book_id = $1 AND model = $2", book_id, model)
    if raw is None:
        return None
    return from_pgvector(str(raw))


async def nearest_many(conn: Any, model: str, book_ids: Sequence[int],
                       limit: int) -> list[tuple[int, int, float]]:
    """For each of `book_ids` (embedded with `model`), its `limit` nearest other books, in one
    statement: (source id, book id, cosine similarity)."""
    if not book_ids:
        return []
    dim = await conn.fetchval("SELECT dim FROM book_embeddings WHERE model = $1 AND "
                              "book_id = ANY($2::bigint[]) LIMIT 1", model, list(book_ids))
    if dim is None:
        return []
    cast = "::vector(256)" if dim == INDEXED_DIM else ""
    await set_ef_search(conn, limit)
    rows = await conn.fetch(f"""
        SELECT s.book_id AS src, n.id, n.similarity FROM book_embeddings s
        CROSS JOIN LATERAL (
            SELECT e.book_id AS id, 1 - (e.embedding{cast} <=> s.embedding{cast}) AS similarity
            FROM book_embeddings e WHERE e.model = $1 AND e.dim = $3 AND e.book_id <> s.book_id
            ORDER BY e.embedding{cast} <=> s.embedding{cast} LIMIT $4) n
        WHERE s.model = $1 AND s.book_id = ANY($2::bigint[]) AND s.dim = $3""",
        model, list(book_ids), dim, limit)
    return [(int(r["src"]), int(r["id"]), float(r["similarity"])) for r in rows]
