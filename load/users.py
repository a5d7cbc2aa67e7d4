"""Benchmark users: rows in `users` (bulk SQL insert; nobody logs in) and access tokens for them."""

from __future__ import annotations

import asyncio

from load.stack import Stack


def ensure_users(stack: Stack, n: int) -> list[int]:
    """Ids of at least `n` users named bench<i>; creates the missing ones in one statement.

    When the accounts table does not exist yet, plain ids 1..n are used (tokens only).
    """
    import asyncpg

    async def go() -> list[int]:
        conn = await asyncpg.connect(stack.database_url)
        try:
            exists = await conn.fetchval("SELECT to_regclass('public.users') IS NOT NULL")
            if not exists:
                return list(range(1, n + 1))
            have = await conn.fetchval("SELECT count(*) FROM users WHERE handle LIKE 'bench%'")
            if have < n:
                await conn.execute(
                    "INSERT INTO users (email, handle, display_name, password_hash) "
                    "SELECT 'bench' || g || '@bench.invalid', 'bench' || g, 'Bench ' || g, "
                    "'!bench-no-login' FROM generate_series($1::int, $2::int) AS g "
                    "ON CONFLICT DO NOTHING", have + 1, n)
            rows = await conn.fetch("SELECT id FROM users WHERE handle LIKE 'bench%' "
                                    "ORDER BY id LIMIT $1", n)
            return [int(r["id"]) for r in rows]
        finally:
            await conn.close()

    stack.start_engines()
    return asyncio.run(go())


def tokens(stack: Stack, user_ids: list[int], ttl: int = 3600) -> list[str]:
    return [stack.token(uid, ttl) for uid in user_ids]
