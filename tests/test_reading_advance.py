"""`domain.reading.progress.advance`, the one entry point every source calls, against the real
database: it runs in the caller's transaction, creates states, respects finished reads, and the
spoiler-gate readers (`furthest`, `furthest_of`) see what it wrote; dates use the reader's zone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio

from domain.db import Database
from domain.errors import Invalid, NotFound
from domain.reading import progress, states
from domain.reading.schemas import StateIn
from tests.accounts_helpers import register
from tests.fixture_helpers import connected_db
from tests.reading_helpers import new_book, put_state


@pytest_asyncio.fixture(scope="module")
async def db(engines) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    async with connected_db(engines.database_url) as database:
        yield database


async def test_session_source_creates_state_and_rolls_back_with_caller(
        http: httpx.AsyncClient, db: Database, unique: str) -> None:
    """A session's move creates a `reading` state with read 1 and is logged; when the caller's
    transaction rolls back, the move is gone too."""
    reader = await register(http, unique, prefix="r")
    book = await new_book(http, unique)
    async with db.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        moved = await progress.advance(conn, reader.id, book["id"], 0.4, "session")
        assert moved.created and moved.moved and moved.furthest == 0.4 and moved.pages == 120
        assert await progress.furthest(conn, reader.id, book["id"]) == 0.4
        await tx.rollback()
    assert await progress.furthest(db.pool, reader.id, book["id"]) == 0.0
    async with db.pool.acquire() as conn, conn.transaction():
        first = await progress.advance(conn, reader.id, book["id"], 0.4, "session")
        again = await progress.advance(conn, reader.id, book["id"], 0.2, "club")
    assert first.moved and not again.moved and not again.logged and again.furthest == 0.4
    state = await states.get_state(db, reader.id, book["id"])
    assert state.status == "reading" and [r.number for r in state.reads] == [1]
    assert await progress.furthest_of(db.pool, [reader.id, reader.id + 10**9], book["id"]) == {
        reader.id: 0.4, reader.id + 10**9: 0.0}


async def test_passive_sources_never_reopen_a_finished_book(http: httpx.AsyncClient,
                                                            db: Database, unique: str) -> None:
    """A session move on a book already read keeps it `read` (no new read), while an explicit
    progress update (`reopen`) starts a re-read."""
    reader = await register(http, unique, prefix="r")
    book = await new_book(http, unique)
    await put_state(http, reader, book["id"], status="did_not_finish")
    async with db.pool.acquire() as conn, conn.transaction():
        result = await progress.advance(conn, reader.id, book["id"], 0.7, "session")
    assert result.moved and result.status == "did_not_finish" and result.read_id is None
    state = await states.get_state(db, reader.id, book["id"])
    assert state.status == "did_not_finish" and len(state.reads) == 1 and state.furthest == 0.7
    async with db.pool.acquire() as conn, conn.transaction():
        result = await progress.advance(conn, reader.id, book["id"], 0.1, "progress",
                                        reopen=True)
    state = await states.get_state(db, reader.id, book["id"])
    assert state.status == "reading" and [r.outcome for r in state.reads] == [
        "did_not_finish", None] and state.furthest == 0.7


async def test_bad_values_and_unknown_books(http: httpx.AsyncClient, db: Database,
                                            unique: str) -> None:
    """advance() refuses progressions outside 0..1 (and NaN) and unknown books, and writes
    nothing."""
    reader = await register(http, unique, prefix="r")
    book = await new_book(http, unique)
    async with db.pool.acquire() as conn:
        for bad in (1.01, -0.1, float("nan")):
            with pytest.raises(Invalid):
                await progress.advance(conn, reader.id, book["id"], bad, "sync")
        with pytest.raises(NotFound):
            await progress.advance(conn, reader.id, 2**40, 0.5, "sync")
    with pytest.raises(NotFound):
        await states.get_state(db, reader.id, book["id"])


async def test_started_and_finished_dates_use_the_readers_zone(http: httpx.AsyncClient,
                                                               db: Database, unique: str) -> None:
    """At 11:30 UTC on 1 March it is already 2 March in Auckland: a reader there gets 2 March as
    the start date, a UTC reader 1 March."""
    kiwi = await register(http, unique, prefix="k")
    brit = await register(http, unique, prefix="b")
    r = await http.put("/api/v1/me/reading/settings", json={"time_zone": "Pacific/Auckland"},
                       headers=kiwi.headers)
    assert r.status_code == 200 and r.json() == {"time_zone": "Pacific/Auckland"}
    r = await http.put("/api/v1/me/reading/settings", json={"time_zone": "Mars/Olympus"},
                       headers=kiwi.headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid_time_zone"
    assert (await http.get("/api/v1/me/reading/settings", headers=kiwi.headers)).json() == {
        "time_zone": "Pacific/Auckland"}
    book = await new_book(http, unique)
    at = datetime(2026, 3, 1, 11, 30, tzinfo=UTC)
    for user, expected in ((kiwi, "2026-03-02"), (brit, "2026-03-01")):
        state = await states.put_state(db, user.id, book["id"], StateIn(status="read"), now=at)
        assert str(state.reads[0].finished_on) == expected
