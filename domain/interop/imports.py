"""Imports of Goodreads / StoryGraph exports: the upload, the preview (dry run), the worker's
run in resumable batches, per-row results and progress.

The upload is checked at once (size, UTF-8 text, a known header, the row limit) and stored
with the import (`imports.content`), so a worker restart loses nothing. A dry run matches
every row without writing anything but its per-row results (`matched`, or `created` = "would
create a catalog entry"); `commit()` turns that preview into the real run. The run processes
rows in batches of BATCH, each batch one transaction that also moves `imports.done`: after a
crash the next run (arq's retry, or the sweep every minute and at worker start-up) continues
after the last committed batch. A session advisory lock keeps two workers off one import.
One import per reader is queued or running at a time (a partial unique index).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec

from domain.db import Database
from domain.errors import Conflict, Invalid, NotFound
from domain.ids import in_range
from domain.interop import apply, formats
from domain.reading.leaderboards import Score

BATCH = 100
LOCK_SPACE = 0x1A0E  # pg advisory lock (LOCK_SPACE, import id)
Progress = Callable[[int, dict[str, Any]], Awaitable[None]]  # (user_id, event data)
Synced = Callable[[list[Score]], Awaitable[None]]


class ImportOut(msgspec.Struct, frozen=True):
    id: int
    format: str
    status: str
    dry_run: bool
    filename: str
    total: int
    done: int
    counts: dict[str, Any]
    error: str | None
    created_at: str
    finished_at: str | None


class RowOut(msgspec.Struct, frozen=True):
    row: int
    outcome: str
    book_id: int | None
    title: str
    shelf: str
    reason: str | None


class RowPage(msgspec.Struct, frozen=True):
    items: list[RowOut]
    next_cursor: int | None


def _out(r: Any) -> ImportOut:
    return ImportOut(id=int(r["id"]), format=r["format"], status=r["status"],
                     dry_run=r["dry_run"], filename=r["filename"], total=r["total"],
                     done=r["done"], counts=json.loads(r["counts"]), error=r["error"],
                     created_at=r["created_at"].isoformat(),
                     finished_at=r["finished_at"].isoformat() if r["finished_at"] else None)


def not_found() -> NotFound:
    return NotFound("no such import", code="import_not_found")


def _shelf_counts(parsed: formats.Parsed) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in parsed.entries:
        counts[e.status] = counts.get(e.status, 0) + 1
    return counts


async def start(db: Database, user_id: int, filename: str, raw: bytes, *, dry_run: bool,
                max_bytes: int, max_rows: int) -> ImportOut:
    """Check and store an upload; the caller enqueues `run_import` with the returned id."""
    if len(raw) > max_bytes:
        raise Invalid(f"an import file is at most {max_bytes} bytes", code="import_too_large",
                      field="file", extra={"max_bytes": max_bytes})
    if not raw.strip():
        raise Invalid("the file is empty", code="import_empty", field="file")
    parsed = formats.parse(raw, max_rows=max_rows)
    counts = {"shelves": _shelf_counts(parsed), "skipped": len(parsed.skipped)}
    async with db.pool.acquire() as conn, conn.transaction():
        try:
            row = await conn.fetchrow(
                "INSERT INTO imports (user_id, format, status, dry_run, filename, sha256,"
                " content, total, counts) VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8)"
                " RETURNING *", user_id, parsed.format, dry_run, filename[:255],
                hashlib.sha256(raw).hexdigest(), raw.decode("utf-8-sig"),
                len(parsed.entries), json.dumps(counts))
        except asyncpg.UniqueViolationError:
            raise Conflict("you already have an import running: wait for it to finish",
                           code="import_running") from None
        await conn.executemany(
            "INSERT INTO import_rows (import_id, row_number, outcome, title, reason)"
            " VALUES ($1, $2, 'skipped', $3, $4)",
            [(row["id"], n, title, reason) for n, title, reason in parsed.skipped])
    return _out(row)


async def commit(db: Database, user_id: int, import_id: int) -> ImportOut:
    """Turn a finished preview into the real import (its rows are matched again)."""
    async with db.pool.acquire() as conn, conn.transaction():
        row = await _mine(conn, user_id, import_id, lock=True)
        if not row["dry_run"] or row["status"] != "done":
            raise Conflict("only a finished preview can be committed", code="import_not_preview")
        try:
            await conn.execute("DELETE FROM import_rows WHERE import_id = $1 AND outcome <>"
                               " 'skipped'", import_id)
            row = await conn.fetchrow(
                "UPDATE imports SET status = 'queued', dry_run = false, done = 0,"
                " finished_at = NULL, counts = counts - 'outcomes' WHERE id = $1 RETURNING *",
                import_id)
        except asyncpg.UniqueViolationError:
            raise Conflict("you already have an import running: wait for it to finish",
                           code="import_running") from None
    return _out(row)


async def _mine(conn: Any, user_id: int, import_id: int, *, lock: bool = False) -> Any:
    if not in_range(import_id):
        raise not_found()
    row = await conn.fetchrow("SELECT * FROM imports WHERE id = $1 AND user_id = $2"
                              + (" FOR UPDATE" if lock else ""), import_id, user_id)
    if row is None:
        raise not_found()
    return row


async def get(db: Database, user_id: int, import_id: int) -> ImportOut:
    async with db.pool.acquire() as conn:
        return _out(await _mine(conn, user_id, import_id))


async def list_mine(db: Database, user_id: int) -> list[ImportOut]:
    rows = await db.pool.fetch("SELECT * FROM imports WHERE user_id = $1 ORDER BY id DESC"
                               " LIMIT 50", user_id)
    return [_out(r) for r in rows]


async def rows(db: Database, user_id: int, import_id: int, *, outcome: str | None,
               after: int | None, limit: int) -> RowPage:
    async with db.pool.acquire() as conn:
        await _mine(conn, user_id, import_id)
        found = await conn.fetch(
            "SELECT * FROM import_rows WHERE import_id = $1 AND row_number > $2"
            " AND ($3::text IS NULL OR outcome = $3) ORDER BY row_number LIMIT $4",
            import_id, after or 0, outcome, limit + 1)
    items = [RowOut(row=r["row_number"], outcome=r["outcome"], book_id=r["book_id"],
                    title=r["title"], shelf=r["shelf"], reason=r["reason"])
             for r in found[:limit]]
    return RowPage(items=items, next_cursor=items[-1].row if len(found) > limit else None)


async def pending_ids(db: Database) -> list[int]:
    """Imports a worker should (re)start: queued, or running when a worker died."""
    return [int(r["id"]) for r in await db.pool.fetch(
        "SELECT id FROM imports WHERE status IN ('queued', 'running') ORDER BY id")]


async def fail(db: Database, import_id: int, error: str) -> None:
    await db.pool.execute("UPDATE imports SET status = 'failed', error = $2, finished_at = now()"
                          " WHERE id = $1 AND status IN ('queued', 'running')", import_id, error)


def _progress(row: Any, done: int, counts: dict[str, Any], status: str) -> dict[str, Any]:
    return {"import_id": int(row["id"]), "status": status, "done": done,
            "total": row["total"], "dry_run": row["dry_run"], "counts": counts}


async def _batch(conn: Any, row: Any, entries: list[formats.Entry], counts: dict[str, Any],
                 scores: list[Score]) -> None:
    outcomes: dict[str, int] = counts.setdefault("outcomes", {})
    results = []
    for e in entries:
        if row["dry_run"]:
            book_id, how = await apply.find_book(conn, e, row["format"])
            outcome, reason = ("matched", how) if book_id is not None else ("created", "new")
        else:
            async with conn.transaction():  # a savepoint: one bad row does not sink the batch
                try:
                    done = await apply.apply_entry(conn, row["user_id"], row["id"],
                                                   row["format"], e)
                    book_id, outcome = done.book_id, done.outcome
                    reason = f"{done.how}: {', '.join(done.changed) or 'nothing new'}"
                    scores.extend(done.scores)
                except Invalid as exc:
                    book_id, outcome, reason = None, "skipped", exc.detail
                except asyncpg.PostgresConnectionError:
                    raise
                except asyncpg.PostgresError as exc:  # e.g. a value the catalog refuses
                    book_id, outcome, reason = None, "skipped", f"not importable: {exc}"[:300]
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        results.append((row["id"], e.row, outcome, book_id, e.title[:500], e.status, reason))
    await conn.executemany(
        "INSERT INTO import_rows (import_id, row_number, outcome, book_id, title, shelf, reason)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING", results)


async def run(db: Database, import_id: int, progress: Progress, synced: Synced | None = None,
              *, every: float = 1.0) -> str:
    """Run (or continue) one import; returns its final status, or 'busy'."""
    async with db.pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_SPACE,
                                   import_id):
            return "busy"
        try:
            return await _run_locked(conn, import_id, progress, synced, every)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_SPACE, import_id)


async def _run_locked(conn: Any, import_id: int, progress: Progress, synced: Synced | None,
                      every: float) -> str:
    row = await conn.fetchrow("UPDATE imports SET status = 'running', started_at ="
                              " coalesce(started_at, now()) WHERE id = $1 AND status IN"
                              " ('queued', 'running') RETURNING *", import_id)
    if row is None:
        return "gone"
    user_id = int(row["user_id"])
    counts: dict[str, Any] = json.loads(row["counts"])
    entries = formats.parse(row["content"].encode(), max_rows=10**9).entries
    done, last = int(row["done"]), 0.0
    await progress(user_id, _progress(row, done, counts, "running"))
    while done < len(entries):
        chunk = entries[done:done + BATCH]
        scores: list[Score] = []
        async with conn.transaction():
            await _batch(conn, row, chunk, counts, scores)
            done += len(chunk)
            await conn.execute("UPDATE imports SET done = $2, counts = $3 WHERE id = $1",
                               import_id, done, json.dumps(counts))
        if scores and synced is not None:
            await synced(scores)
        if time.monotonic() - last >= every:
            last = time.monotonic()
            await progress(user_id, _progress(row, done, counts, "running"))
    await conn.execute("UPDATE imports SET status = 'done', finished_at = now(),"
                       " content = CASE WHEN dry_run THEN content ELSE '' END WHERE id = $1",
                       import_id)
    await progress(user_id, _progress(row, done, counts, "done"))
    return "done"
