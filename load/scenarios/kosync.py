"""kosync: KOReader `PUT /kosync/syncs/progress` latency at increasing open-loop rates, through
the live path: every PUT verifies the key (in-process cache), stores the progress, calls
`advance()` and then `server.api.reading.after_change` (the reader moved in their live rooms:
`SessionRoom.reader_advanced` + the club rooms, on every node through the hub's control
channel; leaderboards; goals).

Two groups of readers take the same rates, in the same run: readers in no room (the baseline)
and readers who joined one live session of the synced book (each PUT that moves their
furthest walks the session unlock path). Each reader has their own identity and document; the
PUTs go round the group (one reader's PUTs serialise on their reading-state row, as they
should). Figures: PUT/s, p50 and p99 per rate and group, errors.
"""

from __future__ import annotations

import asyncio
from argparse import Namespace
from typing import Any

from load.scenarios.common import process_figures
from load.scenarios.imports import kosync_steps
from load.stack import Stack
from load.users import ensure_users

TITLE = "kosync: KOReader PUT p50/p99 by rate, readers in no room vs in a live session"
DEFAULT_REPEATS = 1
ALL_SIZES = {"ko_rates": "10,25,50"}


def add_arguments(g: Any) -> None:
    g.add_argument("--ko-rates", default="10,25,50,100", help="PUT rates per second")
    g.add_argument("--ko-seconds", type=float, default=4.0, help="seconds per rate step")
    g.add_argument("--ko-readers", type=int, default=25, help="readers per group")


def quick(args: Namespace) -> None:
    args.ko_rates = "10,25"
    args.ko_seconds = min(args.ko_seconds, 2.0)
    args.ko_readers = min(args.ko_readers, 10)


def params(args: Namespace) -> dict[str, Any]:
    return {"rates": args.ko_rates, "seconds": args.ko_seconds, "readers": args.ko_readers,
            "servers": 1}


async def _session(http: Any, stack: Stack, host: int, readers: list[int], book: int) -> None:
    """One live session of the book, hosted by `host`, every reader joined."""
    def auth(u: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {stack.token(u)}"}
    r = await http.post("/api/v1/sessions", headers=auth(host),
                        json={"book_id": book, "title": "Bench kosync"})
    r.raise_for_status()
    sid = r.json()["id"]
    (await http.post(f"/api/v1/sessions/{sid}/start", headers=auth(host))).raise_for_status()
    for u in readers:
        (await http.post(f"/api/v1/sessions/{sid}/join", json={},
                         headers=auth(u))).raise_for_status()


async def _drive(stack: Stack, base: str, host: int, solo: list[int], live: list[int],
                 rates: list[int], seconds: float) -> dict[str, Any]:
    import asyncpg
    import httpx

    conn = await asyncpg.connect(stack.database_url)
    try:
        book = int(await conn.fetchval(
            "INSERT INTO books (title, title_key, page_count) VALUES ('Bench kosync live',"
            " 'bench kosync live', 100000) RETURNING id"))
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=base, timeout=60,
                                 limits=httpx.Limits(max_connections=64)) as http:
        await _session(http, stack, host, live, book)
        print("   readers in no room:", flush=True)
        solo_steps = await kosync_steps(http, stack, solo, book, rates, seconds)
        print("   readers in a live session:", flush=True)
        live_steps = await kosync_steps(http, stack, live, book, rates, seconds)
    return {"solo": solo_steps, "live": live_steps}


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    stack.start_engines()
    n = args.ko_readers
    users = ensure_users(stack, 1 + 2 * n)
    host, solo, live = users[0], users[1:1 + n], users[1 + n:]
    rates = [int(r) for r in args.ko_rates.split(",") if r.strip()]
    runs = []
    for _ in range(repeats):
        stack.flush_redis()
        servers = stack.start_servers(1)
        try:
            meter = stack.meter()
            meter.start()
            got = asyncio.run(_drive(stack, servers[0].base_url, host, solo, live, rates,
                                     args.ko_seconds))
            fig: dict[str, Any] = dict(process_figures(meter.stop()))
            for group in ("solo", "live"):
                for s in got[group]:
                    for k in ("puts_per_s", "put_p50_ms", "put_p99_ms", "errors"):
                        fig[f"{group}_r{s['rate']}_{k}"] = s[k]
            runs.append(fig)
        finally:
            stack.stop_servers()
    headline = []
    for r in rates:
        for group, label in (("solo", "no room"), ("live", "in a live session")):
            headline += [(f"{group}_r{r}_puts_per_s", f"offered {r}/s, {label}: PUT/s"),
                         (f"{group}_r{r}_put_p50_ms", f"  {label}, {r}/s: PUT p50 ms"),
                         (f"{group}_r{r}_put_p99_ms", f"  {label}, {r}/s: PUT p99 ms")]
    return [{"title": f"kosync: PUT at {args.ko_rates}/s, {n} readers per group",
             "runs": runs, "headline": headline,
             "notes": ["1 server process; keys verified once, then from the in-process cache; "
                       "'live' readers joined one live session of the synced book (no socket "
                       "open: the unlock push still crosses the hub's control channel)"]}]
