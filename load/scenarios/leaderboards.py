"""leaderboards: a `pages-week` board with N entries, score updates through the real path.

Each update is a REST progress update (`POST /api/v1/me/books/{id}/progress`): reading log
row, leaderboard record and XP in one transaction, then ZADD and the coalesced live push. N
readers are seeded straight into `leaderboard_records` (the Redis board is rebuilt from
PostgreSQL on the first read, as after a loss); `movers` readers then gain 20 pages per update
at increasing open-loop rates, climbing into the top 10. A watcher subscribed to
`leaderboard:pages-week` times update → live top-N push (for updates whose new score is in the
pushed top 10); around-me reads are timed after the steps. One client process drives it all.
"""

from __future__ import annotations

import asyncio
import random
import time
from argparse import Namespace
from typing import Any

import orjson

from load.scenarios.common import CpuWindow, process_figures
from load.stack import Stack
from load.stats import latency_summary
from load.users import ensure_users

TITLE = "leaderboards: progress update -> reading log -> board -> live top-N"
DEFAULT_REPEATS = 1
ALL_SIZES = {"lb_entries": 20_000, "lb_rates": "25,50,100"}
PAGES = 20


def add_arguments(g: Any) -> None:
    g.add_argument("--lb-entries", type=int, default=100_000, help="readers on the board")
    g.add_argument("--lb-rates", default="25,50,100,200,400",
                   help="update rates to step through (per second)")
    g.add_argument("--lb-seconds", type=float, default=5.0, help="seconds per rate step")
    g.add_argument("--lb-movers", type=int, default=300,
                   help="readers sending updates (each gains at most 600 pages an hour)")
    g.add_argument("--lb-reads", type=int, default=300, help="around-me reads timed")


def quick(args: Namespace) -> None:
    args.lb_entries = min(args.lb_entries, 5000)
    args.lb_rates = "20,50"
    args.lb_seconds = min(args.lb_seconds, 3.0)
    args.lb_reads = min(args.lb_reads, 100)
    args.lb_movers = min(args.lb_movers, 30)


def params(args: Namespace) -> dict[str, Any]:
    return {"entries": args.lb_entries, "rates": args.lb_rates, "seconds": args.lb_seconds,
            "movers": args.lb_movers, "servers": 1}


def _seed(stack: Stack, users: list[int], movers: list[int]) -> tuple[int, dict[int, int]]:
    """A 1,000,000-page book and every reader's pages-week record: the others below 300
    pages, the movers just above (so their updates reshuffle the top 10)."""
    import asyncpg

    from domain.reading.boards import BOARDS, period_end, subscore
    from domain.reading.clock import utcnow

    now = utcnow()
    period = period_end(BOARDS["pages-week"].reset, now)
    sub = subscore("weekly", now)
    rng = random.Random(1)

    seeds = {u: 300 + rng.randrange(0, 20) if u in set(movers) else rng.randrange(0, 300)
             for u in users}

    async def go() -> int:
        conn = await asyncpg.connect(stack.database_url)
        try:
            book = await conn.fetchval(
                "INSERT INTO books (title, title_key, page_count) VALUES"
                " ('Bench board', 'bench board', 1000000) RETURNING id")
            await conn.execute(
                "INSERT INTO leaderboard_records (board, period_end, owner_id, score, subscore)"
                " SELECT 'pages-week', $1, u, s, $4 FROM unnest($2::bigint[], $3::bigint[])"
                " AS x(u, s) ON CONFLICT DO NOTHING", period, users, [seeds[u] for u in users],
                sub)
            return int(book)
        finally:
            await conn.close()

    return asyncio.run(go()), {u: seeds[u] for u in movers}


async def _drive(stack: Stack, base: str, ws_url: str, book: int, movers: dict[int, int],
                 rates: list[int], seconds: float, reads: int) -> list[dict[str, Any]]:
    import httpx
    import websockets

    toks = {u: stack.token(u) for u in movers}
    order = list(movers)
    pages = dict.fromkeys(movers, 0)
    score = dict(movers)  # their seeded records
    sent_at: dict[tuple[int, int], float] = {}
    push_lat: list[float] = []
    ws = await websockets.connect(ws_url, subprotocols=["readalong.v1"])  # type: ignore[list-item]
    await ws.send(orjson.dumps({"type": "auth", "id": "a", "token": toks[order[0]]}).decode())
    await ws.recv()
    await ws.send(orjson.dumps({"type": "subscribe", "id": "s",
                                "room": "leaderboard:pages-week"}).decode())

    async def watch() -> None:
        async for raw in ws:
            frame = orjson.loads(raw)
            if frame.get("type") != "event" or frame.get("event") != "top":
                continue
            t = time.monotonic()
            for e in frame["data"]["items"]:
                owner = (e.get("owner") or {}).get("id")
                for key in [k for k in sent_at if k == (owner, e["score"])]:
                    push_lat.append(t - sent_at.pop(key))

    watcher = asyncio.create_task(watch())
    out = []
    async with httpx.AsyncClient(base_url=base, timeout=30,
                                 limits=httpx.Limits(max_connections=64)) as http:
        for u in movers:  # each mover starts reading (state + read 1)
            await http.put(f"/api/v1/me/books/{book}", json={"status": "reading"},
                           headers={"Authorization": f"Bearer {toks[u]}"})
        async def one(u: int, acks: list[float], busy: set[int], errors: list[int]) -> None:
            pages[u] += PAGES
            t0 = time.monotonic()
            sent_at[(u, score[u] + PAGES)] = t0
            r = await http.post(f"/api/v1/me/books/{book}/progress", json={"page": pages[u]},
                                headers={"Authorization": f"Bearer {toks[u]}"})
            if r.status_code == 200:
                acks.append(time.monotonic() - t0)
                score[u] += r.json()["advance"]["pages"]
            else:
                errors.append(r.status_code)
            busy.discard(u)

        for rate in rates:
            acks: list[float] = []
            errors: list[int] = []
            cpu = CpuWindow()
            busy: set[int] = set()
            tasks = []
            t_start = time.monotonic()
            n = int(rate * seconds)
            rng = random.Random(rate)
            for i in range(n):
                delay = t_start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)  # open loop: send on schedule
                free = [u for u in order if u not in busy]
                u = rng.choice(free or order)
                busy.add(u)
                tasks.append(asyncio.create_task(one(u, acks, busy, errors)))
            await asyncio.gather(*tasks)
            elapsed = time.monotonic() - t_start
            await asyncio.sleep(0.5)  # let the last coalesced push arrive
            step = {"rate": rate, "sent": n, "acked": len(acks), "errors": len(errors),
                    "updates_per_s": round(len(acks) / elapsed, 1),
                    **latency_summary(acks, "ack_"),
                    **latency_summary(list(push_lat), "push_"),
                    "pushes_matched": len(push_lat), "client_cpu_util": cpu.result()["util"]}
            push_lat.clear()
            sent_at.clear()
            out.append(step)
            print(f"   rate {rate}/s: {step['updates_per_s']} updates/s, ack p99 "
                  f"{step.get('ack_p99_ms')} ms, push p99 {step.get('push_p99_ms')} ms "
                  f"({step['pushes_matched']} matched)", flush=True)
        lat = []
        for i in range(reads):
            u = order[i % len(order)]
            t0 = time.monotonic()
            r = await http.get("/api/v1/leaderboards/pages-week/around-me",
                               headers={"Authorization": f"Bearer {toks[u]}"})
            if r.status_code == 200:
                lat.append(time.monotonic() - t0)
        out.append({"rate": 0, **latency_summary(lat, "around_me_")})
    watcher.cancel()
    await ws.close()
    return out


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    try:
        import domain.reading.leaderboards  # noqa: F401
    except ImportError:
        return [{"title": TITLE, "status": "pending", "reason": "no leaderboards in the tree"}]
    stack.start_engines()
    users = ensure_users(stack, args.lb_entries)
    book, movers = _seed(stack, users, users[:args.lb_movers])
    rates = [int(r) for r in args.lb_rates.split(",") if r.strip()]
    runs = []
    for _ in range(repeats):
        stack.flush_redis()
        servers = stack.start_servers(1)
        try:
            meter = stack.meter()
            meter.start()
            steps = asyncio.run(_drive(stack, servers[0].base_url, servers[0].ws_url, book,
                                       movers, rates, args.lb_seconds, args.lb_reads))
            m = meter.stop()
            fig: dict[str, Any] = {"entries": len(users), **process_figures(m)}
            for s in steps:
                if s["rate"]:
                    r = s["rate"]
                    for k in ("updates_per_s", "ack_p99_ms", "push_p99_ms", "pushes_matched",
                              "errors"):
                        fig[f"r{r}_{k}"] = s.get(k, 0)
                else:
                    fig.update({k: v for k, v in s.items() if k != "rate"})
            runs.append(fig)
        finally:
            stack.stop_servers()
    headline = []
    for r in rates:
        headline += [(f"r{r}_updates_per_s", f"offered {r}/s: sustained updates/s"),
                     (f"r{r}_ack_p99_ms", "  update ack p99 ms"),
                     (f"r{r}_push_p99_ms", "  update -> live top-N push p99 ms")]
    headline += [("around_me_p99_ms", "around-me read p99 ms"),
                 ("servers_cpu_util", "server CPU (cores)"),
                 ("postgres_cpu_util", "PostgreSQL CPU (cores)")]
    return [{"title": f"leaderboards: {len(users)} entries, updates at {args.lb_rates}/s",
             "runs": runs, "headline": headline,
             "notes": ["1 server process; the client (HTTP updates, the watcher socket, reads) "
                       "runs in the load process; the board is rebuilt from PostgreSQL into "
                       "Redis on its first read; pushes are coalesced to one per 0.2 s"]}]
