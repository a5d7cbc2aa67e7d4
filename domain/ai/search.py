"""Semantic and hybrid catalog search: vector similarity, and its fusion with full-text ranking.

`mode=semantic` ranks books by cosine similarity between the query's embedding and each book's
(pgvector, HNSW index); `mode=hybrid` fuses that ranking with the catalog's full-text ranking
(domain/catalog/search.py's filters and rank expression) by reciprocal-rank fusion:
score(book) = sum over the two lists of 1 / (RRF_K + position). Both lists are cut at
`ai_candidates` (200) books, so `total` counts the ranked candidates, not every book.

The filters (subject, language, year) are the catalog's own WHERE clauses. The ranked list of a
(mode, model, query, filters) is computed once and cached in Redis under the catalog version (an
edit is seen by the next search), like the keyword cache; pages are positions in that list and
the cursor carries the position and the last id (bound to the query by its fingerprint), so a
walk never repeats a book. Without a usable `q`, the keyword path lists by title as before.
"""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis

from domain.ai import vectors
from domain.ai.embed import Embedder, to_pgvector
from domain.catalog import cache
from domain.catalog.cursor import bad_cursor, decode_cursor, encode_cursor, fingerprint
from domain.catalog.rules import words
from domain.catalog.schemas import BookPage, BookSummary, FacetCount, Facets, SearchQuery
from domain.catalog.search import (
    CANDIDATES,
    MAX_TERMS,
    _base_filters,
    _Filters,
    _validate,
    prefix_tsquery,
    search_books,
    terms_of,
)
from domain.catalog.search_ranked import FACET_LIMIT, candidates_sql, rank_expr
from domain.db import Database
from domain.errors import NotFound
from domain.keys import CATALOG_CACHE
from domain.ops import covers

RRF_K = 60
# Embeddings are written by the worker's sweep without bumping the catalog version, so a ranked
# list may miss a book embedded after it was cached: it lives 60 s, not the keyword cache's 600 s.
RANKED_TTL_S = 60
MODES = ("keyword", "semantic", "hybrid")


class Ranked(msgspec.Struct, array_like=True):
    ids: list[int]
    scores: list[float]
    facet_names: list[str]
    facet_counts: list[int]


def fuse(*rankings: list[int], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of ranked id lists: (id, score) best first, ties by id."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for position, book_id in enumerate(ranking, start=1):
            scores[book_id] = scores.get(book_id, 0.0) + 1.0 / (k + position)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


async def _vector_leg(conn: Any, embedder: Embedder, q: str, query: SearchQuery,
                      subjects: list[str], languages: list[str],
                      limit: int) -> list[tuple[int, float]]:
    vector = (await embedder.embed([q]))[0]
    f = _Filters()
    _base_filters(f, None, subjects, languages, query)
    p_vec, p_model, p_limit = f.param(to_pgvector(vector)), f.param(embedder.model_id), \
        f.param(limit)
    dim = int(vector.shape[0])
    # with filters the scan is exact over the filtered rows (an HNSW scan filters afterwards
    # and could return fewer than asked); without, the HNSW index answers
    sql = vectors.knn_sql(dim, f.where, p_vec, p_model, p_limit, exact=bool(f.clauses))
    await vectors.set_ef_search(conn, limit)
    rows = await conn.fetch(sql, *f.params)
    return [(int(r["id"]), float(r["similarity"])) for r in rows]


async def _keyword_leg(conn: Any, q: str, query: SearchQuery, subjects: list[str],
                       languages: list[str], limit: int) -> list[int]:
    tsquery = prefix_tsquery(q)
    if tsquery is None:
        return []
    f = _Filters()
    ts_param = _base_filters(f, tsquery, subjects, languages, query)
    p_phrase = f.param(" ".join(words(q)[:MAX_TERMS]))
    assert ts_param is not None
    # the catalog's bounded candidate set (domain/catalog/search_ranked.py), ranked the same way
    ctes = candidates_sql(f, ts_param, p_phrase, CANDIDATES, terms_of(q))
    rows = await conn.fetch(f"WITH {ctes} SELECT b.id FROM c JOIN books b ON b.id = c.id "
                            f"ORDER BY {rank_expr(ts_param, p_phrase)} DESC, b.id "
                            f"LIMIT {f.param(limit)}", *f.params)
    return [int(r["id"]) for r in rows]


async def _facets(conn: Any, ids: list[int]) -> tuple[list[str], list[int]]:
    rows = await conn.fetch(
        "SELECT s.name, count(*) AS n FROM book_subjects bs JOIN subjects s "
        "ON s.id = bs.subject_id WHERE bs.book_id = ANY($1::bigint[]) GROUP BY s.name "
        f"ORDER BY n DESC, lower(s.name) LIMIT {FACET_LIMIT}", ids)
    return [r["name"] for r in rows], [int(r["n"]) for r in rows]


_DETAILS = """
SELECT b.id, b.title, b.subtitle, b.language, b.isbn13, b.published_year, b.cover_url, b.version,
       ARRAY(SELECT a.name FROM book_authors ba JOIN authors a ON a.id = ba.author_id
             WHERE ba.book_id = b.id ORDER BY ba.position) AS authors,
       ARRAY(SELECT s.name FROM book_subjects bs JOIN subjects s ON s.id = bs.subject_id
             WHERE bs.book_id = b.id ORDER BY lower(s.name)) AS subjects
FROM books b WHERE b.id = ANY($1::bigint[])
"""


async def summaries(conn: Any, ranked: list[tuple[int, float]]) -> list[BookSummary]:
    """BookSummary rows for (id, score) pairs, in the given order (vanished books left out)."""
    rows = {r["id"]: r for r in await conn.fetch(_DETAILS, [i for i, _ in ranked])}
    return [BookSummary(
        id=r["id"], title=r["title"], subtitle=r["subtitle"], authors=list(r["authors"]),
        subjects=list(r["subjects"]), language=r["language"], isbn13=r["isbn13"],
        published_year=r["published_year"], cover_url=covers.shown(r["id"], r["cover_url"]),
        version=r["version"],
        rank=round(score, 6)) for book_id, score in ranked if (r := rows.get(book_id))]


def _start(ranked: Ranked, cursor: str | None, mode: str, fp: str) -> int:
    """Where a page starts in the ranked list: just after the cursor's last id."""
    if not cursor:
        return 0
    key, last_id = decode_cursor(cursor, mode, fp)
    try:
        position = int(key)
    except ValueError as exc:
        raise bad_cursor("cursor is not one this server issued") from exc
    if 0 < position <= len(ranked.ids) and ranked.ids[position - 1] == last_id:
        return position
    if last_id in ranked.ids:
        return ranked.ids.index(last_id) + 1
    return max(0, min(position, len(ranked.ids)))


async def search(db: Database, embedder: Embedder, query: SearchQuery, mode: str,
                 redis: Redis | None = None, candidates: int = 200) -> BookPage:
    """One page of semantic or hybrid results for `query` (keyword search without words)."""
    q = " ".join(words(query.q or ""))
    if mode == "keyword" or not q:
        return await search_books(db, query, redis)
    subjects, languages = _validate(query)
    fp = fingerprint(mode, embedder.model_id, q.lower(), subjects, languages, query.year_from,
                     query.year_to)
    async with db.pool.acquire() as conn:
        key = ""
        ranked: Ranked | None = None
        if redis is not None:
            version = await cache.catalog_version(conn)
            key = f"{CATALOG_CACHE}{version}:ai:{fingerprint(fp, candidates)}"
            raw = (await cache.load(redis, [key]))[0]
            ranked = None if raw is None else msgspec.msgpack.decode(raw, type=Ranked)
        if ranked is None:
            semantic = await _vector_leg(conn, embedder, q, query, subjects, languages,
                                         candidates)
            if mode == "hybrid":
                keyword = await _keyword_leg(conn, q, query, subjects, languages, candidates)
                fused = fuse(keyword, [i for i, _ in semantic])[:candidates]
            else:
                fused = semantic
            ids = [i for i, _ in fused]
            names, counts = await _facets(conn, ids) if ids else ([], [])
            ranked = Ranked(ids=ids, scores=[s for _, s in fused], facet_names=names,
                            facet_counts=counts)
            if redis is not None:
                await cache.store(redis, {key: ranked}, ttl=RANKED_TTL_S)
        start = _start(ranked, query.cursor, mode, fp)
        end = start + query.limit
        page = list(zip(ranked.ids[start:end], ranked.scores[start:end], strict=True))
        items = await summaries(conn, page)
    next_cursor = None
    if end < len(ranked.ids) and page:
        next_cursor = encode_cursor(mode, str(min(end, len(ranked.ids))), page[-1][0], fp)
    facets = Facets(subjects=[FacetCount(name=n, count=c) for n, c in
                              zip(ranked.facet_names, ranked.facet_counts, strict=True)]) \
        if query.facets else None
    return BookPage(items=items, next_cursor=next_cursor, total=len(ranked.ids), facets=facets)


async def more_like_this(db: Database, embedder: Embedder, book_id: int,
                         limit: int) -> list[BookSummary]:
    """The books closest to `book_id` by content, best first (the book embedded now if the
    worker has not yet); 404 `book_not_found` for an unknown book."""
    async with db.pool.acquire() as conn:
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM books WHERE id = $1)", book_id):
            raise NotFound("no book with this id", code="book_not_found")
        vec = await vectors.book_vector(conn, embedder.model_id, book_id)
    if vec is None:
        await vectors.embed_books(db, embedder, [book_id])
        async with db.pool.acquire() as conn:
            vec = await vectors.book_vector(conn, embedder.model_id, book_id)
    if vec is None:
        return []
    async with db.pool.acquire() as conn:
        near = await vectors.nearest(conn, embedder.model_id, vec, limit, exclude=[book_id])
        return await summaries(conn, near)
