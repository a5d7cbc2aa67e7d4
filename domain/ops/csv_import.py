"""The CSV catalog importer: a spreadsheet of books (a header row, then one book a row) read
in batches, each written in one transaction through a COPY into a staging table.

Columns (header names, any order, case-insensitive): `isbn` (ISBN-10 or ISBN-13, hyphens
allowed; required: it is what a re-run and an existing book are matched on), `title`
(required), `authors` (names separated by `;` or `|`, in order), and optionally `subtitle`,
`publisher`, `year`, `pages`, `language`, `description`.

- Merging on ISBN: a book whose ISBN-13 (or ISBN-10) is already in the catalog is updated in
  place (the row's non-empty values win; its provenance `source` is kept), any other is
  inserted with `source = 'csv'`. A re-run updates, never duplicates.
- A row with authors replaces the book's author list; the search document is rebuilt.
- A malformed row (no ISBN, a bad check digit, no title, a bad number, a row of the wrong
  shape) is counted and listed on the run's `import_runs` row, never fatal; so is an ISBN
  seen twice in one file (the first row wins).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from domain.catalog.isbn import normalise_isbn
from domain.catalog.rules import title_key
from domain.catalog.store import REFRESH_SEARCH
from domain.db import Database
from domain.errors import Invalid
from domain.ops.ol_import import Run, count_progress, load_batches
from domain.ops.ol_parse import Problem

KIND = "csv"
COLUMNS = ("isbn13", "isbn10", "title", "title_key", "subtitle", "publisher", "published",
           "published_year", "page_count", "language", "description", "authors")
_SPLIT = re.compile(r"[;|]")
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")

_STAGE_SQL = """CREATE TEMP TABLE csv_stage (isbn13 TEXT, isbn10 TEXT, title TEXT,
    title_key TEXT, subtitle TEXT, publisher TEXT, published TEXT, published_year INT,
    page_count INT, language TEXT, description TEXT, authors TEXT[]) ON COMMIT DROP"""
# an existing book known only by its ISBN-10 gets the ISBN-13 first, so one key merges all
_ADOPT_SQL = """UPDATE books b SET isbn13 = s.isbn13 FROM csv_stage s
WHERE b.isbn13 IS NULL AND s.isbn10 IS NOT NULL AND b.isbn10 = s.isbn10
  AND NOT EXISTS (SELECT 1 FROM books x WHERE x.isbn13 = s.isbn13)"""
_UPSERT_SQL = """INSERT INTO books (isbn13, isbn10, title, title_key, subtitle, publisher,
    published, published_year, page_count, language, description, source)
SELECT s.isbn13, CASE WHEN EXISTS (SELECT 1 FROM books x WHERE x.isbn10 = s.isbn10
                                   AND x.isbn13 IS DISTINCT FROM s.isbn13)
                      THEN NULL ELSE s.isbn10 END,
       s.title, s.title_key, s.subtitle, s.publisher, s.published, s.published_year,
       s.page_count, coalesce(s.language, 'en'), coalesce(s.description, ''), 'csv'
FROM csv_stage s
ON CONFLICT (isbn13) DO UPDATE SET title = EXCLUDED.title, title_key = EXCLUDED.title_key,
    subtitle = coalesce(EXCLUDED.subtitle, books.subtitle),
    publisher = coalesce(EXCLUDED.publisher, books.publisher),
    published = coalesce(EXCLUDED.published, books.published),
    published_year = coalesce(EXCLUDED.published_year, books.published_year),
    page_count = coalesce(EXCLUDED.page_count, books.page_count),
    language = CASE WHEN EXCLUDED.language <> 'en' THEN EXCLUDED.language
                    ELSE books.language END,
    description = CASE WHEN EXCLUDED.description <> '' THEN EXCLUDED.description
                       ELSE books.description END,
    version = books.version + 1, updated_at = now()
RETURNING id, isbn13"""
_AUTHORS_SQL = """INSERT INTO authors (name) SELECT DISTINCT ON (lower(n)) n
FROM unnest($1::text[]) AS n ORDER BY lower(n) ON CONFLICT DO NOTHING"""
_LINK_SQL = """INSERT INTO book_authors (book_id, author_id, position)
SELECT l.book_id, a.id, l.pos FROM unnest($1::bigint[], $2::text[], $3::int[])
    AS l(book_id, name, pos)
JOIN authors a ON lower(a.name) = lower(l.name) ON CONFLICT DO NOTHING"""


def _int(value: str, what: str, low: int, high: int) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise Invalid(f"{what} must be a whole number from {low} to {high}")
    return int(value)


def parse_row(number: int, row: dict[str, str]) -> tuple[Any, ...] | Problem:
    """One CSV row as a staging record, or the reason it is malformed."""
    get = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
    if None in row:
        return Problem(number, "more cells than the header has columns")
    try:
        if not get.get("isbn"):
            raise Invalid("no ISBN (the key a row is merged on)")
        isbn13, isbn10 = normalise_isbn(get["isbn"])
        title = get.get("title", "")[:500]
        if not title:
            raise Invalid("no title")
        year = _int(get.get("year", ""), "year", 1, 2100)
        pages = _int(get.get("pages", ""), "pages", 1, 100_000)
        language = get.get("language", "").lower() or None
        if language is not None and not _LANG.match(language):
            raise Invalid("language must be a language code like en or fr")
    except Invalid as exc:
        return Problem(number, exc.detail)
    authors = [a.strip()[:200] for a in _SPLIT.split(get.get("authors", "")) if a.strip()]
    return (isbn13, isbn10, title, title_key(title), get.get("subtitle", "")[:500] or None,
            get.get("publisher", "")[:200] or None, str(year) if year else None, year, pages,
            language, get.get("description", "")[:20_000] or None, authors[:50])


async def _flush(db: Database, run: Run, batch: list[tuple[Any, ...]]) -> None:
    async with db.pool.acquire() as conn, conn.transaction():
        if batch:
            await conn.execute(_STAGE_SQL)
            await conn.copy_records_to_table("csv_stage", columns=list(COLUMNS),
                                             records=batch)
            await conn.execute(_ADOPT_SQL)
            ids = {str(r["isbn13"]): int(r["id"]) for r in await conn.fetch(_UPSERT_SQL)}
            await conn.execute("DROP TABLE csv_stage")
            named = [r for r in batch if r[-1]]
            await conn.execute("DELETE FROM book_authors WHERE book_id = ANY($1::bigint[])",
                               [ids[r[0]] for r in named])
            names = [n for r in named for n in r[-1]]
            if names:
                await conn.execute(_AUTHORS_SQL, names)
                links = [(ids[r[0]], n, pos) for r in named for pos, n in enumerate(r[-1])]
                await conn.execute(_LINK_SQL, *map(list, zip(*links, strict=True)))
                run.authors += len(names)
            await conn.execute(REFRESH_SEARCH, sorted(ids.values()))
            run.books += len(ids)
        await run.save(conn)
    count_progress(run, KIND)


def _records(run: Run, path: Path) -> Iterator[tuple[Any, ...]]:
    seen: set[str] = set()
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh)
        header = {(h or "").strip().lower() for h in reader.fieldnames or []}
        if not {"isbn", "title"} <= header:
            run.problem(Problem(1, "the header must name at least the columns isbn and title"))
            return
        reader.fieldnames = [(h or "").strip().lower() for h in reader.fieldnames or []]
        for row in reader:
            number = reader.line_num
            run.lines = number
            record = parse_row(number, row)
            if isinstance(record, Problem):
                run.problem(record)
                continue
            if record[0] in seen:
                run.problem(Problem(number, f"ISBN {record[0]} is already in this file"))
                continue
            seen.add(record[0])
            yield record


async def import_csv(db: Database, path: Path, run_id: int, batch_size: int = 2000) -> Run:
    """Read `path` to the end (see the module docstring); progress after every batch."""
    run = Run(run_id)
    return await load_batches(db, run, _records(run, path), _flush, batch_size)
