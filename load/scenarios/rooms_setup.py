"""The rooms scenario's sessions: one live `free` session per room, ended after its run."""

from __future__ import annotations

import asyncio

from load.stack import Stack


def make_sessions(stack: Stack, hosts: list[int]) -> list[int]:
    """One live public `free` session per host, on some book of the catalog."""
    from domain.accounts.tokens import Principal
    from domain.catalog.demo import seed_demo_catalog
    from domain.db import Database
    from domain.sessions import sessions
    from domain.sessions.schemas import SessionCreate

    async def go() -> list[int]:
        db = Database(stack.database_url, pool_size=4)
        await db.connect()
        try:
            await seed_demo_catalog(db, books=200, only_if_empty=True)
            book_ids = [r["id"] for r in await db.pool.fetch(
                "SELECT id FROM books ORDER BY id LIMIT 50")]
            out = []
            for i, uid in enumerate(hosts):
                host = Principal(user_id=uid, role="reader", jti="bench", exp=0)
                s = await sessions.create_session(db, host, SessionCreate(
                    book_id=book_ids[i % len(book_ids)], title=f"bench room {i}",
                    capacity=100))
                await sessions.start_session(db, host, s.id)
                out.append(s.id)
            return out
        finally:
            await db.close()

    return asyncio.run(go())


def end_sessions(stack: Stack, hosts: list[int], sids: list[int]) -> None:
    """End a run's sessions: the next run's readers (the same users, the same books) are then
    in no other live session of their book (that would make every move of theirs push unlocks
    to those rooms too, a cost the earlier variant of an A/B would not pay)."""
    from domain.accounts.tokens import Principal
    from domain.db import Database
    from domain.sessions import sessions

    async def go() -> None:
        db = Database(stack.database_url, pool_size=4)
        await db.connect()
        try:
            for uid, sid in zip(hosts, sids, strict=False):
                await sessions.end_session(db, Principal(user_id=uid, role="reader",
                                                         jti="bench", exp=0), sid)
        finally:
            await db.close()

    asyncio.run(go())


def pg_transactions(stack: Stack) -> int:
    """Transactions committed or rolled back in the benchmark database so far (each statement
    outside a transaction is one), once every backend has reported its counts (an idle backend
    reports what it has pending within 10 seconds)."""
    import asyncpg

    async def go() -> int:
        await asyncio.sleep(11.0)
        conn = await asyncpg.connect(stack.database_url)
        try:
            return int(await conn.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database"
                " WHERE datname = current_database()"))
        finally:
            await conn.close()

    return asyncio.run(go())
