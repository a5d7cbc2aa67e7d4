"""ai-bench: semantic/hybrid search latency over N demo books, recommendation latency and bulk
embedding throughput, on embedded engines of its own (a temporary folder, removed after).

    python -m load ai-bench [--books 10000] [--readers 2000] [--queries 200]

What is timed is server-side work, in process, with no HTTP in front: `domain.ai.search.search`
(query embedding + HNSW/exact vector scan + full-text leg + fusion + page details), uncached
(no Redis) and cached (Redis, same catalog version); `recommend.for_me` and `recommend.similar`;
and the worker's bulk job (`vectors.embed_catalog`, batches of 256: text load, wordllama, COPY-
free upsert) in books/s. The machine is shared: compare figures within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from domain.ai import neighbours, recommend, trending, vectors
from domain.ai import search as ai_search
from domain.ai.embed import WordLlamaEmbedder
from domain.catalog.demo import seed_demo_catalog
from domain.catalog.schemas import SearchQuery
from domain.db import Database
from domain.migrate import migrate
from server.engines import EmbeddedEngines

QUERIES = ("a story about the sea", "love and loss in a small town", "war and exile",
           "a detective solves a murder", "space travel to the stars", "a family secret",
           "growing up in the north", "a journey across the desert", "ghosts in an old house",
           "the history of an empire", "a cookbook of winter recipes", "poems about nature",
           "a thief in venice", "letters between sisters", "the last lighthouse keeper")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(fn: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def line(name: str, samples: list[float]) -> str:
    return (f"| {name} | {len(samples)} | {statistics.median(samples):.1f} | "
            f"{pct(samples, 0.99):.1f} | {max(samples):.1f} |")


async def seed_readers(db: Database, readers: int, books: int, seed: int = 3) -> None:
    """Readers with 5-40 states each, clustered by subject-ish id ranges (planted tastes)."""
    rng = random.Random(seed)
    async with db.pool.acquire() as conn:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM books ORDER BY id")]
        users = await conn.fetch(
            "INSERT INTO users (email, handle, display_name, password_hash) "
            "SELECT 'b' || g || '@bench.test', 'bench' || g, 'Bench ' || g, 'x' "
            "FROM generate_series(1, $1) g RETURNING id", readers)
        rows = []
        for u in users:
            centre = rng.randrange(len(ids))
            picked = {ids[min(len(ids) - 1, max(0, int(rng.gauss(centre, 150))))]
                      for _ in range(rng.randint(5, 40))}
            rows += [(u["id"], b, rng.choice(("read", "read", "reading", "want_to_read",
                                               "did_not_finish"))) for b in picked]
        await conn.copy_records_to_table("reading_states", records=rows,
                                         columns=["user_id", "book_id", "status"])


async def bench(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ai-bench-"))
    engines = EmbeddedEngines(folder, pg_options={"fsync": "off"}, persist_redis=False)
    db_url, redis_url = engines.start()
    try:
        await migrate(db_url)
        db = Database(db_url, pool_size=4)
        await db.connect()
        redis = Redis.from_url(redis_url)
        embedder = WordLlamaEmbedder()
        t = time.perf_counter()
        await seed_demo_catalog(db, books=args.books, only_if_empty=False)
        print(f"seeded {args.books} books in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        done = await vectors.embed_catalog(db, redis, embedder, force=True)
        spent = time.perf_counter() - t
        print(f"bulk embedding: {done} books in {spent:.1f} s = {done / spent:.0f} books/s "
              "(worker job, one process, text load + wordllama + upsert + HNSW insert)")
        print("\n| request (server-side, in process) | n | p50 ms | p99 ms | max ms |")
        print("|---|---|---|---|---|")
        rng = random.Random(1)
        queries = [f"{rng.choice(QUERIES)} {rng.choice(('', 'old', 'new', 'dark'))}".strip()
                   for _ in range(args.queries)]
        for mode in ("semantic", "hybrid"):
            it = iter(queries * 2)
            samples = await timed(lambda m=mode, i=it: ai_search.search(  # type: ignore[misc]
                db, embedder, SearchQuery(q=next(i)), m, None), args.queries)
            print(line(f"{mode} search, uncached", samples))
            it = iter(queries * 3)
            for q in queries:
                await ai_search.search(db, embedder, SearchQuery(q=q), mode, redis)
            samples = await timed(lambda m=mode, i=it: ai_search.search(  # type: ignore[misc]
                db, embedder, SearchQuery(q=next(i)), m, redis), args.queries)
            print(line(f"{mode} search, cached", samples))
        it = iter(queries * 2)
        samples = await timed(lambda i=it: ai_search.search(  # type: ignore[misc]
            db, embedder, SearchQuery(q=next(i), subjects=("Mystery",)), "semantic", None),
            args.queries)
        print(line("semantic search + subject filter (exact scan), uncached", samples))
        await seed_readers(db, args.readers, args.books)
        t = time.perf_counter()
        n = await neighbours.rebuild_neighbours(db)
        full_s = time.perf_counter() - t
        print(f"\nneighbours (item-item CF, {args.readers} readers): {n} books in "
              f"{full_s:.1f} s (full pass)")
        async with db.pool.acquire() as conn:  # 20 readers change a state: the minute's work
            await conn.execute(
                "UPDATE reading_states SET status = CASE status WHEN 'read' THEN 'reading' "
                "ELSE 'read' END WHERE id IN (SELECT min(id) FROM reading_states "
                "GROUP BY user_id ORDER BY min(id) LIMIT 20)")
        t = time.perf_counter()
        touched = await neighbours.update_neighbours(db)
        print(f"incremental update after 20 changed states: {touched} books recomputed in "
              f"{time.perf_counter() - t:.2f} s (vs {full_s:.1f} s for the full pass)")
        await trending.rebuild_trending(db, redis)
        async with db.pool.acquire() as conn:
            users = [r["id"] for r in await conn.fetch("SELECT id FROM users ORDER BY id")]
            books = [r["id"] for r in await conn.fetch("SELECT id FROM books ORDER BY id")]
        ui, bi = iter(users * 3), iter(books * 3)
        samples = await timed(lambda: recommend.for_me(db, redis, embedder, next(ui), 20),
                              args.queries)
        print("\n| request (server-side, in process) | n | p50 ms | p99 ms | max ms |")
        print("|---|---|---|---|---|")
        print(line("recommendations for me (hybrid)", samples))
        samples = await timed(lambda: recommend.similar(db, embedder, next(bi), 10),
                              args.queries)
        print(line("similar books", samples))
        await redis.aclose()
        await db.close()
    finally:
        engines.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m load ai-bench")
    p.add_argument("--books", type=int, default=10_000)
    p.add_argument("--readers", type=int, default=2000)
    p.add_argument("--queries", type=int, default=200)
    asyncio.run(bench(p.parse_args(argv)))
    return 0
