"""feed: fan-out throughput for an author with F followers (worker writes F feeds per activity).

The author's activities are recorded with the use-case `domain.feeds.service.record_activity`
(Postgres, then a fan-out job); the arq worker writes each into every follower's Redis feed and
announces it on their `user:` rooms. A sample of followers is connected and times the
announcement. Throughput is activities (and feed writes) per second from the first record to
the last follower's feed holding the last activity. The worker's hybrid threshold
(READALONG_FEED_FANOUT_MAX) is raised above F so the author is fanned out on write.
"""

from __future__ import annotations

import asyncio
import time
from argparse import Namespace
from typing import Any

from load.scenarios.common import client_figures, process_figures, saturation_note, split, unpack
from load.stack import Stack
from load.stats import latency_summary
from load.users import ensure_users, tokens

TITLE = "feed: fan-out on write for an author with many followers"
DEFAULT_REPEATS = 1
# `python -m load all` (make bench): modest sizes, ~10 minutes on 2 cores
ALL_SIZES = {"feed_activities": 20}
ALL_REPEATS = 1


def add_arguments(g: Any) -> None:
    g.add_argument("--feed-followers", type=int, default=10_000)
    g.add_argument("--feed-activities", type=int, default=20)
    g.add_argument("--feed-connected", type=int, default=500,
                   help="followers connected to time the live announcement")


def quick(args: Namespace) -> None:
    args.feed_followers = min(args.feed_followers, 1000)
    args.feed_activities = min(args.feed_activities, 5)
    args.feed_connected = min(args.feed_connected, 100)


def params(args: Namespace) -> dict[str, Any]:
    return {"followers": args.feed_followers, "activities": args.feed_activities,
            "connected": args.feed_connected, "servers": 1, "workers": 1}


class FeedProducer:
    """Records the author's activities and watches a follower's feed fill up."""

    def __init__(self, index: int, database_url: str, redis_url: str) -> None:
        self.database_url = database_url
        self.redis_url = redis_url

    async def produce(self, run: int, author: int, count: int, watch: list[int],
                      timeout: float) -> dict[str, Any]:
        from redis.asyncio import Redis

        from domain.db import Database
        from domain.feeds.service import feed_key, record_activity

        db = Database(self.database_url, pool_size=4)
        await db.connect()
        redis = Redis.from_url(self.redis_url)
        try:
            t0 = time.monotonic()
            t0_wall = time.time()
            ids = []
            for seq in range(count):
                ids.append(await record_activity(
                    db, redis, actor_id=author, verb="finished_book", object_kind="book",
                    object_id=seq, payload={"title": "Bench", "bench":
                                            f"~{run}~{seq}~{time.time_ns()}~"}))
            recorded_s = time.monotonic() - t0
            last = str(ids[-1]).encode()
            deadline = t0 + timeout
            done_s = -1.0
            while time.monotonic() < deadline:
                scores = await asyncio.gather(*(redis.zscore(feed_key(u), last) for u in watch))
                if all(s is not None for s in scores):
                    done_s = time.monotonic() - t0
                    break
                await asyncio.sleep(0.05)
            return {"recorded_s": recorded_s, "done_s": done_s, "ids": ids, "t0_wall": t0_wall}
        finally:
            await redis.aclose()
            await db.close()


def _follow(stack: Stack, author: int, followers: list[int]) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(stack.database_url)
        try:
            await conn.execute(
                "INSERT INTO follows (follower_id, followee_id)"
                " SELECT f, $1 FROM unnest($2::bigint[]) AS f ON CONFLICT DO NOTHING",
                author, followers)
        finally:
            await conn.close()

    asyncio.run(go())


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    try:
        import domain.feeds.service  # noqa: F401
        import jobs.worker  # noqa: F401
    except ImportError:
        return [{"title": TITLE, "status": "pending", "reason": "the worker is not in the tree"}]
    f, a = args.feed_followers, args.feed_activities
    stack.start_engines()
    users = ensure_users(stack, f + 1)
    author, followers = users[0], users[1:f + 1]
    _follow(stack, author, followers)
    sample = followers[:: max(1, f // max(1, args.feed_connected))][:args.feed_connected]
    toks = tokens(stack, sample)
    runs = []
    for r in range(repeats):
        stack.flush_redis()
        servers = stack.start_servers(1)
        worker = stack.start_worker(READALONG_FEED_FANOUT_MAX=str(f + 1))
        procs = args.client_procs
        pool = stack.pool("load.scenarios.notifications:UserRoomAgent", procs)
        prod = stack.pool("load.scenarios.feed:FeedProducer", 1,
                          init={"database_url": stack.database_url,
                                "redis_url": stack.redis_url})
        try:
            at = 0
            for i, c in enumerate(split(len(sample), procs)):
                pool.send("connect", {"urls": [s.ws_url for s in servers],
                                      "users": sample[at:at + c], "toks": toks[at:at + c]},
                          only=[i])
                at += c
            conn = pool.gather(list(range(procs)), 600)
            if sum(x["connected"] for x in conn) < len(sample):
                raise RuntimeError(f"followers failed to connect: {conn[0]['errors']}")
            # warm-up activity (the worker starts, imports, connects)
            prod.call("produce", {"run": 900, "author": author, "count": 1,
                                  "watch": sample[:5], "timeout": 60}, timeout=120)
            pool.call("mark", {"run": r + 1}, timeout=30)
            meter = stack.meter(pool)
            meter.groups["worker"] = (lambda w=worker: [w.pid] if w.pid else [], False)
            meter.start()
            p = prod.call("produce", {"run": r + 1, "author": author, "count": a,
                                      "watch": sample, "timeout": 300}, timeout=400)[0]
            shares = split(len(sample), procs)
            targets = []
            for j in range(procs):
                targets += pool.send("collect", {"expected": a * shares[j], "drain": 60.0},
                                     only=[j])
            got = pool.gather(targets, 120)
            m = meter.stop()
            lat = unpack([x["lat"] for x in got])
            # done: every sampled feed holds the last activity AND every announcement arrived
            last = max(x["last_recv"] for x in got) - p["t0_wall"]
            done = max(p["done_s"], last) if p["done_s"] > 0 and len(lat) >= a * len(sample) \
                else -1.0
            fig: dict[str, Any] = {
                "followers": f, "activities": a,
                "all_fanned_out_s": round(done, 2),
                "activities_per_s": round(a / done, 2) if done > 0 else 0.0,
                "feed_writes_per_s": round(a * f / done, 0) if done > 0 else 0.0,
                "announced": len(lat), "announce_expected": a * len(sample),
                **latency_summary(lat, "announce_"),
                "worker_cpu_util": m.get("worker", {}).get("cpu_util", 0.0),
                **process_figures(m), **client_figures(got)}
            print(f"   feed run {r + 1}: {a} activities x {f} followers in {done:.2f}s = "
                  f"{fig['activities_per_s']} activities/s, {fig['feed_writes_per_s']} feed "
                  f"writes/s", flush=True)
            runs.append(fig)
        finally:
            stack.close_pool(prod)
            stack.close_pool(pool)
            stack.stop_child(worker)
            stack.stop_servers()
    return [{"title": f"feed: author with {f} followers, {a} activities", "runs": runs,
             "headline": [("activities_per_s", "activities fanned out per second"),
                          ("feed_writes_per_s", "feed writes per second"),
                          ("all_fanned_out_s", "time until all written and announced (s)"),
                          ("announce_p50_ms", "live announcement p50 ms (recorded -> socket)"),
                          ("announce_p99_ms", "  p99 ms"), ("announce_max_ms", "  max ms"),
                          ("announced", "announcements received"),
                          ("announce_expected", "announcements expected"),
                          ("worker_cpu_util", "worker CPU (cores)"),
                          ("redis_cpu_util", "Redis CPU (cores)"),
                          ("postgres_cpu_util", "PostgreSQL CPU (cores)"),
                          ("client_cpu_max_util", "busiest client process")],
             "notes": [f"{len(sample)} of the followers connected to 1 server process; 1 arq "
                       f"worker with READALONG_FEED_FANOUT_MAX={f + 1} (fan-out on write); the "
                       "feed check watches the connected followers' Redis feeds",
                       *saturation_note(runs)]}]
