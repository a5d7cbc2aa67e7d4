"""The Open Library importer: a dump read in batches, each written in one transaction (editions
through a COPY into a staging table), idempotent (rows are keyed by the dump's keys: a re-run
updates them, never duplicates), merging onto existing books by ISBN, keeping provenance
(`books.source`, `ol_key`, `ol_work_key`), rebuilding the search document and the table of
contents when the edition has one. Progress and malformed lines go to `import_runs`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from domain.catalog.rules import title_key
from domain.catalog.store import REFRESH_SEARCH
from domain.db import Database
from domain.ops.metrics import ops_metrics
from domain.ops.ol_parse import Author, Edition, Problem, Work, parse_line

R = TypeVar("R")
KIND = "openlibrary"
MAX_PROBLEMS = 100  # kept per run (the count goes on)
STAGE = ("ol_key", "title", "title_key", "subtitle", "language", "isbn13", "isbn10",
         "page_count", "publisher", "published", "published_year", "ol_work_key")

_STAGE_SQL = """CREATE TEMP TABLE ol_stage (ol_key TEXT, title TEXT, title_key TEXT,
    subtitle TEXT, language TEXT, isbn13 TEXT, isbn10 TEXT, page_count INT, publisher TEXT,
    published TEXT, published_year INT, ol_work_key TEXT) ON COMMIT DROP"""
_MERGE_ISBN_SQL = """UPDATE books b
SET ol_key = s.ol_key, source = coalesce(b.source, 'openlibrary') FROM ol_stage s
WHERE b.ol_key IS NULL AND s.{col} IS NOT NULL AND b.{col} = s.{col}
  AND NOT EXISTS (SELECT 1 FROM books x WHERE x.ol_key = s.ol_key)"""
_DROP_TAKEN_SQL = """UPDATE ol_stage s SET {col} = NULL WHERE EXISTS (
    SELECT 1 FROM books b WHERE b.{col} = s.{col} AND b.ol_key IS DISTINCT FROM s.ol_key)"""
_UPSERT_SQL = """INSERT INTO books (ol_key, title, title_key, subtitle, language, isbn13, isbn10,
    page_count, publisher, published, published_year, ol_work_key, source)
SELECT ol_key, title, title_key, subtitle, language, isbn13, isbn10, page_count, publisher,
       published, published_year, ol_work_key, 'openlibrary' FROM ol_stage
ON CONFLICT (ol_key) DO UPDATE SET title = EXCLUDED.title, title_key = EXCLUDED.title_key,
    subtitle = EXCLUDED.subtitle, language = EXCLUDED.language,
    isbn13 = coalesce(EXCLUDED.isbn13, books.isbn13),
    isbn10 = coalesce(EXCLUDED.isbn10, books.isbn10),
    page_count = coalesce(EXCLUDED.page_count, books.page_count),
    publisher = coalesce(EXCLUDED.publisher, books.publisher),
    published = coalesce(EXCLUDED.published, books.published),
    published_year = coalesce(EXCLUDED.published_year, books.published_year),
    ol_work_key = coalesce(EXCLUDED.ol_work_key, books.ol_work_key),
    version = books.version + 1, updated_at = now()
RETURNING id, ol_key"""
_AUTHORS_SQL = """WITH s AS (SELECT * FROM unnest($1::text[], $2::text[]) AS s(name, key))
, claimed AS (UPDATE authors a SET ol_key = s.key FROM s
    WHERE a.ol_key IS NULL AND lower(a.name) = lower(s.name)
      AND NOT EXISTS (SELECT 1 FROM authors x WHERE x.ol_key = s.key) RETURNING a.id)
INSERT INTO authors (name, ol_key) SELECT name, key FROM s
WHERE NOT EXISTS (SELECT 1 FROM authors x WHERE x.ol_key = s.key OR lower(x.name) = lower(s.name))
ON CONFLICT DO NOTHING"""
_LINK_SQL = """INSERT INTO book_authors (book_id, author_id, position)
SELECT l.book_id, a.id, l.pos
FROM unnest($1::bigint[], $2::text[], $3::int[]) AS l(book_id, key, pos)
JOIN authors a ON a.ol_key = l.key ON CONFLICT DO NOTHING"""
_WORKS_SQL = """UPDATE books b SET description = w.description, updated_at = now()
FROM unnest($1::text[], $2::text[]) AS w(key, description)
WHERE b.ol_work_key = w.key AND w.description <> ''
  AND b.description IS DISTINCT FROM w.description RETURNING b.id"""
_WORK_AUTHORS_SQL = """INSERT INTO book_authors (book_id, author_id, position)
SELECT b.id, a.id, l.pos FROM unnest($1::text[], $2::text[], $3::int[]) AS l(work, key, pos)
JOIN books b ON b.ol_work_key = l.work JOIN authors a ON a.ol_key = l.key
WHERE NOT EXISTS (SELECT 1 FROM book_authors x WHERE x.book_id = b.id)
ON CONFLICT DO NOTHING"""


def _dedupe(editions: list[Edition]) -> list[Edition]:
    """The last of each key wins; an ISBN seen twice in a batch stays with its first edition."""
    by_key = {e.key: e for e in editions}
    seen: set[str] = set()
    for e in by_key.values():
        for attr in ("isbn13", "isbn10"):
            value = getattr(e, attr)
            if value is not None and value in seen:
                setattr(e, attr, None)
            elif value is not None:
                seen.add(value)
    return list(by_key.values())


async def _write_authors(conn: Any, authors: list[Author]) -> int:
    unique = {a.name.lower(): a for a in authors}
    if unique:
        await conn.execute(_AUTHORS_SQL, [a.name for a in unique.values()],
                           [a.key for a in unique.values()])
    return len(authors)


async def _write_editions(conn: Any, editions: list[Edition]) -> list[int]:
    if not editions:
        return []
    editions = _dedupe(editions)
    await conn.execute(_STAGE_SQL)
    await conn.copy_records_to_table("ol_stage", columns=list(STAGE), records=[
        (e.key, e.title, title_key(e.title), e.subtitle, e.language, e.isbn13, e.isbn10, e.pages,
         e.publisher, str(e.year) if e.year else None, e.year, e.work_key) for e in editions])
    for col in ("isbn13", "isbn10"):
        await conn.execute(_MERGE_ISBN_SQL.format(col=col))
        await conn.execute(_DROP_TAKEN_SQL.format(col=col))
    ids = {r["ol_key"]: int(r["id"]) for r in await conn.fetch(_UPSERT_SQL)}
    book_ids = list(ids.values())
    await conn.execute("DROP TABLE ol_stage")
    links = [(ids[e.key], k, pos) for e in editions for pos, k in enumerate(e.author_keys)]
    with_authors = sorted({b for b, _, _ in links})
    await conn.execute("DELETE FROM book_authors WHERE book_id = ANY($1::bigint[])", with_authors)
    if links:
        await conn.execute(_LINK_SQL, *map(list, zip(*links, strict=True)))
    toc = [e for e in editions if e.toc]
    await conn.execute("DELETE FROM book_chapters WHERE book_id = ANY($1::bigint[])",
                       [ids[e.key] for e in toc])
    await conn.copy_records_to_table("book_chapters", columns=["book_id", "position", "title",
                                                                "start"], records=[
        (ids[e.key], pos, t, s) for e in toc for pos, (t, s) in enumerate(e.toc)])
    return book_ids


async def _write_works(conn: Any, works: list[Work]) -> list[int]:
    if not works:
        return []
    ids = [int(r["id"]) for r in await conn.fetch(
        _WORKS_SQL, [w.key for w in works], [w.description for w in works])]
    links = [(w.key, k, pos) for w in works for pos, k in enumerate(w.author_keys)]
    if links:
        await conn.execute(_WORK_AUTHORS_SQL, *map(list, zip(*links, strict=True)))
    return ids


class Run:
    """One import's counters, written to its `import_runs` row after every batch."""

    def __init__(self, run_id: int) -> None:
        self.id = run_id
        self.lines = self.books = self.authors = self.malformed = 0
        self.problems: list[dict[str, Any]] = []
        self.counted = (0, 0, 0)  # (lines, malformed, books) already added to the metrics

    def problem(self, p: Problem) -> None:
        self.malformed += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"line": p.line, "reason": p.reason})

    async def save(self, conn: Any, status: str = "running") -> None:
        await conn.execute(
            "UPDATE import_runs SET lines_read = $2, books = $3, authors = $4, malformed = $5,"
            " problems = $6::jsonb, status = $7::text,"
            " finished_at = CASE WHEN $7::text = 'running' THEN NULL ELSE now() END"
            " WHERE id = $1",
            self.id, self.lines, self.books, self.authors, self.malformed,
            json.dumps(self.problems), status)


async def start_run(db: Database, path: str, kind: str = KIND) -> int:
    return int(await db.pool.fetchval(
        "INSERT INTO import_runs (kind, path) VALUES ($2, $1) RETURNING id", path, kind))


async def _flush(db: Database, run: Run, batch: list[Any]) -> None:
    async with db.pool.acquire() as conn, conn.transaction():
        run.authors += await _write_authors(conn, [r for r in batch if isinstance(r, Author)])
        ids = await _write_editions(conn, [r for r in batch if isinstance(r, Edition)])
        run.books += len(ids)
        ids += await _write_works(conn, [r for r in batch if isinstance(r, Work)])
        if ids:
            await conn.execute(REFRESH_SEARCH, sorted(set(ids)))
        await run.save(conn)
    count_progress(run, KIND)


def count_progress(run: Run, kind: str) -> None:
    """Progress as metrics too, after a batch committed."""
    m = ops_metrics()
    m.import_lines.labels(kind).inc(run.lines - run.counted[0])
    m.import_malformed.labels(kind).inc(run.malformed - run.counted[1])
    m.import_books.labels(kind).inc(run.books - run.counted[2])
    run.counted = (run.lines, run.malformed, run.books)


async def load_batches(db: Database, run: Run, records: Iterable[R],
                       flush: Callable[[Database, Run, list[R]], Awaitable[None]],
                       batch_size: int) -> Run:
    """Hand `records` to `flush` in batches of `batch_size` (each one transaction, progress
    saved with it), then the rest; the run is marked done. Both importers (OL, CSV) use it."""
    batch: list[R] = []
    for record in records:
        batch.append(record)
        if len(batch) >= batch_size:
            await flush(db, run, batch)
            batch = []
    await flush(db, run, batch)
    async with db.pool.acquire() as conn:
        await run.save(conn, "done")
    return run


def _records(run: Run, path: Path) -> Iterator[Author | Edition | Work]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            run.lines = number
            if not line.strip():
                continue
            record = parse_line(number, line)
            if isinstance(record, Problem):
                run.problem(record)
            elif record is not None:
                yield record


async def import_dump(db: Database, path: Path, run_id: int, batch_size: int = 2000) -> Run:
    """Read `path` to the end; malformed lines are counted and listed on the run, not fatal."""
    run = Run(run_id)
    return await load_batches(db, run, _records(run, path), _flush, batch_size)
