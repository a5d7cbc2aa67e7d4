"""Catalog search: weighted full-text ranking, prefix type-ahead, filters, facets, keyset pages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from redis.asyncio import Redis

from domain.catalog import cache
from domain.catalog.cursor import bad_cursor, decode_cursor, encode_cursor, fingerprint
from domain.catalog.rules import normalise_language, words
from domain.catalog.schemas import BookPage, BookSummary, FacetCount, Facets, SearchQuery
from domain.catalog.search_ranked import (
    FACET_LIMIT,
    candidates_sql,
    estimate,
    matches_sql,
    rank_expr,
    totals_columns,
)
from domain.db import Database
from domain.errors import Invalid
from domain.ops import covers

MAX_TERMS = 12
MAX_TERM_LENGTH = 64
CANDIDATES = 300  # READALONG_SEARCH_CANDIDATES: matches ranked per tier (0 = every match)


def prefix_tsquery(q: str) -> str | None:
    """A to_tsquery text from user input: each word a prefix, all required ('hobb:* & ...').

    Only letter/digit runs survive, so no tsquery operator or quote from the user gets through;
    the text still travels as a bound parameter, never spliced into SQL.
    """
    terms = terms_of(q)
    if not terms:
        return None
    return " & ".join(f"{t}:*" for t in terms)


def terms_of(q: str) -> list[str]:
    """The words of a query that become its prefix terms."""
    return [t[:MAX_TERM_LENGTH] for t in words(q)][:MAX_TERMS]


class _Filters:
    """WHERE clauses and their bound parameters (placeholders are numbered as they are added)."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    @property
    def where(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


def _validate(query: SearchQuery) -> tuple[list[str], list[str]]:
    subjects = sorted({" ".join(s.split()).lower() for s in query.subjects if s.strip()})
    languages = sorted({normalise_language(lang, "language") for lang in query.languages})
    if (query.year_from is not None and query.year_to is not None
            and query.year_from > query.year_to):
        raise Invalid("year_from is after year_to", code="invalid_range", field="year_from")
    return subjects, languages


def _base_filters(f: _Filters, tsquery: str | None, subjects: list[str], languages: list[str],
                  query: SearchQuery) -> str | None:
    """Add the filters shared by the page, the total and the facets; returns the tsquery param."""
    ts_param = None
    if tsquery is not None:
        ts_param = f.param(tsquery)
        f.add(f"b.search @@ to_tsquery('simple', {ts_param})")
    for subject in subjects:
        f.add("EXISTS (SELECT 1 FROM book_subjects bs JOIN subjects s ON s.id = bs.subject_id "
              f"WHERE bs.book_id = b.id AND lower(s.name) = {f.param(subject)})")
    if languages:
        f.add(f"b.language = ANY({f.param(languages)}::text[])")
    if query.year_from is not None:
        f.add(f"b.published_year >= {f.param(query.year_from)}")
    if query.year_to is not None:
        f.add(f"b.published_year <= {f.param(query.year_to)}")
    return ts_param


_DETAILS = """
SELECT p.id, p.rank, b.title, b.subtitle, b.language, b.isbn13, b.published_year, b.cover_url,
       b.version,
       ARRAY(SELECT a.name FROM book_authors ba JOIN authors a ON a.id = ba.author_id
             WHERE ba.book_id = b.id ORDER BY ba.position) AS authors,
       ARRAY(SELECT s.name FROM book_subjects bs JOIN subjects s ON s.id = bs.subject_id
             WHERE bs.book_id = b.id ORDER BY lower(s.name)) AS subjects
FROM page p JOIN books b ON b.id = p.id
"""
_FROM_PAGE = "\nFROM page p"
_DETAILS_TOTALS = _DETAILS.replace(_FROM_PAGE, "{totals}" + _FROM_PAGE)  # totals columns slot


async def search_books(db: Database, query: SearchQuery, redis: Redis | None = None,
                       candidates: int = CANDIDATES) -> BookPage:
    """One page of books matching `query`: by relevance when `q` has words, else by title.

    The order is total (rank or title, then id), and the cursor carries the last row's key, so
    walking the pages never repeats or skips a book that was there all along. Relevance ranks a
    bounded candidate set (domain/catalog/search_ranked.py): with more than `candidates`
    matches, `total` and the facets are estimates (`estimated`). With `redis`, the page and the
    total+facets are cached under the catalog version (domain/catalog/cache.py), which every
    book write bumps in its own transaction, so an edit is visible at once.
    """
    subjects, languages = _validate(query)
    tsquery = prefix_tsquery(query.q) if query.q else None
    phrase = " ".join(words(query.q or "")[:MAX_TERMS])
    mode = "rank" if tsquery else "title"
    n = candidates if mode == "rank" else 0
    fp = fingerprint(mode, tsquery, subjects, languages, query.year_from, query.year_to, n)

    f = _Filters()
    ts_param = _base_filters(f, tsquery, subjects, languages, query)
    totals_sql, base_params = _totals_sql(f, query.facets, n, terms_of(query.q or ""))
    with_totals = ""  # the page statement also answers the totals (bounded relevance search)

    if mode == "rank":
        assert ts_param is not None
        p_phrase = f.param(phrase)
        ctes = candidates_sql(f, ts_param, p_phrase, n, terms_of(phrase))
        inner = (f"SELECT b.id, {rank_expr(ts_param, p_phrase)} AS rank FROM c "
                 "JOIN books b ON b.id = c.id")
        outer_where = "TRUE"
        if query.cursor:
            key, last_id = decode_cursor(query.cursor, mode, fp)
            try:
                last_rank = Decimal(key)
            except InvalidOperation as exc:
                raise bad_cursor("cursor is not one this server issued") from exc
            r, i = f.param(last_rank), f.param(last_id)
            outer_where = f"(r.rank < {r} OR (r.rank = {r} AND r.id > {i}))"
        if n:
            with_totals = ", " + totals_columns(n, query.facets)
        page_sql = (f"WITH {ctes}, page AS (SELECT * FROM ({inner}) r WHERE {outer_where} "
                    f"ORDER BY rank DESC, id LIMIT {f.param(query.limit + 1)}) "
                    f"{_DETAILS_TOTALS} ORDER BY p.rank DESC, p.id")
    else:
        if query.cursor:
            last_title, last_id = decode_cursor(query.cursor, mode, fp)
            f.add(f"(b.title, b.id) > ({f.param(last_title)}, {f.param(last_id)})")
        page_sql = (f"WITH page AS (SELECT b.id, NULL::numeric AS rank, b.title FROM books b "
                    f"WHERE {f.where} ORDER BY b.title, b.id LIMIT {f.param(query.limit + 1)}) "
                    f"{_DETAILS} ORDER BY p.title, p.id")

    async with db.pool.acquire() as conn:
        cached_page = cached_totals = None
        pkey = tkey = ""
        if redis is not None:
            def keys_of(version: int) -> list[str]:
                # a with-facets entry also serves a facets=false request (same total)
                return [cache.page_key(version, fp, query.cursor, query.limit),
                        cache.totals_key(version, fp, query.facets),
                        *([] if query.facets else [cache.totals_key(version, fp, True)])]

            version, raw = await cache.lookup(conn, redis, keys_of)
            pkey, tkey = keys_of(version)[:2]
            cached_page = cache.decode_page(raw[0])
            cached_totals = cache.decode_totals(raw[1] or (raw[2] if len(raw) > 2 else None))
        totals: Any = None
        if cached_page is None:
            both = bool(with_totals) and cached_totals is None
            rows = await conn.fetch(page_sql.replace("{totals}", with_totals if both else ""),
                                    *f.params)
            totals = rows[0] if both and rows else None
        if cached_totals is None:
            if totals is None:
                totals = await conn.fetchrow(totals_sql, *base_params)
            if n:
                total, names, counts, estimated = estimate(totals, n, query.facets)
            else:
                total, estimated = totals["total"], False
                names = list(totals["names"]) if query.facets else None
                counts = list(totals["counts"]) if query.facets else None
            cached_totals = cache.CachedTotals(total=total, names=names, counts=counts,
                                               estimated=estimated)
            fresh: dict[str, Any] = {tkey: cached_totals}
        else:
            fresh = {}

    if cached_page is None:
        cached_page = _page(rows, query.limit, mode, fp)
        fresh[pkey] = cached_page
    if redis is not None:
        await cache.store(redis, fresh)
    facets = None
    if query.facets:
        facets = Facets(subjects=[FacetCount(name=name, count=n) for name, n in
                                  zip(cached_totals.names or [], cached_totals.counts or [],
                                      strict=False)])
    return BookPage(items=cached_page.items, next_cursor=cached_page.next_cursor,
                    total=cached_totals.total, facets=facets, estimated=cached_totals.estimated)


def _totals_sql(f: _Filters, facets: bool, n: int, terms: list[str]) -> tuple[str, list[Any]]:
    """Total and facets in one statement and its parameters (the filtered set computed once for
    both); bounded by `n` matches for a relevance search (domain/catalog/search_ranked.py)."""
    if n:
        g = _Filters()
        g.clauses, g.params = list(f.clauses), list(f.params)
        sql = f"WITH {matches_sql(g, '$1', n, terms)} SELECT {totals_columns(n, facets)}"
        return sql, g.params
    return _exact_totals_sql(f, facets), list(f.params)


def _exact_totals_sql(f: _Filters, facets: bool) -> str:
    if not f.clauses and facets:  # the whole catalog: count the link table directly
        return ("WITH f AS (SELECT s.name, count(*) AS n FROM book_subjects bs "
                "JOIN subjects s ON s.id = bs.subject_id GROUP BY s.name "
                f"ORDER BY n DESC, lower(s.name) LIMIT {FACET_LIMIT}) "
                "SELECT (SELECT count(*) FROM books) AS total, "
                "ARRAY(SELECT name FROM f ORDER BY n DESC, lower(name)) AS names, "
                "ARRAY(SELECT n FROM f ORDER BY n DESC, lower(name)) AS counts")
    if facets:
        return (f"WITH m AS MATERIALIZED (SELECT b.id FROM books b WHERE {f.where}), "
                "f AS (SELECT s.name, count(*) AS n FROM m JOIN book_subjects bs "
                "ON bs.book_id = m.id JOIN subjects s ON s.id = bs.subject_id GROUP BY s.name "
                f"ORDER BY n DESC, lower(s.name) LIMIT {FACET_LIMIT}) "
                "SELECT (SELECT count(*) FROM m) AS total, "
                "ARRAY(SELECT name FROM f ORDER BY n DESC, lower(name)) AS names, "
                "ARRAY(SELECT n FROM f ORDER BY n DESC, lower(name)) AS counts")
    return f"SELECT count(*) AS total FROM books b WHERE {f.where}"


def _page(rows: list[Any], limit: int, mode: str, fp: str) -> cache.CachedPage:
    """The page's hits and next cursor from the page query's rows (limit + 1 of them)."""
    more = len(rows) > limit
    rows = rows[:limit]
    items = [BookSummary(
        id=r["id"], title=r["title"], subtitle=r["subtitle"], authors=list(r["authors"]),
        subjects=list(r["subjects"]), language=r["language"], isbn13=r["isbn13"],
        published_year=r["published_year"], cover_url=covers.shown(r["id"], r["cover_url"]),
        version=r["version"],
        rank=float(r["rank"]) if r["rank"] is not None else None) for r in rows]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        key = str(last["rank"]) if mode == "rank" else last["title"]
        next_cursor = encode_cursor(mode, key, last["id"], fp)
    return cache.CachedPage(items=items, next_cursor=next_cursor)
