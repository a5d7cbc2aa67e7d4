"""rest: catalog reads under concurrent load — GET /api/v1/books/{id} and a full-text search."""

from __future__ import annotations

import array
import asyncio
import json
import random
import re
import time
import urllib.request
from argparse import Namespace
from typing import Any

from load.httpclient import HTTPConn
from load.scenarios.common import (
    CpuWindow,
    client_figures,
    process_figures,
    saturation_note,
    split,
    unpack,
)
from load.stack import Stack
from load.stats import latency_summary

TITLE = "REST: catalog reads and search over a seeded catalog"
DEFAULT_REPEATS = 3
# `python -m load all` (make bench): modest sizes, ~10 minutes on 2 cores
ALL_SIZES = {"rest_duration": 5.0}
ALL_REPEATS = 3


def add_arguments(g: Any) -> None:
    g.add_argument("--rest-books", type=int, default=10_000, help="books to seed")
    g.add_argument("--rest-concurrency", type=int, default=32,
                   help="concurrent keep-alive connections (all client processes together)")
    g.add_argument("--rest-duration", type=float, default=8.0, help="seconds measured per run")
    g.add_argument("--rest-warmup", type=float, default=1.5, help="seconds before measuring")
    g.add_argument("--rest-servers", type=int, default=1, help="uvicorn server processes")
    g.add_argument("--rest-book-path", default=None,
                   help="path template for one book, e.g. /api/v1/books/{id} (default: found "
                        "in the OpenAPI document)")
    g.add_argument("--rest-search-path", default=None,
                   help="path template for a search, e.g. /api/v1/books?q={q}")


def quick(args: Namespace) -> None:
    args.rest_duration = min(args.rest_duration, 3.0)
    args.rest_warmup = min(args.rest_warmup, 0.5)
    args.rest_concurrency = min(args.rest_concurrency, 16)


def params(args: Namespace) -> dict[str, Any]:
    return {"books": args.rest_books, "concurrency": args.rest_concurrency,
            "duration_s": args.rest_duration, "warmup_s": args.rest_warmup,
            "servers": args.rest_servers}


class RestAgent:
    """A client process: `concurrency` keep-alive connections issuing GETs back to back."""

    def __init__(self, index: int, ports: list[int]) -> None:
        self.index = index
        self.ports = ports

    async def run(self, paths: list[str], concurrency: int, duration: float,
                  warmup: float) -> dict[str, Any]:
        lat = array.array("d")
        statuses: dict[int, int] = {}
        errors = 0
        rng = random.Random(self.index)
        start = time.monotonic()
        measure_from = start + warmup
        stop_at = measure_from + duration
        cpu: CpuWindow | None = None

        async def one(i: int) -> None:
            nonlocal errors
            conn = HTTPConn(self.ports[i % len(self.ports)])
            try:
                while True:
                    t0 = time.monotonic()
                    if t0 >= stop_at:
                        return
                    try:
                        status, _ = await conn.get(rng.choice(paths))
                    except (TimeoutError, OSError, ValueError):
                        if t0 >= measure_from:
                            errors += 1
                        await asyncio.sleep(0.05)
                        continue
                    t1 = time.monotonic()
                    if t0 >= measure_from and t1 <= stop_at:
                        lat.append(t1 - t0)
                        statuses[status] = statuses.get(status, 0) + 1
            finally:
                await conn.close()

        async def cpu_mark() -> None:
            nonlocal cpu
            await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
            cpu = CpuWindow()

        marker = asyncio.ensure_future(cpu_mark())
        await asyncio.gather(*(one(i) for i in range(concurrency)))
        await marker
        assert cpu is not None
        return {"lat": lat.tobytes(), "statuses": statuses, "errors": errors,
                "cpu": cpu.result()}


def _seed(stack: Stack, books: int) -> int:
    from domain.catalog.demo import seed_demo_catalog
    from domain.db import Database

    async def go() -> int:
        db = Database(stack.database_url, pool_size=4)
        await db.connect()
        try:
            return int(await seed_demo_catalog(db, books=books, only_if_empty=True))
        finally:
            await db.close()

    return asyncio.run(go())


def _catalog_sample(stack: Stack) -> tuple[list[int], list[str]]:
    """Book ids and some title words, read straight from the database."""
    import asyncpg

    async def go() -> tuple[list[int], list[str]]:
        conn = await asyncpg.connect(stack.database_url)
        try:
            table = await conn.fetchval(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public' "
                "AND table_name IN ('book', 'books', 'catalog_book') ORDER BY table_name LIMIT 1")
            if table is None:
                raise RuntimeError("no book table found")
            rows = await conn.fetch(f'SELECT id, title FROM "{table}" ORDER BY random() '
                                    "LIMIT 2000")
        finally:
            await conn.close()
        ids = [int(r["id"]) for r in rows]
        words = sorted({w.lower() for r in rows for w in re.findall(r"[A-Za-z]{4,}", r["title"])})
        return ids, words

    return asyncio.run(go())


def _discover(base_url: str) -> tuple[str | None, str | None]:
    """(book path template, search path template) from the app's OpenAPI document."""
    for doc_path in ("/docs/openapi.json", "/schema/openapi.json", "/openapi.json"):
        try:
            with urllib.request.urlopen(base_url + doc_path, timeout=10) as r:
                doc = json.load(r)
            break
        except (OSError, ValueError):
            continue
    else:
        return None, None
    book = search = None
    for path, ops in doc.get("paths", {}).items():
        if "get" not in ops or not path.startswith("/api/v1/books"):
            continue
        if re.fullmatch(r"/api/v1/books/\{[a-z_]*id[a-z_]*\}", path):
            book = re.sub(r"\{[^}]+\}", "{id}", path)
        names = {p.get("name") for p in ops["get"].get("parameters", [])}
        for q in ("q", "query", "search"):
            if q in names and "{" not in path and (search is None or "search" in path):
                search = f"{path}?{q}={{q}}"
    return book, search


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    try:
        import domain.catalog.demo  # noqa: F401
    except ImportError:
        return [{"title": TITLE, "status": "pending",
                 "reason": "domain.catalog.demo (the catalog) is not in the tree yet"}]
    stack.start_engines()
    t0 = time.monotonic()
    added = _seed(stack, args.rest_books)
    seed_s = time.monotonic() - t0
    ids, words = _catalog_sample(stack)
    servers = stack.start_servers(args.rest_servers)
    book_t, search_t = _discover(servers[0].base_url)
    book_t = args.rest_book_path or book_t or "/api/v1/books/{id}"
    search_t = args.rest_search_path or search_t or "/api/v1/books/search?q={q}"
    rng = random.Random(7)
    endpoints = {
        "book": [book_t.format(id=i) for i in ids[:1000]],
        "search": [search_t.format(q=(w if rng.random() < 0.5 else w[:3]))
                   for w in rng.sample(words, min(300, len(words)))],
    }
    # check the paths answer 200 before loading them
    for name, paths in endpoints.items():
        with urllib.request.urlopen(servers[0].base_url + paths[0], timeout=10) as r:
            if r.status != 200:
                raise RuntimeError(f"{name} {paths[0]} answered {r.status}")
    procs = args.client_procs
    pool = stack.pool("load.scenarios.rest:RestAgent", procs,
                      init={"ports": [s.port for s in servers]})
    sections = []
    try:
        for name, paths in endpoints.items():
            runs = []
            for _ in range(repeats):
                meter = stack.meter(pool)
                conc = split(args.rest_concurrency, procs)
                targets = []
                for i, c in enumerate(conc):
                    targets += pool.send("run", {"paths": paths, "concurrency": c,
                                                 "duration": args.rest_duration,
                                                 "warmup": args.rest_warmup}, only=[i])
                time.sleep(args.rest_warmup)
                meter.start()
                replies = pool.gather(targets, args.rest_duration + args.rest_warmup + 60)
                m = meter.stop()
                lat = unpack([r["lat"] for r in replies])
                statuses: dict[str, int] = {}
                for r in replies:
                    for k, v in r["statuses"].items():
                        statuses[str(k)] = statuses.get(str(k), 0) + v
                ok = statuses.get("200", 0)
                run_fig: dict[str, Any] = {
                    "rps": round(len(lat) / args.rest_duration, 1),
                    **latency_summary(lat),
                    "non_200": sum(v for k, v in statuses.items() if k != "200"),
                    "errors": sum(r["errors"] for r in replies),
                    "ok": ok,
                    **process_figures(m), **client_figures(replies),
                }
                runs.append(run_fig)
            sections.append({
                "title": f"rest/{name}: GET {(book_t if name == 'book' else search_t)}",
                "runs": runs,
                "headline": [("rps", "requests/s"), ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"),
                             ("p99_ms", "p99 ms"), ("non_200", "non-200 answers"),
                             ("errors", "socket errors"),
                             ("servers_cpu_util", "server CPU (cores)"),
                             ("postgres_cpu_util", "PostgreSQL CPU (cores)"),
                             ("client_cpu_max_util", "busiest client process (share of a core)")],
                "notes": [f"{len(ids)} sampled ids of a {args.rest_books}-book catalog "
                          f"(seeded {added} in {seed_s:.0f}s); {args.rest_concurrency} "
                          f"connections on {procs} client process(es), "
                          f"{args.rest_servers} server process(es)", *saturation_note(runs)],
            })
    finally:
        stack.close_pool(pool)
        stack.stop_servers()
    return sections
