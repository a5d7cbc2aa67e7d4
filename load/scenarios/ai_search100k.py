"""search-100k: uncached keyword search over a 100,000-book catalog at a fixed rate, bounded
candidate ranking (READALONG_SEARCH_CANDIDATES) against ranking every match (today's search
before the bound: `candidates` 0) in the same run.

    python -m load search-100k [--books 100000] [--rate 50] [--duration 6]
                               [--candidates 300] [--sequential 150] [--database-url URL]

Every query is distinct (a quarter each: 3- and 4-letter prefixes of title words, whole words,
two-word phrases; none repeated across the runs) and the cache is off (no Redis): each search
is computed.
Two parts, in process (no HTTP): (1) server time per search, one at a time on one connection:
the CPU this process and its PostgreSQL backend spent on it (from /proc/<pid>/schedstat, so a
busy shared machine inflates it less than wall time), p50/p90/p99; (2) requests issued open
loop at `--rate`/s on one asyncio loop with a pool of 4 connections: latency from each
request's scheduled start (so queueing counts), the rate achieved, CPU per search and the cores
used (this process + the backends). Without `--database-url` it starts embedded engines in a
temporary folder and seeds the demo catalog (minutes for 100k).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from domain.catalog.demo import seed_demo_catalog
from domain.catalog.schemas import SearchQuery
from domain.catalog.search import search_books
from domain.db import Database
from domain.migrate import migrate
from server.engines import EmbeddedEngines

POOL = 4


def _cpu_ms(pid: int) -> float:
    """CPU time a process has spent (ns precision from schedstat), in ms."""
    with open(f"/proc/{pid}/schedstat") as fh:
        return int(fh.read().split()[0]) / 1e6


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def queries(db: Database, count: int, seed: int = 7) -> list[str]:
    """`count` distinct queries from the catalog's titles, a quarter each (while they last):
    3-letter prefixes (type-ahead), 4-letter prefixes, whole words and two-word phrases."""
    rows = await db.pool.fetch("SELECT title FROM books ORDER BY md5(id::text) LIMIT 20000")
    titles = [re.findall(r"[a-z]{3,}", r["title"].lower()) for r in rows]
    words = sorted({w for t in titles for w in t})
    pools = [sorted({w[:3] for w in words}), sorted({w[:4] for w in words if len(w) > 4}),
             words, sorted({" ".join(t[i:i + 2]) for t in titles for i in range(len(t) - 1)})]
    rng = random.Random(seed)
    for pool in pools:
        rng.shuffle(pool)
    out: dict[str, None] = {}
    while len(out) < count and any(pools):
        for pool in pools:
            if pool and len(out) < count:
                out.setdefault(pool.pop(), None)
    return list(out)


async def leg(db: Database, pids: list[int], qs: list[str], rate: float,
              candidates: int) -> dict[str, Any]:
    """Issue `qs` open loop at `rate`/s; latency and CPU per search."""
    lat: list[float] = []
    start = time.perf_counter() + 0.2
    cpu0 = sum(_cpu_ms(p) for p in pids) + time.process_time() * 1000

    async def one(i: int, q: str) -> None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        await search_books(db, SearchQuery(q=q), None, candidates)
        lat.append((time.perf_counter() - due) * 1000)

    await asyncio.gather(*(one(i, q) for i, q in enumerate(qs)))
    wall = time.perf_counter() - start
    cpu = sum(_cpu_ms(p) for p in pids) + time.process_time() * 1000 - cpu0
    return {"n": len(lat), "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": max(lat),
            "cpu_ms": cpu / len(lat), "cores": cpu / 1000 / wall, "rate": len(lat) / wall}


async def server_time(db: Database, pid: int, qs: list[str], candidates: int) -> list[float]:
    """One search at a time on a one-connection pool: each one's CPU (Python + its backend)."""
    out = []
    for q in qs:
        c0, p0 = _cpu_ms(pid), time.process_time()
        await search_books(db, SearchQuery(q=q), None, candidates)
        out.append(_cpu_ms(pid) - c0 + (time.process_time() - p0) * 1000)
    return out


async def bench(args: argparse.Namespace) -> None:
    folder = engines = None
    url = args.database_url
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix="search-100k-"))
        engines = EmbeddedEngines(folder, pg_options={"fsync": "off"}, persist_redis=False)
        url, _ = engines.start()
    try:
        await migrate(url)
        db = Database(url, pool_size=POOL)
        await db.connect()
        have = int(await db.pool.fetchval("SELECT count(*) FROM books"))
        if have < args.books:
            t = time.perf_counter()
            await seed_demo_catalog(db, books=args.books - have, only_if_empty=False)
            await db.pool.execute("ANALYZE")
            print(f"seeded {args.books - have} books in {time.perf_counter() - t:.0f} s")
        books = int(await db.pool.fetchval("SELECT count(*) FROM books"))
        per_leg = int(args.rate * args.duration)
        # one mix for all four runs: query i goes to run i % 4 (each run gets its share of
        # every kind: 3- and 4-letter prefixes, words, phrases), none repeated
        mix = await queries(db, max(per_leg, args.sequential) * 4)
        qs = [q for i, q in enumerate(mix) if i % 4 < 2]
        alone = [q for i, q in enumerate(mix) if i % 4 >= 2]
        conns = [await db.pool.acquire() for _ in range(POOL)]
        pids = [int(await c.fetchval("SELECT pg_backend_pid()")) for c in conns]
        for c in conns:
            await db.pool.release(c)
        names = {0: "every match ranked (candidates 0: before)",
                 args.candidates: f"bounded (candidates {args.candidates})"}
        one = Database(url, pool_size=1)
        await one.connect()
        pid = int(await one.pool.fetchval("SELECT pg_backend_pid()"))
        print(f"\n{books} books, cache off, every query distinct\n")
        print("server time per search (one at a time; CPU of this process + its backend):\n")
        print("| run | searches | p50 ms | p90 ms | p99 ms | max ms | mean ms |")
        print("|---|---|---|---|---|---|---|")
        for k, n in enumerate((0, args.candidates)):
            t = await server_time(one, pid, alone[k::2][:args.sequential], n)
            print(f"| {names[n]} | {len(t)} | {pct(t, 0.5):.1f} | {pct(t, 0.9):.1f} | "
                  f"{pct(t, 0.99):.1f} | {max(t):.1f} | {sum(t) / len(t):.1f} |")
        await one.close()
        print(f"\nopen loop at {args.rate:g}/s for {args.duration:g} s per run, pool of {POOL}"
              " (latency from each request's scheduled start):\n")
        print("| run | searches | achieved/s | p50 ms | p99 ms | max ms | CPU ms/search "
              "| CPU cores |")
        print("|---|---|---|---|---|---|---|---|")
        runs = [0, args.candidates]
        for i, n in enumerate(runs):  # the same mix of queries in every run, none repeated
            r = await leg(db, pids, qs[i::len(runs)][:per_leg], args.rate, n)
            name = names[n]
            print(f"| {name} | {r['n']} | {r['rate']:.1f} | {r['p50']:.1f} | {r['p99']:.1f} | "
                  f"{r['max']:.1f} | {r['cpu_ms']:.1f} | {r['cores']:.2f} |")
        await db.close()
    finally:
        if engines is not None:
            engines.stop()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m load search-100k")
    p.add_argument("--books", type=int, default=100_000)
    p.add_argument("--rate", type=float, default=50.0, help="searches per second")
    p.add_argument("--duration", type=float, default=6.0, help="seconds per run")
    p.add_argument("--candidates", type=int, default=300)
    p.add_argument("--sequential", type=int, default=150,
                   help="searches timed one at a time, per run")
    p.add_argument("--database-url", default=None, help="use this database (seeded if short)")
    asyncio.run(bench(p.parse_args(argv)))
    return 0
