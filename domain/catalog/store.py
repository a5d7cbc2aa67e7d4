"""Catalog use-cases: read, create, edit (optimistic concurrency) and delete books."""

from __future__ import annotations

from typing import Any

import asyncpg
from msgspec import UNSET

from domain.accounts.tokens import Principal
from domain.catalog.isbn import normalise_isbn
from domain.catalog.rules import (
    check_toc,
    check_url,
    clean_names,
    clean_text,
    normalise_language,
    parse_published,
    title_key,
)
from domain.catalog.schemas import AuthorRef, Book, BookCreate, BookUpdate, Chapter
from domain.db import Database
from domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from domain.ops import covers


class VersionRequired(DomainError):
    """An edit named no version (neither `If-Match` nor `version`): 428 Precondition Required."""

    status = 428
    code = "version_required"


# The weighted search document: title (and subtitle) A, authors B, subjects C, description D.
# 'simple' (no stemming, no stop words) because the catalog is multilingual and type-ahead
# matches word prefixes; every query term is a prefix, which also covers plurals.
REFRESH_SEARCH = """
UPDATE books b SET search =
    setweight(to_tsvector('simple', b.title || ' ' || coalesce(b.subtitle, '')), 'A')
 || setweight(to_tsvector('simple', coalesce((
        SELECT string_agg(a.name, ' ') FROM book_authors ba JOIN authors a ON a.id = ba.author_id
        WHERE ba.book_id = b.id), '')), 'B')
 || setweight(to_tsvector('simple', coalesce((
        SELECT string_agg(s.name, ' ') FROM book_subjects bs JOIN subjects s ON s.id = bs.subject_id
        WHERE bs.book_id = b.id), '')), 'C')
 || setweight(to_tsvector('simple', b.description), 'D')
WHERE b.id = ANY($1::bigint[])
"""

# One row per book; authors and chapters each come from one aggregate (not one sub-select per
# column), so a read is one statement with three small index lookups.
BOOK_SELECT = """
SELECT b.id, b.title, b.subtitle, b.language, b.isbn13, b.isbn10, b.page_count, b.publisher,
       b.published, b.published_year, b.description, b.cover_url, b.version, b.created_at,
       b.updated_at, au.author_ids, au.author_names,
       ARRAY(SELECT s.name FROM book_subjects bs JOIN subjects s ON s.id = bs.subject_id
             WHERE bs.book_id = b.id ORDER BY lower(s.name)) AS subjects,
       ch.toc_titles, ch.toc_starts
FROM books b
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(a.id ORDER BY ba.position), '{}') AS author_ids,
           coalesce(array_agg(a.name ORDER BY ba.position), '{}') AS author_names
    FROM book_authors ba JOIN authors a ON a.id = ba.author_id WHERE ba.book_id = b.id) au
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(c.title ORDER BY c.position), '{}') AS toc_titles,
           coalesce(array_agg(c.start ORDER BY c.position), '{}') AS toc_starts
    FROM book_chapters c WHERE c.book_id = b.id) ch
"""


def require_editor(principal: Principal) -> None:
    if not principal.is_moderator:
        raise Forbidden("only moderators and admins may add or edit books", code="not_editor")


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("only admins may delete books", code="not_admin")


def _book(row: Any) -> Book:
    return Book(
        id=row["id"], title=row["title"], subtitle=row["subtitle"],
        authors=[AuthorRef(id=i, name=n)
                 for i, n in zip(row["author_ids"], row["author_names"], strict=True)],
        subjects=list(row["subjects"]), language=row["language"], isbn13=row["isbn13"],
        isbn10=row["isbn10"], page_count=row["page_count"], publisher=row["publisher"],
        published=row["published"], published_year=row["published_year"],
        description=row["description"], cover_url=covers.shown(row["id"], row["cover_url"]),
        toc=[Chapter(index=i, title=t, start=s)
             for i, (t, s) in enumerate(zip(row["toc_titles"], row["toc_starts"], strict=True))],
        version=row["version"], created_at=row["created_at"], updated_at=row["updated_at"],
    )


async def _fetch(conn: Any, book_id: int) -> Book:
    row = await conn.fetchrow(BOOK_SELECT + " WHERE b.id = $1", book_id)
    if row is None:
        raise NotFound(f"no book {book_id}", code="book_not_found")
    return _book(row)


async def get_book(db: Database, book_id: int) -> Book:
    """The book with its authors, subjects and table of contents, or NotFound."""
    async with db.pool.acquire() as conn:
        return await _fetch(conn, book_id)


async def get_book_by_isbn(db: Database, isbn: str) -> Book:
    """Look a book up by ISBN-10 or ISBN-13 (hyphens and spaces allowed)."""
    isbn13, _ = normalise_isbn(isbn, field="isbn")
    async with db.pool.acquire() as conn:
        row = await conn.fetchrow(BOOK_SELECT + " WHERE b.isbn13 = $1", isbn13)
    if row is None:
        raise NotFound(f"no book with ISBN {isbn13}", code="book_not_found")
    return _book(row)


async def get_toc(db: Database, book_id: int) -> list[Chapter]:
    """The table of contents of a book (for rooms and club schedules); NotFound if no book."""
    return (await get_book(db, book_id)).toc


def resolve_isbn(isbn: str | None, isbn13: str | None,
                 isbn10: str | None) -> tuple[str | None, str | None]:
    """The normalised (isbn13, isbn10) from up to three inputs, which must name the same book."""
    found: list[tuple[str, str | None]] = []
    for field, raw, form in (("isbn", isbn, None), ("isbn13", isbn13, 13), ("isbn10", isbn10, 10)):
        if raw is not None and raw.strip():
            found.append(normalise_isbn(raw, field=field, form=form))
    if not found:
        return None, None
    if len({f[0] for f in found}) > 1:
        raise Invalid("isbn, isbn13 and isbn10 name different books", code="isbn_mismatch",
                      field="isbn")
    return found[0]


async def _ensure_names(conn: Any, table: str, names: list[str]) -> list[int]:
    """Ids of the authors/subjects called `names` (case-insensitively), creating missing ones."""
    if not names:
        return []
    await conn.execute(
        f"INSERT INTO {table} (name) SELECT unnest($1::text[]) "  # table is one of two constants
        "ON CONFLICT ((lower(name))) DO NOTHING", names)
    # match with PostgreSQL's lower() on both sides: Python's str.lower() folds letters the
    # database's ctype may not (an accented capital under the C locale), and would miss them
    rows = await conn.fetch(
        f"SELECT t.id FROM unnest($1::text[]) WITH ORDINALITY AS n(name, ord) "
        f"JOIN {table} t ON lower(t.name) = lower(n.name) ORDER BY n.ord", names)
    return [int(r["id"]) for r in rows]


async def _set_authors(conn: Any, book_id: int, names: list[str]) -> None:
    ids = await _ensure_names(conn, "authors", names)
    await conn.execute("DELETE FROM book_authors WHERE book_id = $1", book_id)
    await conn.executemany(
        "INSERT INTO book_authors (book_id, author_id, position) VALUES ($1, $2, $3)",
        [(book_id, author_id, i) for i, author_id in enumerate(ids)])


async def _set_subjects(conn: Any, book_id: int, names: list[str]) -> None:
    ids = await _ensure_names(conn, "subjects", names)
    await conn.execute("DELETE FROM book_subjects WHERE book_id = $1", book_id)
    await conn.executemany("INSERT INTO book_subjects (book_id, subject_id) VALUES ($1, $2)",
                           [(book_id, subject_id) for subject_id in ids])


async def _set_toc(conn: Any, book_id: int, toc: list[tuple[str, float]]) -> None:
    await conn.execute("DELETE FROM book_chapters WHERE book_id = $1", book_id)
    await conn.executemany(
        "INSERT INTO book_chapters (book_id, position, title, start) VALUES ($1, $2, $3, $4)",
        [(book_id, i, title, start) for i, (title, start) in enumerate(toc)])


def _isbn_taken(exc: asyncpg.UniqueViolationError) -> Conflict:
    field = "isbn10" if "isbn10" in (exc.constraint_name or "") else "isbn13"
    return Conflict("another book already has this ISBN", code="isbn_taken", field=field)


async def create_book(db: Database, principal: Principal, data: BookCreate) -> Book:
    """Add a book (moderators and admins); every field is validated before anything is stored."""
    require_editor(principal)
    title = clean_text(data.title, "title", required=True)
    assert title is not None
    isbn13, isbn10 = resolve_isbn(data.isbn, data.isbn13, data.isbn10)
    published, year = parse_published(data.published)
    values = {
        "title": title, "title_key": title_key(title),
        "subtitle": clean_text(data.subtitle, "subtitle"),
        "language": normalise_language(data.language),
        "isbn13": isbn13, "isbn10": isbn10, "page_count": data.page_count,
        "publisher": clean_text(data.publisher, "publisher"),
        "published": published, "published_year": year,
        "description": (data.description or "").strip(),
        "cover_url": check_url(data.cover_url),
    }
    authors = clean_names(data.authors, "authors")
    subjects = clean_names(data.subjects, "subjects")
    toc = check_toc(data.toc)
    columns = list(values)
    sql = (f"INSERT INTO books ({', '.join(columns)}) VALUES "
           f"({', '.join(f'${i + 1}' for i in range(len(columns)))}) RETURNING id")
    async with db.pool.acquire() as conn, conn.transaction():
        try:
            book_id = await conn.fetchval(sql, *values.values())
        except asyncpg.UniqueViolationError as exc:
            raise _isbn_taken(exc) from exc
        await _set_authors(conn, book_id, authors)
        await _set_subjects(conn, book_id, subjects)
        await _set_toc(conn, book_id, toc)
        await conn.execute(REFRESH_SEARCH, [book_id])
        return await _fetch(conn, book_id)


def _expected_version(data_version: int | Any, if_match: int | None) -> int:
    body = None if data_version is UNSET else data_version
    if body is not None and if_match is not None and body != if_match:
        raise Invalid(f"If-Match names version {if_match} but the body says {body}",
                      code="version_mismatch", field="version")
    expected = if_match if if_match is not None else body
    if expected is None:
        raise VersionRequired("an edit must name the version it changes: send If-Match with the "
                              "book's ETag, or a `version` field")
    return int(expected)


def _stale(book_id: int, current: int, expected: int) -> Conflict:
    return Conflict(f"book {book_id} is at version {current}, not {expected}: fetch it again and "
                    "reapply your change", code="version_conflict",
                    extra={"current_version": current})


async def update_book(db: Database, principal: Principal, book_id: int, data: BookUpdate,
                      if_match: int | None = None) -> Book:
    """Edit a book if it is still at the expected version (409 otherwise); lists replace."""
    require_editor(principal)
    expected = _expected_version(data.version, if_match)
    values: dict[str, Any] = {}
    if data.title is not UNSET:
        title = clean_text(data.title, "title", required=True)
        assert title is not None
        values.update(title=title, title_key=title_key(title))
    if data.subtitle is not UNSET:
        values["subtitle"] = clean_text(data.subtitle, "subtitle")
    if data.language is not UNSET:
        values["language"] = normalise_language(data.language)
    if not (data.isbn is UNSET and data.isbn13 is UNSET and data.isbn10 is UNSET):
        values["isbn13"], values["isbn10"] = resolve_isbn(
            *(None if v is UNSET else v for v in (data.isbn, data.isbn13, data.isbn10)))
    if data.page_count is not UNSET:
        values["page_count"] = data.page_count
    if data.publisher is not UNSET:
        values["publisher"] = clean_text(data.publisher, "publisher")
    if data.published is not UNSET:
        values["published"], values["published_year"] = parse_published(data.published)
    if data.description is not UNSET:
        values["description"] = data.description.strip()
    if data.cover_url is not UNSET:
        values["cover_url"] = check_url(data.cover_url)
    authors = None if data.authors is UNSET else clean_names(data.authors, "authors")
    subjects = None if data.subjects is UNSET else clean_names(data.subjects, "subjects")
    toc = None if data.toc is UNSET else check_toc(data.toc)

    async with db.pool.acquire() as conn, conn.transaction():
        current = await conn.fetchval("SELECT version FROM books WHERE id = $1 FOR UPDATE",
                                      book_id)
        if current is None:
            raise NotFound(f"no book {book_id}", code="book_not_found")
        if current != expected:
            raise _stale(book_id, current, expected)
        sets = [f"{column} = ${i + 2}" for i, column in enumerate(values)]
        sets += ["version = version + 1", "updated_at = now()"]
        try:
            await conn.execute(f"UPDATE books SET {', '.join(sets)} WHERE id = $1",
                               book_id, *values.values())
        except asyncpg.UniqueViolationError as exc:
            raise _isbn_taken(exc) from exc
        if authors is not None:
            await _set_authors(conn, book_id, authors)
        if subjects is not None:
            await _set_subjects(conn, book_id, subjects)
        if toc is not None:
            await _set_toc(conn, book_id, toc)
        await conn.execute(REFRESH_SEARCH, [book_id])
        return await _fetch(conn, book_id)


async def delete_book(db: Database, principal: Principal, book_id: int,
                      if_match: int | None = None) -> None:
    """Delete a book (admins only); with `if_match`, only if it is still at that version."""
    require_admin(principal)
    async with db.pool.acquire() as conn, conn.transaction():
        current = await conn.fetchval("SELECT version FROM books WHERE id = $1 FOR UPDATE",
                                      book_id)
        if current is None:
            raise NotFound(f"no book {book_id}", code="book_not_found")
        if if_match is not None and current != if_match:
            raise _stale(book_id, current, if_match)
        await conn.execute("DELETE FROM books WHERE id = $1", book_id)
