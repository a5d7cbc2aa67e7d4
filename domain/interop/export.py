"""Taking one's reading life out: the Goodreads CSV export, and the complete JSON export.

The JSON export is complete by construction: it walks every table with a foreign key to
`users` (read from the catalog, so a table added later is exported without touching this
file) and takes the rows that belong to the reader through that column, plus their profile.
Never exported: columns holding secrets or hashes (SECRET_COLUMNS: password, refresh-token and
sync-key hashes, push keys and endpoints, session invite codes, the raw import file), and
other people's private acts (EXCLUDED_EDGES: who blocked or muted the reader, other readers'
notifications the reader acted in). The worker builds it; its owner downloads it until
`expires_at` (READALONG_EXPORT_TTL).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Any

from domain.interop.formats import GOODREADS

FK_SQL = """
SELECT c.conrelid::regclass::text AS tbl, a.attname AS col, c.confdeltype AS action
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
WHERE c.contype = 'f' AND c.confrelid = 'users'::regclass
ORDER BY 1, 2
"""
SECRET_COLUMNS = frozenset({"password_hash", "token_hash", "key_hash", "p256dh", "auth",
                            "endpoint", "invite_code", "content", "body_bytes"})
EXCLUDED_EDGES = frozenset({("blocks", "blocked_id"), ("mutes", "muted_id"),
                            ("notifications", "actor_id"), ("data_exports", "user_id")})
PROFILE_COLUMNS = ("id", "email", "handle", "display_name", "role", "bio", "avatar_url",
                   "favourite_genres", "visibility", "created_at", "updated_at")


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (bytes, memoryview)):
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


async def user_tables(conn: Any) -> list[tuple[str, str, str]]:
    """(table, column, on-delete action c/n/a/r/d) for every foreign key to users."""
    return [(r["tbl"], r["col"], r["action"].decode() if isinstance(r["action"], bytes)
             else str(r["action"])) for r in await conn.fetch(FK_SQL)]


async def build(conn: Any, user_id: int) -> dict[str, Any]:
    """Everything we hold about the reader, secrets and hashes left out."""
    profile = await conn.fetchrow(f"SELECT {', '.join(PROFILE_COLUMNS)} FROM users"
                                  " WHERE id = $1", user_id)
    out: dict[str, Any] = {"format": "readalong-export/1",
                           "exported_at": datetime.now().astimezone().isoformat(),
                           "profile": {k: _plain(v) for k, v in dict(profile or {}).items()},
                           "tables": {}}
    for table, column, _ in await user_tables(conn):
        if (table, column) in EXCLUDED_EDGES:
            continue
        rows = await conn.fetch(f'SELECT * FROM "{table}" WHERE "{column}" = $1',  # catalog names
                                user_id)
        if not rows:
            continue
        key = table if column in ("user_id", "owner_id") else f"{table}.{column}"
        out["tables"][key] = [{k: _plain(v) for k, v in dict(r).items()
                               if k not in SECRET_COLUMNS} for r in rows]
    return out


_CSV_SQL = """
SELECT s.id, s.status, s.shelves, s.owned, s.created_at, s.read_count, b.id AS book_id,
       b.title, b.isbn13, b.isbn10, b.page_count, b.publisher, b.published_year,
       coalesce((SELECT array_agg(a.name ORDER BY ba.position) FROM book_authors ba
                 JOIN authors a ON a.id = ba.author_id WHERE ba.book_id = b.id), '{}') AS authors,
       (SELECT max(finished_on) FROM reading_reads r WHERE r.state_id = s.id
         AND r.outcome = CASE WHEN s.status = 'did_not_finish' THEN 'did_not_finish'
                              ELSE 'read' END) AS last_read,
       (SELECT row(v.rating_quarters, v.body, v.spoiler) FROM reviews v
         WHERE v.user_id = s.user_id AND v.book_id = s.book_id
         ORDER BY v.id DESC LIMIT 1) AS review,
       (SELECT n.body FROM private_notes n WHERE n.user_id = s.user_id
         AND n.book_id = s.book_id) AS notes
FROM reading_states s JOIN books b ON b.id = s.book_id
WHERE s.user_id = $1 ORDER BY s.created_at, s.id
"""
_SHELF = {"read": "read", "reading": "currently-reading", "want_to_read": "to-read",
          "did_not_finish": "did-not-finish"}


def _day(value: date | datetime | None) -> str:
    return value.strftime("%Y/%m/%d") if value is not None else ""


def _review_html(body: str) -> str:
    """Our markup back into Goodreads' flavour: ||spans|| as <spoiler>, newlines as <br/>."""
    parts = body.split("||")
    text = "".join(f"<spoiler>{p}</spoiler>" if i % 2 and i < len(parts) - 1 else
                   ("||" + p if i % 2 else p) for i, p in enumerate(parts))
    return text.replace("\n", "<br/>")


async def goodreads_csv(conn: Any, user_id: int) -> str:
    """The reader's shelves as a Goodreads export (same header; ratings rounded to whole
    stars, as Goodreads has no quarter stars; `did-not-finish` as an exclusive shelf)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(GOODREADS)
    for r in await conn.fetch(_CSV_SQL, user_id):
        review = r["review"]
        quarters, body, spoiler = (review[0], review[1], review[2]) if review else (None, "",
                                                                                  False)
        authors = list(r["authors"])
        shelf = _SHELF[r["status"]]
        row = {"Book Id": str(r["book_id"]), "Title": r["title"],
               "Author": authors[0] if authors else "",
               "Additional Authors": ", ".join(authors[1:]),
               "ISBN": f'="{r["isbn10"] or ""}"', "ISBN13": f'="{r["isbn13"] or ""}"',
               "My Rating": str(round((quarters or 0) / 4)),
               "Publisher": r["publisher"] or "",
               "Number of Pages": str(r["page_count"] or ""),
               "Year Published": str(r["published_year"] or ""),
               "Date Read": _day(r["last_read"]), "Date Added": _day(r["created_at"]),
               "Bookshelves": ", ".join([*r["shelves"], shelf]),
               "Exclusive Shelf": shelf, "My Review": _review_html(body or ""),
               "Spoiler": "true" if spoiler else "", "Private Notes": r["notes"] or "",
               "Read Count": str(r["read_count"]),
               "Owned Copies": "1" if r["owned"] else "0"}
        writer.writerow([row.get(col, "") for col in GOODREADS])
    return out.getvalue()


async def request_export(conn: Any, user_id: int, ttl: int) -> int:
    """A queued JSON export (the worker builds it); expires `ttl` seconds after the request."""
    return int(await conn.fetchval(
        "INSERT INTO data_exports (user_id, status, expires_at) VALUES ($1, 'queued',"
        " now() + make_interval(secs => $2)) RETURNING id", user_id, ttl))


async def produce(conn: Any, export_id: int) -> bool:
    """Build and store an export (the worker's job); False when it is gone or already built."""
    row = await conn.fetchrow("SELECT user_id, status FROM data_exports WHERE id = $1",
                              export_id)
    if row is None or row["status"] != "queued":
        return False
    body = json.dumps(await build(conn, int(row["user_id"])), ensure_ascii=False).encode()
    await conn.execute("UPDATE data_exports SET status = 'ready', body = $2, ready_at = now()"
                       " WHERE id = $1", export_id, body)
    return True
