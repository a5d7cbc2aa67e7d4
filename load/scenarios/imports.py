"""imports: a generated Goodreads export through the real upload and worker, and KOReader sync
PUTs at increasing open-loop rates.

Import: one reader uploads an N-row Goodreads file (distinct books without ISBNs, so each row
is matched by title similarity first, then created with its provenance); the figure is rows
per second from the upload's answer to the import's `done` (polled over REST every 0.1 s),
then again for a re-import of the same file (every row matched, nothing new).
kosync: PUT /kosync/syncs/progress at each rate for a few seconds (each one verifies the key
from the in-process cache, stores the progress and calls `advance()` in one transaction);
ack p50/p99 per rate. The PUTs go round N readers (each with its own identity and document):
one reader's PUTs serialise on their reading state's row lock, as they should.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import random
import time
from argparse import Namespace
from typing import Any

from load.scenarios.common import CpuWindow, process_figures
from load.stack import Stack
from load.stats import latency_summary
from load.users import ensure_users

TITLE = "imports: Goodreads rows/s through the worker; kosync PUT latency by rate"
DEFAULT_REPEATS = 1
ALL_SIZES = {"imp_rows": 5000, "imp_rates": "25,50,100"}


def add_arguments(g: Any) -> None:
    g.add_argument("--imp-rows", type=int, default=5000, help="rows in the Goodreads file")
    g.add_argument("--imp-rates", default="25,50,100,200", help="kosync PUT rates per second")
    g.add_argument("--imp-seconds", type=float, default=5.0, help="seconds per rate step")
    g.add_argument("--imp-readers", type=int, default=50,
                   help="readers, each with a sync identity and a document, taking PUTs in turn")


def quick(args: Namespace) -> None:
    args.imp_rows = min(args.imp_rows, 500)
    args.imp_rates = "20,50"
    args.imp_seconds = min(args.imp_seconds, 3.0)


def params(args: Namespace) -> dict[str, Any]:
    return {"rows": args.imp_rows, "rates": args.imp_rates, "seconds": args.imp_seconds,
            "servers": 1, "workers": 1}


def goodreads_file(n: int, tag: str) -> bytes:
    """The header Goodreads writes and `n` rows across the three exclusive shelves."""
    from domain.interop.formats import GOODREADS

    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(GOODREADS)
    shelves = ["read", "to-read", "currently-reading"]
    for i in range(n):
        shelf = shelves[i % 3]
        row = {"Book Id": f"{tag}{i}", "Title": f"Bench {tag} volume {i:05d}",
               "Author": f"Writer {i % 97}", "ISBN": '=""', "ISBN13": '=""',
               "My Rating": str(i % 6) if shelf == "read" else "0",
               "Exclusive Shelf": shelf, "Bookshelves": shelf, "Read Count": "1",
               "Date Read": f"2021/{1 + i % 12:02d}/{1 + i % 28:02d}" if shelf == "read" else "",
               "Date Added": "2020/01/15"}
        writer.writerow([row.get(c, "") for c in GOODREADS])
    return ("\ufeff" + out.getvalue()).encode()


async def _import_once(http: Any, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    t0 = time.monotonic()
    r = await http.post("/api/v1/imports", headers=headers,
                        files={"file": ("goodreads.csv", body, "text/csv")})
    r.raise_for_status()
    import_id = r.json()["id"]
    while True:
        got = (await http.get(f"/api/v1/imports/{import_id}", headers=headers)).json()
        if got["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - t0
    return {"status": got["status"], "rows": got["done"], "seconds": round(elapsed, 2),
            "rows_per_s": round(got["done"] / elapsed, 1), "outcomes": got["counts"]}


async def _identity(http: Any, token: str, book: int, n: int) -> dict[str, str]:
    """A sync identity linked to one reader, its document linked to the book, key verified
    once (so the PUTs measure the steady state, not argon2id)."""
    name = f"bench{random.randrange(10**9)}-{n}"
    headers = {"Authorization": f"Bearer {token}"}
    (await http.post("/api/v1/me/kosync/identities", headers=headers,
                     json={"username": name, "password": "bench"})).raise_for_status()
    doc = hashlib.md5(name.encode()).hexdigest()
    (await http.put(f"/api/v1/me/kosync/documents/{doc}", headers=headers,
                    json={"book_id": book})).raise_for_status()
    device = {"x-auth-user": name, "x-auth-key": hashlib.md5(b"bench").hexdigest(),
              "Accept": "application/vnd.koreader.v1+json", "doc": doc}
    (await http.get("/kosync/users/auth", headers=device)).raise_for_status()
    return device


async def kosync_steps(http: Any, stack: Stack, readers: list[int], book: int, rates: list[int],
                  seconds: float) -> list[dict[str, Any]]:
    devices = [await _identity(http, stack.token(u), book, i) for i, u in enumerate(readers)]
    out = []
    sent = 0
    for rate in rates:
        acks: list[float] = []
        errors: list[str] = []
        cpu = CpuWindow()

        async def one(device: dict[str, str], pct: float, acks: list[float] = acks,
                      errors: list[str] = errors) -> None:
            headers = {k: v for k, v in device.items() if k != "doc"}
            t0 = time.monotonic()
            try:
                r = await http.put("/kosync/syncs/progress", headers=headers, json={
                    "document": device["doc"], "progress": f"/body/DocFragment[{int(pct * 1e5)}]",
                    "percentage": pct, "device": "bench", "device_id": "bench-1"})
            except Exception as exc:  # a dropped connection is a figure too
                errors.append(type(exc).__name__)
                return
            if r.status_code == 200:
                acks.append(time.monotonic() - t0)
            else:
                errors.append(str(r.status_code))

        tasks = []
        start = time.monotonic()
        n = int(rate * seconds)
        for i in range(n):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # open loop: on schedule
            sent += 1
            device = devices[sent % len(devices)]
            tasks.append(asyncio.create_task(one(device, min(1.0, sent / 100_000))))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - start
        step = {"rate": rate, "sent": n, "acked": len(acks), "errors": len(errors),
                "puts_per_s": round(len(acks) / elapsed, 1), **latency_summary(acks, "put_"),
                "client_cpu_util": cpu.result()["util"]}
        print(f"   kosync {rate}/s over {len(devices)} readers: {step['puts_per_s']} PUT/s,"
              f" p50 {step['put_p50_ms']} ms, p99 {step['put_p99_ms']} ms,"
              f" {len(errors)} errors {sorted(set(errors))[:3]}", flush=True)
        out.append(step)
    return out


async def _drive(stack: Stack, base: str, user: int, readers: list[int], rows: int,
                 rates: list[int], seconds: float) -> dict[str, Any]:
    import asyncpg
    import httpx

    conn = await asyncpg.connect(stack.database_url)
    try:
        book = await conn.fetchval("INSERT INTO books (title, title_key, page_count) VALUES"
                                   " ('Bench sync', 'bench sync', 100000) RETURNING id")
    finally:
        await conn.close()
    headers = {"Authorization": f"Bearer {stack.token(user)}"}
    body = goodreads_file(rows, f"{random.randrange(10**6)}x")
    async with httpx.AsyncClient(base_url=base, timeout=60,
                                 limits=httpx.Limits(max_connections=64)) as http:
        first = await _import_once(http, headers, body)
        print(f"   import {rows} rows: {first['rows_per_s']} rows/s ({first['seconds']} s)",
              flush=True)
        again = await _import_once(http, headers, body)
        print(f"   re-import: {again['rows_per_s']} rows/s", flush=True)
        steps = await kosync_steps(http, stack, readers, int(book), rates, seconds)
    return {"first": first, "again": again, "steps": steps}


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    stack.start_engines()
    users = ensure_users(stack, 1 + args.imp_readers)
    user, readers = users[0], users[1:]
    rates = [int(r) for r in args.imp_rates.split(",") if r.strip()]
    runs = []
    for _ in range(repeats):
        stack.flush_redis()
        servers = stack.start_servers(1)
        worker = stack.start_worker()
        try:
            meter = stack.meter()
            meter.start()
            got = asyncio.run(_drive(stack, servers[0].base_url, user, readers, args.imp_rows,
                                     rates, args.imp_seconds))
            fig: dict[str, Any] = {"import_rows_per_s": got["first"]["rows_per_s"],
                                   "reimport_rows_per_s": got["again"]["rows_per_s"],
                                   **process_figures(meter.stop())}
            for s in got["steps"]:
                for k in ("puts_per_s", "put_p50_ms", "put_p99_ms", "errors"):
                    fig[f"r{s['rate']}_{k}"] = s[k]
            runs.append(fig)
        finally:
            stack.stop_child(worker)
            stack.stop_servers()
    headline = [("import_rows_per_s", f"import of {args.imp_rows} Goodreads rows: rows/s"),
                ("reimport_rows_per_s", "re-import of the same file (all unchanged): rows/s")]
    for r in rates:
        headline += [(f"r{r}_puts_per_s", f"kosync offered {r}/s: PUT/s"),
                     (f"r{r}_put_p50_ms", "  PUT p50 ms"), (f"r{r}_put_p99_ms", "  PUT p99 ms")]
    return [{"title": f"imports: {args.imp_rows} rows; kosync PUT at {args.imp_rates}/s",
             "runs": runs, "headline": headline,
             "notes": ["1 server process and 1 worker; rows/s is upload answer -> `done` "
                       "(polled every 0.1 s); kosync PUTs carry a verified key from the "
                       "in-process cache after the first one"]}]
