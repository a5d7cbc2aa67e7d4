"""The PostgreSQL connection: one piccolo engine (with its asyncpg pool) bound to every table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from piccolo.apps.migrations.tables import Migration
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from domain.registry import TABLES


class Database:
    """Owns the piccolo engine; use-cases use the piccolo tables, or `pool` for raw SQL."""

    def __init__(self, dsn: str, *, pool_size: int = 10) -> None:
        self.engine = PostgresEngine(config={"dsn": dsn}, log_queries=False)
        self.pool_size = pool_size

    async def connect(self, tables: Iterable[type[Table]] | None = None) -> None:
        await self.engine.start_connection_pool(min_size=1, max_size=self.pool_size,
                                                reset=_keep_session)
        bind_tables(self.engine, tables)

    async def close(self) -> None:
        await self.engine.close_connection_pool()

    @property
    def pool(self) -> Any:
        """The asyncpg pool (for raw SQL, transactions with row locks and bulk work)."""
        return self.engine.pool

    async def ping(self) -> None:
        async with self.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")


async def _keep_session(conn: Any) -> None:
    """Release hook that skips asyncpg's reset query (one round trip per release).

    asyncpg still rolls back an open transaction before calling this. The reset query only
    matters for session state: session-level advisory locks, LISTEN, WITH HOLD cursors and
    SET. Our code uses none of them on pooled connections (advisory locks are `_xact_`, and
    settings are `SET LOCAL`), so returning the connection as is is safe and halves the round
    trips of a one-query request.
    """


def all_tables() -> list[type[Table]]:
    """Every table of the project (the registry's, and piccolo's own migration table)."""
    return [*TABLES, Migration]


def bind_tables(engine: PostgresEngine, tables: Iterable[type[Table]] | None = None) -> None:
    for table in tables if tables is not None else all_tables():
        table._meta.db = engine
