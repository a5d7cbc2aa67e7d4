"""Incremental item-item neighbours: a reading-state change updates only the books it can move,
and the lists it writes are exactly those of a full recompute."""

from __future__ import annotations

from typing import Any

import httpx

from domain.ai import neighbours, recs
from tests.accounts_helpers import register
from tests.reading_helpers import new_book, progress, put_state
from tests.worker_helpers import db_and_redis


async def _lists(conn: Any) -> dict[int, list[tuple[int, float]]]:
    rows = await conn.fetch("SELECT book_id, neighbour_id, cf FROM book_neighbours "
                            "ORDER BY book_id, cf DESC, neighbour_id")
    out: dict[int, list[tuple[int, float]]] = {}
    for r in rows:
        out.setdefault(r["book_id"], []).append((r["neighbour_id"], r["cf"]))
    return out


def test_partial_lists_equal_the_full_pass() -> None:
    """Recomputing some books from their readers' histories and the others' norms gives the
    very lists of the full pass (same sums in the same order)."""
    histories = [{1: 1.0, 2: 0.7, 3: 0.4}, {2: 1.0, 3: 1.0, 4: 0.1}, {1: 0.4, 4: 0.7},
                 {3: 0.7, 5: 1.0}]
    full = recs.neighbours_from(histories, 3)
    norms = recs.norms_of(histories)
    some = {2, 5}
    readers = [h for h in histories if some & set(h)]
    assert recs.neighbours_for(some, readers, norms, 3) == {b: full[b] for b in some}


async def test_a_change_updates_only_what_it_can_move(engines: Any, http: httpx.AsyncClient,
                                                      unique: str) -> None:
    """After a full pass, a new finish, a status change and a removed shelving are picked up by
    the incremental update alone (progress moves are not changes), which recomputes a handful
    of books and leaves the table as a full recompute would; "similar books" shows it."""
    books = [await new_book(http, f"{unique}-n{i}") for i in range(5)]
    ids = [b["id"] for b in books]
    readers = [await register(http, unique, prefix=f"n{k}") for k in range(4)]
    for k, reader in enumerate(readers):
        for b in ids[k % 2: k % 2 + 3]:
            await put_state(http, reader, b, status="read")
    await put_state(http, readers[3], ids[4], status="reading")
    apart = [await new_book(http, f"{unique}-a{i}") for i in range(2)]  # another readership
    loner = await register(http, unique, prefix="na")
    for b in apart:
        await put_state(http, loner, b["id"], status="read")
    async with db_and_redis(engines) as (db, _):
        await neighbours.rebuild_neighbours(db)
        assert await neighbours.update_neighbours(db) == 0
        await progress(http, readers[3], ids[4], progression=0.5)  # not a change for CF
        assert await neighbours.update_neighbours(db) == 0
        await put_state(http, readers[0], ids[4], status="read")        # new pair
        await put_state(http, readers[1], ids[1], status="did_not_finish")  # weight moves
        async with db.pool.acquire() as conn:
            await conn.execute("DELETE FROM reading_states WHERE user_id = $1 AND book_id = $2",
                               readers[2].id, ids[0])
            total = await conn.fetchval("SELECT count(DISTINCT book_id) FROM book_neighbours")
        touched = await neighbours.update_neighbours(db)
        assert 0 < touched <= len(ids) < total  # the other readership is not touched
        async with db.pool.acquire() as conn:
            incremental = await _lists(conn)
            assert await conn.fetchval("SELECT count(*) FROM ai_dirty_states") == 0
        await neighbours.rebuild_neighbours(db)
        async with db.pool.acquire() as conn:
            assert await _lists(conn) == incremental
    r = await http.get(f"/api/v1/recommendations/similar/{ids[4]}")
    assert ids[0] in [i["book_id"] for i in r.json()["items"]]
