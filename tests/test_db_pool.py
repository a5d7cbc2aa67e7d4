"""The asyncpg pool's connections come ready: the array types the queries use are introspected
when a connection opens (domain/db.py ARRAY_TYPES), not by the first request that uses one."""

from __future__ import annotations

import asyncio
import re

import asyncpg

from domain.db import ARRAY_TYPES, Database
from tests.conftest import Engines
from tests.support import ROOT

PACKAGES = ("server", "realtime", "domain", "jobs")
CAST = re.compile(r"::([a-z][a-z0-9_ ]*?)\[\]")
BUILT_IN = {"text[]"}  # asyncpg decodes these without asking the server


def _array_casts() -> set[str]:
    """Every `::<type>[]` cast written in the code (parameters and literals alike)."""
    found: set[str] = set()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            found |= {m.group(1).strip() + "[]" for m in CAST.finditer(path.read_text())}
    return found


async def test_every_array_cast_in_the_code_is_warmed(engines: Engines) -> None:
    """Each array type the code casts to is one the pool warms (or one asyncpg knows), by the
    server's own reading of the names (bigint[] is int8[], int[] is int4[], ...)."""
    casts = _array_casts()
    assert {"bigint[]", "text[]"} <= casts  # the scan finds the code's casts
    conn = await asyncpg.connect(engines.database_url)
    try:
        async def oids(names: set[str]) -> set[int]:
            return {int(await conn.fetchval("SELECT $1::regtype::oid", n)) for n in names}

        assert await oids(casts) <= await oids(set(ARRAY_TYPES) | BUILT_IN)
    finally:
        await conn.close()


async def test_a_pooled_connection_runs_array_queries_without_introspecting(
        engines: Engines) -> None:
    """On a fresh pooled connection, statements passing and returning every warmed array type
    run without asyncpg's type-introspection query (it ran once, when the connection opened)."""
    db = Database(engines.database_url, pool_size=1)
    await db.connect()
    seen: list[str] = []
    try:
        async with db.pool.acquire() as conn:
            conn.add_query_logger(lambda record: seen.append(record.query))
            ids = await conn.fetchval("SELECT array_agg(x) FROM unnest($1::bigint[]) x"
                                      " WHERE x = ANY($2::bigint[])", [1, 2, 3], [2, 3])
            row = await conn.fetchrow("SELECT $1::int[] AS i, $2::float8[] AS f,"
                                      " $3::timestamptz[] AS t", [7], [0.5], [])
            assert ids == [2, 3] and (row["i"], row["f"], row["t"]) == ([7], [0.5], [])
            for _ in range(20):  # the logger is called soon after each statement
                if len(seen) >= 2:
                    break
                await asyncio.sleep(0.01)
    finally:
        await db.close()
    assert len(seen) == 2, seen
    assert not [q for q in seen if "pg_type" in q or "typeinfo" in q], seen
