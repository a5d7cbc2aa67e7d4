"""notifications: latency from `notify()` (created) to the recipient's socket, under load.

A producer process calls the use-case `domain.notifications.service.notify` (what a REST
handler or a hook does: Postgres insert, then enqueue) at a stepped rate; the arq worker
delivers each on the recipient's `user:<id>` room; connected recipients time the arrival from
the timestamp in the payload. Type `annotation_reaction` (in-app only, so no SMTP or push), one
target per event so nothing groups.
"""

from __future__ import annotations

import array
import asyncio
import re
import time
from argparse import Namespace
from typing import Any

from load.hubclient import Hub, bounded_gather
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
from load.users import ensure_users, tokens
from load.wsclient import WSClient

TITLE = "notifications: created -> received on the socket, through the worker"
DEFAULT_REPEATS = 1
# `python -m load all` (make bench): modest sizes, ~10 minutes on 2 cores
ALL_SIZES = {"notify_duration": 5.0}
ALL_REPEATS = 1
MARK = re.compile(rb"~(\d+)~(\d+)~(\d+)~")
NTYPE = "annotation_reaction"


def add_arguments(g: Any) -> None:
    g.add_argument("--notify-recipients", type=int, default=500)
    g.add_argument("--notify-rates", default="20,50,100,200", help="notifications/s steps")
    g.add_argument("--notify-duration", type=float, default=8.0, help="seconds per step")


def quick(args: Namespace) -> None:
    args.notify_recipients = min(args.notify_recipients, 100)
    args.notify_rates = "20,50"
    args.notify_duration = min(args.notify_duration, 3.0)


def params(args: Namespace) -> dict[str, Any]:
    return {"recipients": args.notify_recipients, "rates": args.notify_rates,
            "step_s": args.notify_duration, "type": NTYPE, "servers": 1, "workers": 1}


class UserRoomAgent:
    """Sockets subscribed to their own `user:` room; time marked events by kind."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.hub = Hub()
        self.clients: list[WSClient] = []
        self.run = -1
        self.lat = array.array("d")
        self.seen: set[tuple[int, int]] = set()
        self.dups = 0
        self.last_recv = 0.0
        self.cpu: CpuWindow | None = None

    def _on_message(self, client: WSClient, payload: bytes) -> None:
        m = MARK.search(payload)
        if m is None or b'"event"' not in payload[:40]:
            self.hub.control(client, payload)
            return
        if int(m.group(1)) != self.run:
            return
        key = (client.state["uid"], int(m.group(2)))
        if key in self.seen:
            self.dups += 1
            return
        self.seen.add(key)
        now = time.time()
        self.last_recv = now
        self.lat.append(now - int(m.group(3)) / 1e9)

    async def connect(self, urls: list[str], users: list[int], toks: list[str]
                      ) -> dict[str, Any]:
        async def one(i: int) -> WSClient:
            c = await self.hub.open(urls[i % len(urls)], toks[i], on_message=self._on_message,
                                    timeout=60)
            c.state["uid"] = users[i]
            await self.hub.subscribe(c, f"user:{users[i]}", timeout=60)
            return c

        results = await bounded_gather([lambda i=i: one(i) for i in range(len(users))], 300)
        self.clients = [r for r in results if isinstance(r, WSClient)]
        return {"connected": len(self.clients),
                "errors": [repr(r)[:160] for r in results if not isinstance(r, WSClient)][:3]}

    async def mark(self, run: int) -> dict[str, Any]:
        self.run = run
        self.lat = array.array("d")
        self.seen = set()
        self.dups = 0
        self.cpu = CpuWindow()
        return {}

    async def collect(self, expected: int, drain: float) -> dict[str, Any]:
        deadline = time.monotonic() + drain
        while len(self.seen) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return {"lat": self.lat.tobytes(), "received": len(self.seen), "dups": self.dups,
                "last_recv": self.last_recv,
                "alive": sum(1 for c in self.clients if c.is_open),
                "cpu": self.cpu.result() if self.cpu else {"cpu_s": 0, "wall_s": 1, "util": 0}}

    async def close(self) -> dict[str, Any]:
        await asyncio.gather(*(c.close(timeout=2) for c in self.clients),
                             return_exceptions=True)
        return {}


class NotifyProducer:
    """Calls the notify() use-case at a paced rate (the app's side of creating notifications)."""

    def __init__(self, index: int, database_url: str, redis_url: str) -> None:
        self.database_url = database_url
        self.redis_url = redis_url

    async def produce(self, run: int, recipients: list[list[int]], actor: int, rate: float,
                      duration: float) -> dict[str, Any]:
        from redis.asyncio import Redis

        from domain.db import Database
        from domain.notifications.service import notify

        db = Database(self.database_url, pool_size=8)
        await db.connect()
        redis = Redis.from_url(self.redis_url)
        n = int(rate * duration)
        # each client process gets the notifications of its own recipients
        flat = [(proc, uid) for proc, uids in enumerate(recipients) for uid in uids]
        per_proc = [0] * len(recipients)
        stored: list[tuple[int, int]] = []  # (seq, recipient) of each stored notification
        errors: dict[str, int] = {}
        tasks: list[asyncio.Task[Any]] = []
        sem = asyncio.Semaphore(16)
        cpu = CpuWindow()

        async def one(seq: int, proc: int, uid: int) -> None:
            async with sem:
                try:
                    nid = await notify(db, redis, recipient_id=uid, type=NTYPE, actor_id=actor,
                                       target_kind="bench", target_id=f"{run}-{seq}",
                                       payload={"bench": f"~{run}~{seq}~{time.time_ns()}~"})
                    if nid is None:
                        errors["not_stored"] = errors.get("not_stored", 0) + 1
                    else:
                        per_proc[proc] += 1
                        stored.append((seq, uid))
                except Exception as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

        start = time.monotonic()
        try:
            for seq in range(n):
                await asyncio.sleep(max(0.0, start + seq / rate - time.monotonic()))
                proc, uid = flat[seq % len(flat)]
                tasks.append(asyncio.ensure_future(one(seq, proc, uid)))
            await asyncio.wait(tasks, timeout=60)
        finally:
            await redis.aclose()
            await db.close()
        return {"sent": n, "stored_per_proc": per_proc, "stored": stored, "errors": errors,
                "send_s": time.monotonic() - start, "cpu": cpu.result()}


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    try:
        import domain.notifications.service  # noqa: F401
        import jobs.worker  # noqa: F401
    except ImportError:
        return [{"title": TITLE, "status": "pending", "reason": "the worker is not in the tree"}]
    k = args.notify_recipients
    rates = [float(x) for x in args.notify_rates.split(",") if x.strip()]
    stack.start_engines()
    users = ensure_users(stack, k + 1)
    actor, recips = users[0], users[1:]
    toks = tokens(stack, recips)
    runs = []
    notes: list[str] = []
    for r in range(repeats):
        stack.flush_redis()
        servers = stack.start_servers(1)
        worker = stack.start_worker()
        procs = args.client_procs
        pool = stack.pool("load.scenarios.notifications:UserRoomAgent", procs)
        prod = stack.pool("load.scenarios.notifications:NotifyProducer", 1,
                          init={"database_url": stack.database_url,
                                "redis_url": stack.redis_url})
        try:
            groups, at = [], 0
            for i, c in enumerate(split(k, procs)):
                pool.send("connect", {"urls": [s.ws_url for s in servers],
                                      "users": recips[at:at + c], "toks": toks[at:at + c]},
                          only=[i])
                groups.append(recips[at:at + c])
                at += c
            conn = pool.gather(list(range(procs)), 600)
            if sum(x["connected"] for x in conn) < k:
                raise RuntimeError(f"recipients failed to connect: {conn[0]['errors']}")
            # warm-up: the worker picks up and delivers before anything is measured
            pool.call("mark", {"run": 900 + r}, timeout=30)
            prod.call("produce", {"run": 900 + r, "recipients": groups, "actor": actor,
                                  "rate": 10.0, "duration": 1.0}, timeout=120)
            pool.call("collect", {"expected": 1_000_000, "drain": 3.0}, timeout=60)
            fig: dict[str, Any] = {"recipients": k}
            best = 0.0
            for i, rate in enumerate(rates):
                run_id = r * 100 + i + 1
                pool.call("mark", {"run": run_id}, timeout=30)
                meter = stack.meter(pool)
                meter.groups["worker"] = (lambda w=worker: [w.pid] if w.pid else [], False)
                meter.start()
                p = prod.call("produce", {"run": run_id, "recipients": groups, "actor": actor,
                                          "rate": rate, "duration": args.notify_duration},
                              timeout=args.notify_duration + 120)[0]
                got = [pool.call("collect", {"expected": p["stored_per_proc"][j],
                                             "drain": 15.0}, timeout=60, only=[j])[0]
                       for j in range(procs)]
                m = meter.stop()
                lat = unpack([x["lat"] for x in got])
                stored = sum(p["stored_per_proc"])
                step = {"rate": rate, "stored": stored,
                        "received": sum(x["received"] for x in got),
                        "lost": stored - sum(x["received"] for x in got),
                        "dups": sum(x["dups"] for x in got), **latency_summary(lat),
                        "worker_cpu_util": m.get("worker", {}).get("cpu_util", 0.0),
                        **process_figures(m), **client_figures(got)}
                ok = step["lost"] == 0 and step["p99_ms"] < 1000 and not p["errors"]
                if ok:
                    best = max(best, rate)
                tag = f"at{int(rate)}_"
                for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "lost", "dups",
                            "worker_cpu_util", "servers_cpu_util", "postgres_cpu_util",
                            "redis_cpu_util"):
                    fig[tag + key] = step[key]
                fig["client_cpu_max_util"] = max(fig.get("client_cpu_max_util", 0),
                                                 step["client_cpu_max_util"])
                fig["client_saturated"] = max(fig.get("client_saturated", 0),
                                              step["client_saturated"])
                if p["errors"]:
                    notes.append(f"producer errors at {rate:g}/s: {p['errors']}")
                print(f"   notifications {rate:g}/s: received {step['received']}/{stored}, "
                      f"p50 {step['p50_ms']} ms p99 {step['p99_ms']} ms, worker cpu "
                      f"{step['worker_cpu_util']}", flush=True)
                if not ok:
                    break
            fig["max_rate_p99_under_1s"] = best
            runs.append(fig)
        finally:
            stack.close_pool(prod)
            stack.close_pool(pool)
            stack.stop_child(worker)
            stack.stop_servers()
    headline = [("max_rate_p99_under_1s", "highest step with no loss and p99 < 1 s (notif/s)")]
    for rate in rates:
        t = f"at{int(rate)}_"
        headline += [(t + "p50_ms", f"{rate:g}/s: p50 ms"), (t + "p99_ms", "  p99 ms"),
                     (t + "max_ms", "  max ms"), (t + "lost", "  not received"),
                     (t + "worker_cpu_util", "  worker CPU (cores)"),
                     (t + "postgres_cpu_util", "  PostgreSQL CPU (cores)")]
    headline.append(("client_cpu_max_util", "busiest client process"))
    notes.append(f"{k} recipients connected to 1 server process, 1 arq worker; the producer "
                 "(calling notify() like the app does) runs on the client CPU")
    return [{"title": TITLE, "runs": runs, "headline": headline,
             "notes": notes + saturation_note(runs)}]
