"""Search result cache: total, facets and pages in Redis, keyed by the catalog version."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.catalog.cursor import fingerprint
from domain.catalog.schemas import BookSummary
from domain.keys import CATALOG_CACHE
from domain.redisconn import mget

# Entries of an old catalog version are never read again (the version is part of the key, and
# every write to `books` bumps it in the writing transaction), so the TTL only bounds memory; it
# also bounds staleness if the version row were ever bypassed. 600 s: an uncached ranked search
# is the catalog's costliest statement, and a steady catalog keeps serving the same queries.
CACHE_TTL_S = 600


class CachedTotals(msgspec.Struct, array_like=True):
    total: int
    names: list[str] | None     # None: computed without facets
    counts: list[int] | None
    estimated: bool = False     # total and counts estimated (domain/catalog/search_ranked.py)


class CachedPage(msgspec.Struct, array_like=True):
    items: list[BookSummary]
    next_cursor: str | None


async def catalog_version(conn: Any) -> int:
    """The catalog version: bumped in the same transaction as every write to `books`."""
    return int(await conn.fetchval("SELECT version FROM catalog_state WHERE id = 1"))


class _Seen:
    """The catalog version this process read last: a guess for the next lookup, never trusted
    (the version changes with every book write, on any process)."""

    version: int | None = None


async def lookup(conn: Any, redis: Redis,
                 keys_of: Callable[[int], list[str]]) -> tuple[int, list[bytes | None]]:
    """The catalog version and the cached values of `keys_of(version)`. When the version is the
    one this process saw last (all but the first lookup after a book write), the two reads run
    side by side, one round trip's wait instead of two: the entries read under the guessed
    version are used only once Postgres has answered that very version."""
    guess = _Seen.version
    if guess is None:
        version = await catalog_version(conn)
        raw = await load(redis, keys_of(version))
    else:
        version, raw = await asyncio.gather(catalog_version(conn), load(redis, keys_of(guess)))
        if version != guess:
            raw = await load(redis, keys_of(version))
    _Seen.version = version
    return version, raw


def totals_key(version: int, fp: str, facets: bool) -> str:
    return f"{CATALOG_CACHE}{version}:t:{fp}:{int(facets)}"


def page_key(version: int, fp: str, cursor: str | None, limit: int) -> str:
    return f"{CATALOG_CACHE}{version}:p:{fingerprint(fp, cursor, limit)}"


async def load(redis: Redis, keys: list[str]) -> list[bytes | None]:
    """The cached values of `keys` (None where missing, or all None if Redis is unavailable)."""
    try:
        return await mget(redis, keys)  # (several slots in cluster mode)
    except RedisError:
        return [None] * len(keys)


async def store(redis: Redis, entries: dict[str, msgspec.Struct],
                ttl: int = CACHE_TTL_S) -> None:
    """Cache `entries` for `ttl` s; a Redis failure only costs the next request a recompute."""
    if not entries:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for key, value in entries.items():
                pipe.set(key, msgspec.msgpack.encode(value), ex=ttl)
            await pipe.execute()
    except RedisError:
        pass


def decode_totals(raw: bytes | None) -> CachedTotals | None:
    return None if raw is None else msgspec.msgpack.decode(raw, type=CachedTotals)


def decode_page(raw: bytes | None) -> CachedPage | None:
    return None if raw is None else msgspec.msgpack.decode(raw, type=CachedPage)
