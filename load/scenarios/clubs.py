"""clubs: a club of 10,000 members with 1,000 of them connected on 2 server processes.

1. A section opens (the real arq worker runs `open_due_sections` with the section due): the
   time from its opening (the job's clock, stored as `opened_at`) to the `section_opened`
   announcement on every connected socket (p50/p99), and the time for the worker to create
   the 10,000 `club_section_opened` notifications (the last one's `created_at`).
2. Club chat fan-out on `club:<id>` (every message a discussion `chat` command: stored, gated
   per reader) against the plain lobby fan-out in the same run, same subscribers and steps
   (the fan-out scenario's step: deliveries/s, p50/p99, loss).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from argparse import Namespace
from typing import Any

from load.scenarios.common import saturation_note, split
from load.scenarios.fanout import PER_CONN_PUBLISH_RATE, SubAgent, _step
from load.stack import Stack
from load.stats import latency_summary
from load.users import ensure_users, tokens
from load.wsclient import WSClient

TITLE = "clubs: a section opening announced to 1,000 sockets of a 10,000-member club; chat"
DEFAULT_REPEATS = 1
ALL_SIZES = {"clubs_duration": 3.0}
ALL_REPEATS = 1


def add_arguments(g: Any) -> None:
    g.add_argument("--clubs-members", type=int, default=10000)
    g.add_argument("--clubs-connected", type=int, default=1000)
    g.add_argument("--clubs-servers", type=int, default=2)
    g.add_argument("--clubs-steps", default="2000,5000,10000,20000",
                   help="chat delivery rates to try in each room (deliveries/s)")
    g.add_argument("--clubs-duration", type=float, default=3.0, help="seconds per chat step")
    g.add_argument("--clubs-drain-s", type=float, default=60.0,
                   help="how long to watch the worker deliver the notifications before it is "
                        "stopped (so it does not load the chat steps)")
    g.add_argument("--clubs-p99-ms", type=float, default=250.0,
                   help="a chat step is sustainable with p99 under this and no loss")


def quick(args: Namespace) -> None:
    args.clubs_members = min(args.clubs_members, 1000)
    args.clubs_connected = min(args.clubs_connected, 200)
    args.clubs_steps = "1000,2000"
    args.clubs_duration = min(args.clubs_duration, 2.0)
    args.clubs_drain_s = min(args.clubs_drain_s, 10.0)


def params(args: Namespace) -> dict[str, Any]:
    return {"members": args.clubs_members, "connected": args.clubs_connected,
            "servers": args.clubs_servers, "steps": args.clubs_steps,
            "step_s": args.clubs_duration, "p99_limit_ms": args.clubs_p99_ms,
            "drain_s": args.clubs_drain_s}


class ClubSub(SubAgent):
    """The fan-out subscriber, also timing the arrival of `section_opened` on each socket."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.opened: list[float] = []

    def _on_message(self, client: WSClient, payload: bytes) -> None:
        if b'"section_opened"' in payload:
            self.opened.append(time.time())
            return
        super()._on_message(client, payload)

    async def announcements(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while len(self.opened) < len(self.clients) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return {"opened": list(self.opened), "clients": len(self.clients)}


async def _setup(database_url: str, users: list[int]) -> tuple[int, int]:
    """A private club reading a bench book, every user a member, one section due later."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        tag = uuid.uuid4().hex[:8]
        book = await conn.fetchval("INSERT INTO books (title, title_key) VALUES ($1, $2)"
                                   " RETURNING id", f"Bench club book {tag}",
                                   f"bench club book {tag}")
        club = await conn.fetchval(
            "INSERT INTO clubs (slug, name, visibility, join_policy, owner_id, book_id) VALUES"
            " ($1, $2, 'private', 'open', $3, $4) RETURNING id", f"bench-{tag}",
            f"Bench club {tag}", users[0], book)
        await conn.execute(
            "INSERT INTO club_members (club_id, user_id, role) SELECT $1, u, CASE WHEN u = $3"
            " THEN 'owner' ELSE 'member' END FROM unnest($2::bigint[]) AS u", club, users,
            users[0])
        section = await conn.fetchval(
            "INSERT INTO club_sections (club_id, book_id, position, title, range_start,"
            " range_end, opens_at) VALUES ($1, $2, 0, 'Part one', 0, 0.5, now() +"
            " interval '1 day') RETURNING id", club, book)
        return int(club), int(section)
    finally:
        await conn.close()


async def _open_section(stack: Stack, section: int, members: int, timeout: float,
                        drain: float) -> dict[str, Any]:
    """Make the section due, enqueue the worker's job, wait for its notifications."""
    import asyncpg
    from arq.connections import create_pool

    from domain.keys import ARQ_QUEUE
    from jobs.worker import redis_settings

    conn = await asyncpg.connect(stack.database_url)
    pool = await create_pool(redis_settings(stack.redis_url))
    try:
        await conn.execute("UPDATE club_sections SET opens_at = now() - interval '1 second'"
                           " WHERE id = $1", section)
        await pool.enqueue_job("open_due_sections", _queue_name=ARQ_QUEUE)
        deadline = time.monotonic() + timeout
        count, last, opened = 0, None, None
        while time.monotonic() < deadline:
            row = await conn.fetchrow(
                "SELECT s.opened_at, (SELECT count(*) FROM notifications n WHERE n.type ="
                " 'club_section_opened' AND n.target_id = $2) AS n, (SELECT"
                " max(created_at) FROM notifications n WHERE n.type = 'club_section_opened'"
                " AND n.target_id = $2) AS last FROM club_sections s WHERE s.id = $1",
                section, str(section))
            opened, count, last = row["opened_at"], int(row["n"]), row["last"]
            if count >= members:
                break
            await asyncio.sleep(0.25)
        created = time.monotonic()
        queued = left = int(await pool.zcard(ARQ_QUEUE))
        while left and time.monotonic() < created + drain:
            await asyncio.sleep(0.5)  # the deliveries (live, then push) the worker runs next
            left = int(await pool.zcard(ARQ_QUEUE))
        return {"opened_at": opened.timestamp() if opened else None, "notifications": count,
                "create_s": (last - opened).total_seconds() if last and opened else None,
                "drain_s": time.monotonic() - created, "queued": queued, "left": left}
    finally:
        await pool.aclose()
        await conn.close()


def _chat_runs(stack: Stack, subs: Any, room: str, chat: bool, toks: list[str],
               pub_toks: list[str], urls: list[str], args: Namespace, run_base: int,
               connect: bool) -> dict[str, Any]:
    """Every chat step in `room` (the fan-out scenario's step); the best sustainable rate."""
    pub = stack.pool("load.scenarios.fanout:PubAgent", 1)
    try:
        return _steps(stack, subs, pub, room, chat, toks, pub_toks, urls, args, run_base,
                      connect)
    finally:
        stack.close_pool(pub)


def _steps(stack: Stack, subs: Any, pub: Any, room: str, chat: bool, toks: list[str],
           pub_toks: list[str], urls: list[str], args: Namespace, run_base: int,
           connect: bool) -> dict[str, Any]:
    n, procs = len(toks), args.client_procs
    if connect:
        at = 0
        for i, k in enumerate(split(n, procs)):
            subs.send("connect", {"urls": urls, "toks": toks[at:at + k], "room": room}, [i])
            at += k
        got = subs.gather(list(range(procs)), 600)
        if sum(r["connected"] for r in got) < n:
            raise RuntimeError(f"{room}: subscribers failed: {got[0]['errors'][:3]}")
    pub.call("connect", {"url": urls[0], "toks": pub_toks, "room": room, "chat": chat},
             timeout=120)
    args.fanout_duration, args.fanout_p99_ms = args.clubs_duration, args.clubs_p99_ms
    best, steps = 0.0, []
    for i, deliveries in enumerate(int(s) for s in args.clubs_steps.split(",") if s.strip()):
        fig = _step(stack, subs, pub, run_base + i, deliveries, n, args, None)
        steps.append(fig)
        print(f"   {room} {deliveries:>6}/s: delivered {fig['delivered_per_s']:>8.0f}/s p50 "
              f"{fig['p50_ms']} p99 {fig['p99_ms']} ms lost {fig['lost']} errors "
              f"{fig['publish_errors']}", flush=True)
        if not fig["sustainable"]:
            break
        best = max(best, fig["delivered_per_s"])
    top = max((s for s in steps if s["sustainable"]), key=lambda s: s["delivered_per_s"],
              default=steps[-1])
    return {"best": best, "p50_ms": top["p50_ms"], "p99_ms": top["p99_ms"],
            "servers_cpu_util": top.get("servers_cpu_util", 0.0),
            "postgres_cpu_util": top.get("postgres_cpu_util", 0.0),
            "client_saturated": max(s["client_saturated"] for s in steps),
            "steps": [f"{s['target_deliveries_per_s']}→{s['delivered_per_s']:.0f} p99 "
                      f"{s['p99_ms']:.0f}ms{'' if s['sustainable'] else ' ✗'}" for s in steps]}


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    m, k = args.clubs_members, args.clubs_connected
    steps = [int(s) for s in args.clubs_steps.split(",") if s.strip()]
    pubs = max(1, math.ceil(max(steps) / k / PER_CONN_PUBLISH_RATE))
    stack.start_engines()
    users = ensure_users(stack, max(m, k + pubs))
    toks = tokens(stack, users[1:k + 1])
    pub_toks = tokens(stack, users[k + 1:k + 1 + pubs])
    runs: list[dict[str, Any]] = []
    notes: list[str] = []
    for r in range(repeats):
        club, section = asyncio.run(_setup(stack.database_url, users[:m]))
        stack.flush_redis()
        servers = stack.start_servers(args.clubs_servers)
        worker = stack.start_worker()
        subs = stack.pool("load.scenarios.clubs:ClubSub", args.client_procs)
        urls = [s.ws_url for s in servers]
        try:
            at = 0
            for i, c in enumerate(split(k, args.client_procs)):
                subs.send("connect", {"urls": urls, "toks": toks[at:at + c],
                                      "room": f"club:{club}"}, [i])
                at += c
            got = subs.gather(list(range(args.client_procs)), 600)
            if sum(x["connected"] for x in got) < k:
                raise RuntimeError(f"club members failed to connect: {got[0]['errors'][:3]}")
            opened = asyncio.run(_open_section(stack, section, m, 600, args.clubs_drain_s))
            stack.stop_child(worker)  # what is left to deliver must not load the chat steps
            heard = subs.call("announcements", {"timeout": 30.0}, timeout=60)
            times = [t for h in heard for t in h["opened"]]
            lat = [t - opened["opened_at"] for t in times] if opened["opened_at"] else []
            fig: dict[str, Any] = {"members": m, "connected": k,
                                   "announced": len(times),
                                   **latency_summary(lat, "announce_"),
                                   "notifications": opened["notifications"],
                                   "notifications_create_s": round(opened["create_s"] or -1, 2),
                                   "delivery_jobs_queued": opened["queued"],
                                   "delivery_jobs_left": opened["left"],
                                   "delivery_jobs_per_s": round(
                                       (opened["queued"] - opened["left"])
                                       / max(opened["drain_s"], 1e-9), 1)}
            print(f"   section opened: announced on {len(times)}/{k} sockets, p50 "
                  f"{fig['announce_p50_ms']} ms p99 {fig['announce_p99_ms']} ms; "
                  f"{opened['notifications']} notifications in "
                  f"{fig['notifications_create_s']} s", flush=True)
            chat = _chat_runs(stack, subs, f"club:{club}", True, toks, pub_toks, urls, args,
                              100 * r + 1, connect=False)
            subs.call("close", {}, timeout=60)
            lobby = _chat_runs(stack, subs, f"lobby:bench-clubs-{r}", False, toks, pub_toks,
                               urls, args, 100 * r + 50, connect=True)
            for label, res in (("club", chat), ("lobby", lobby)):
                fig[f"{label}_max_deliveries_per_s"] = res["best"]
                fig[f"{label}_p50_ms"], fig[f"{label}_p99_ms"] = res["p50_ms"], res["p99_ms"]
                fig[f"{label}_servers_cpu_util"] = res["servers_cpu_util"]
                fig[f"{label}_postgres_cpu_util"] = res["postgres_cpu_util"]
                notes.append(f"run {r + 1} {label} steps: " + "; ".join(res["steps"]))
            fig["club_vs_lobby"] = round(chat["best"] / lobby["best"], 3) if lobby["best"] \
                else 0.0
            fig["client_saturated"] = max(chat["client_saturated"], lobby["client_saturated"])
            runs.append(fig)
        finally:
            stack.close_pool(subs)
            stack.stop_child(worker)
            stack.stop_servers()
    headline = [("announced", "sockets that heard section_opened"),
                ("announce_p50_ms", "  opening → announcement p50 ms"),
                ("announce_p99_ms", "  opening → announcement p99 ms"),
                ("notifications", "notifications created (club_section_opened)"),
                ("notifications_create_s", "  opening → last notification created (s)"),
                ("delivery_jobs_queued", "  delivery jobs queued after creating them"),
                ("delivery_jobs_per_s", "  delivery jobs done/s (bounded wait)"),
                ("delivery_jobs_left", "  delivery jobs left when the worker stopped"),
                ("club_max_deliveries_per_s", "club chat: best sustainable deliveries/s"),
                ("club_p99_ms", "  p99 ms at that step"),
                ("lobby_max_deliveries_per_s", "lobby (same run): best sustainable deliveries/s"),
                ("lobby_p99_ms", "  p99 ms at that step"),
                ("club_vs_lobby", "club chat / lobby")]
    notes.append(f"{m} members (a private club, one section due), {k} of them connected to "
                 f"{args.clubs_servers} server processes; 1 arq worker (stopped after "
                 f"{args.clubs_drain_s:g} s of delivering the notifications, before the chat "
                 f"steps: each notification is a live delivery job and a push job); the same "
                 f"{k} sockets "
                 "and steps for club chat (each message a stored, gated `chat` command) and "
                 "the lobby (plain publish); the steps stop at the first unsustainable one "
                 f"(p99 over {args.clubs_p99_ms:g} ms or any loss)")
    return [{"title": TITLE, "runs": runs, "headline": headline,
             "notes": notes + saturation_note(runs)}]
