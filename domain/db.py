"""The PostgreSQL connection: one piccolo engine and its asyncpg pool.

The schema is the SQL in migrations/ (applied by piccolo's migration runner); queries are SQL
over asyncpg, and tests/test_schema_sql.py prepares every statement against the migrated
database, so the two places the schema is written in cannot drift apart."""

from __future__ import annotations

from typing import Any

from piccolo.engine.postgres import PostgresEngine

from domain.ops.metrics import record_query


class Database:
    """Owns the piccolo engine (and with it the asyncpg pool every use-case queries through)."""

    def __init__(self, dsn: str, *, pool_size: int = 10) -> None:
        self.engine = PostgresEngine(config={"dsn": dsn}, log_queries=False)
        self.pool_size = pool_size

    async def connect(self) -> None:
        await self.engine.start_connection_pool(min_size=1, max_size=self.pool_size,
                                                reset=_keep_session, init=_init)

    async def close(self) -> None:
        await self.engine.close_connection_pool()

    @property
    def pool(self) -> Any:
        """The asyncpg pool (for raw SQL, transactions with row locks and bulk work)."""
        return self.engine.pool

    async def ping(self) -> None:
        async with self.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")


# The array types the hot queries pass or return that asyncpg has no built-in codec for (it has
# one for text[]): `$n::bigint[]`, `= ANY($n::bigint[])`, `$n::int[]`, `$n::float8[]` and
# `$n::timestamptz[]` in domain/ and server/, and int8[]/int4[]/float8[] columns and array_agg
# results. Without this, the first statement on a connection that uses one of them pays
# asyncpg's type introspection (a recursive pg_type query bracketed by two JIT settings): one
# such round per type per connection. tests/test_db_pool.py keeps this list complete.
ARRAY_TYPES = ("int8[]", "int4[]", "float8[]", "timestamptz[]", "date[]")
_WARM_SQL = "SELECT " + ", ".join(f"NULL::{t}" for t in ARRAY_TYPES)


async def _init(conn: Any) -> None:
    """A new pooled connection: its array codecs introspected once, in one round, before any
    request uses it (a statement returning all of them does that; asyncpg keeps the codecs for
    the connection's life); then every query is timed by use-case (domain/ops/metrics.py)."""
    await conn.fetchrow(_WARM_SQL)
    conn.add_query_logger(record_query)


async def _keep_session(conn: Any) -> None:
    """Release hook that skips asyncpg's reset query (one round trip per release).

    asyncpg still rolls back an open transaction before calling this. The reset query only
    matters for session state: session-level advisory locks, LISTEN, WITH HOLD cursors and
    SET. Our code uses none of them on pooled connections (advisory locks are `_xact_`, and
    settings are `SET LOCAL`), so returning the connection as is is safe and halves the round
    trips of a one-query request.
    """
