"""One import row onto the catalog and the reader's reading state (in the caller's transaction).

Matching, in this order:
1. an ISBN in the row (ISBN-13, or ISBN-10 turned into its ISBN-13): the catalog book with it,
   or else a new catalog book with that ISBN. A present ISBN is never overridden by a fuzzy
   match (another edition is another book);
2. without an ISBN: a book an earlier import created from the same source id (Goodreads Book
   Id, StoryGraph UID), then the closest title by trigram similarity (pg_trgm, index
   `books_title_trgm_idx`) of at least TITLE_MIN whose best author similarity is at least
   AUTHOR_MIN (or the row names no author) and whose numbers are the same (so "Volume 2" never
   matches "Volume 3": series volumes are near-identical strings);
3. otherwise a new catalog book, recorded in `book_provenance` (source, source id, reader,
   import) so later files find it and moderators can tell imported entries apart.

Writing is idempotent: reads are keyed on (started, finished) as BookWyrm does (a Goodreads
re-read without dates counts against the undated reads already there), a review is added
only to a read that has none, shelves are a union, notes are kept once. Every progression
goes through `advance()` (source `import`): a finished read at its finish date.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any

import msgspec

from domain.catalog.rules import title_key
from domain.catalog.store import REFRESH_SEARCH, _set_authors
from domain.interop.formats import Entry, Read
from domain.reading import markup
from domain.reading.leaderboards import Score
from domain.reading.progress import advance
from domain.reading.reviews import count_rating

TITLE_MIN = 0.6
AUTHOR_MIN = 0.4


class RowResult(msgspec.Struct, frozen=True):
    outcome: str        # matched | created | unchanged
    book_id: int
    how: str            # isbn | provenance | similar | new
    changed: list[str]  # what this row changed (empty: nothing new)
    scores: list[Score] = msgspec.field(default_factory=list)


_SIMILAR = """
SELECT b.id, b.title, b.ts,
       coalesce((SELECT max(similarity(lower(a.name), lower(x)))
                 FROM book_authors ba JOIN authors a ON a.id = ba.author_id,
                      unnest($2::text[]) AS x WHERE ba.book_id = b.id), 0) AS au
FROM (SELECT id, title, similarity(lower(title), $1) AS ts FROM books
      ORDER BY lower(title) <-> $1 LIMIT 10) b
"""


def _numbers(title: str) -> list[str]:
    return [n.lstrip("0") or "0" for n in re.findall(r"\d+", title)]


async def find_book(conn: Any, e: Entry, source: str) -> tuple[int | None, str]:
    if e.isbn13:
        found = await conn.fetchval("SELECT id FROM books WHERE isbn13 = $1", e.isbn13)
        return (int(found), "isbn") if found is not None else (None, "isbn")
    if e.source_id:
        found = await conn.fetchval("SELECT book_id FROM book_provenance WHERE source = $1"
                                    " AND source_id = $2 LIMIT 1", source, e.source_id)
        if found is not None:
            return int(found), "provenance"
    numbers = _numbers(e.title)
    found = await conn.fetch(_SIMILAR, e.title.lower()[:500], e.authors)
    for row in sorted(found, key=lambda r: (-r["ts"], r["id"])):
        if row["ts"] >= TITLE_MIN and (not e.authors or row["au"] >= AUTHOR_MIN) \
                and _numbers(row["title"]) == numbers:
            return int(row["id"]), "similar"
    return None, "new"


async def create_book(conn: Any, e: Entry, source: str, user_id: int, import_id: int) -> int:
    title = e.title[:500]
    book_id = int(await conn.fetchval(
        "INSERT INTO books (title, title_key, isbn13, isbn10, page_count) VALUES"
        " ($1, $2, $3, $4, $5) RETURNING id", title, title_key(title), e.isbn13, e.isbn10,
        e.pages))
    await _set_authors(conn, book_id, [a[:200] for a in e.authors][:20])
    await conn.execute(REFRESH_SEARCH, [book_id])
    await conn.execute("INSERT INTO book_provenance (book_id, source, source_id, user_id,"
                       " import_id) VALUES ($1, $2, $3, $4, $5)", book_id, source,
                       e.source_id, user_id, import_id)
    return book_id


def _at(day: date | None) -> datetime | None:
    return datetime.combine(day, time(12), tzinfo=UTC) if day is not None else None


async def _finish_reads(conn: Any, user_id: int, book_id: int, state_id: int | None,
                        reads: list[Read], outcome: str, scores: list[Score]) -> int:
    """Add the file's reads the state lacks; returns how many were added."""
    have: list[tuple[date | None, date | None]] = []
    if state_id is not None:
        have = [(r["started_on"], r["finished_on"]) for r in await conn.fetch(
            "SELECT started_on, finished_on FROM reading_reads WHERE state_id = $1"
            " AND outcome = $2", state_id, outcome)]
    added = 0
    for read in reads:
        key = (read.started, read.finished)
        if key in have:
            have.remove(key)
            continue
        done = await advance(conn, user_id, book_id, 1.0 if outcome == "read" else 0.0,
                             "import", reopen=True, now=_at(read.finished))
        scores.extend(done.scores)
        await conn.execute("UPDATE reading_reads SET outcome = $2, started_on = $3,"
                           " finished_on = $4 WHERE id = $1", done.read_id, outcome,
                           read.started, read.finished)
        added += 1
    return added


def _review_body(text: str) -> str:
    clean = "".join(ch for ch in text if ord(ch) >= 32 or ch in "\n\t")
    return markup.check_body(clean[:markup.BODY_MAX])


async def _review(conn: Any, user_id: int, book_id: int, state_id: int, e: Entry) -> bool:
    if e.rating_quarters is None and not e.review:
        return False
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM reviews WHERE user_id = $1 AND"
                           " book_id = $2)", user_id, book_id):
        return False
    read = await conn.fetchrow("SELECT id, finished_on FROM reading_reads WHERE state_id = $1"
                               " ORDER BY number DESC LIMIT 1", state_id)
    if read is None:
        return False
    body = _review_body(e.review)
    rendered = markup.render(body)
    furthest = await conn.fetchval("SELECT furthest FROM reading_states WHERE id = $1",
                                   state_id)
    await conn.execute(
        "INSERT INTO reviews (user_id, book_id, read_id, rating_quarters, body, body_html,"
        " redacted_html, spoiler, spoiler_spans, gate, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, now()))",
        user_id, book_id, read["id"], e.rating_quarters, body, rendered.html,
        rendered.redacted_html, e.spoiler, rendered.has_spoilers, float(furthest),
        _at(read["finished_on"]))
    await count_rating(conn, book_id, e.rating_quarters, +1)
    return True


async def apply_entry(conn: Any, user_id: int, import_id: int, source: str,
                      e: Entry) -> RowResult:
    book_id, how = await find_book(conn, e, source)
    created = book_id is None
    if book_id is None:
        book_id = await create_book(conn, e, source, user_id, import_id)
    state = await conn.fetchrow("SELECT id, status, shelves, owned FROM reading_states"
                                " WHERE user_id = $1 AND book_id = $2 FOR UPDATE",
                                user_id, book_id)
    changed: list[str] = []
    scores: list[Score] = []
    state_id = int(state["id"]) if state is not None else None
    status = str(state["status"]) if state is not None else None
    if e.status == "want_to_read" and state is None:
        state_id = int(await conn.fetchval(
            "INSERT INTO reading_states (user_id, book_id, status) VALUES ($1, $2,"
            " 'want_to_read') RETURNING id", user_id, book_id))
        changed.append("status")
    elif e.status == "reading" and status in (None, "want_to_read"):
        done = await advance(conn, user_id, book_id, 0.0, "import")
        state_id, scores = done.state_id, list(done.scores)
        changed.append("status")
    elif e.status in ("read", "did_not_finish") and await _finish_reads(
            conn, user_id, book_id, state_id, e.reads, e.status, scores):
        state_id = int(await conn.fetchval(
            "UPDATE reading_states SET status = $3, read_count = (SELECT count(*) FROM"
            " reading_reads r WHERE r.state_id = reading_states.id AND r.outcome = 'read')"
            " WHERE user_id = $1 AND book_id = $2 RETURNING id", user_id, book_id, e.status))
        changed.append("reads")
    if state_id is None:
        return RowResult("created" if created else "unchanged", book_id, how, changed)
    if state is None and e.added is not None:
        await conn.execute("UPDATE reading_states SET created_at = $2 WHERE id = $1",
                           state_id, _at(e.added))
    current = await conn.fetchrow("SELECT shelves, owned FROM reading_states WHERE id = $1",
                                  state_id)
    shelves = list(current["shelves"])
    extra = [s for s in e.shelves if s.lower() not in {x.lower() for x in shelves}]
    if extra or (e.owned and not current["owned"]):
        await conn.execute("UPDATE reading_states SET shelves = $2, owned = owned OR $3"
                           " WHERE id = $1", state_id, (shelves + extra)[:30], e.owned)
        changed.append("shelves")
    if await _review(conn, user_id, book_id, state_id, e):
        changed.append("review")
    if e.notes and await conn.fetchval(
            "INSERT INTO private_notes (user_id, book_id, body) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id, book_id) DO NOTHING RETURNING book_id",
            user_id, book_id, e.notes[:20_000]):
        changed.append("notes")
    outcome = "created" if created else ("matched" if changed else "unchanged")
    return RowResult(outcome, book_id, how, changed, scores)
