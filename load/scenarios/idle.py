"""idle: C authenticated connections, each in its own `user:` room and one shared room, held.

Reports connections held, connect rate (and per-connection connect latency), server memory per
connection (RSS growth of the server processes divided by C) and CPU at rest (pings only).
"""

from __future__ import annotations

import array
import math
import time
from argparse import Namespace
from typing import Any

from load.hubclient import Hub, bounded_gather
from load.measure import rss
from load.procs import raise_nofile
from load.scenarios.common import (
    CpuWindow,
    client_figures,
    saturation_note,
    split,
    unpack,
)
from load.stack import Stack
from load.stats import latency_summary
from load.users import ensure_users, tokens
from load.wsclient import WSClient

TITLE = "idle: C authenticated connections held (own user: room + one shared room)"
DEFAULT_REPEATS = 1
# `python -m load all` (make bench): modest sizes, ~10 minutes on 2 cores
ALL_SIZES = {"idle_connections": "1000,10000", "idle_hold": 10.0}
ALL_REPEATS = 1
SHARED_ROOM = "leaderboard:bench-idle"  # no presence, no history: the cheapest shared room


def add_arguments(g: Any) -> None:
    g.add_argument("--idle-connections", default="1000,10000,max",
                   help="comma list of C; `max` = the open-file limit minus a margin")
    g.add_argument("--idle-servers", type=int, default=2)
    g.add_argument("--idle-hold", type=float, default=15.0,
                   help="seconds held at rest while CPU is measured")
    g.add_argument("--idle-concurrency", type=int, default=500,
                   help="connections opening at once, per client process")
    g.add_argument("--idle-no-baseline", action="store_true",
                   help="skip the bare `websockets` server's connect rate and memory")


def quick(args: Namespace) -> None:
    args.idle_connections = "300"
    args.idle_hold = min(args.idle_hold, 3.0)


def params(args: Namespace) -> dict[str, Any]:
    return {"connections": args.idle_connections, "servers": args.idle_servers,
            "hold_s": args.idle_hold, "concurrency": args.idle_concurrency,
            "shared_room": SHARED_ROOM}


class IdleAgent:
    """Opens and holds connections; answers server pings; counts what closes."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.hub = Hub()
        self.clients: list[WSClient] = []
        self.closed: dict[str, int] = {}
        self.cpu: CpuWindow | None = None

    def _on_close(self, client: WSClient) -> None:
        key = str(client.close_code)
        self.closed[key] = self.closed.get(key, 0) + 1

    async def connect(self, urls: list[str], users: list[int], toks: list[str],
                      shared: str, concurrency: int, offset: int) -> dict[str, Any]:
        lat = array.array("d")
        t0 = time.monotonic()

        async def one(i: int) -> WSClient:
            t = time.monotonic()
            c = await self.hub.open(urls[(offset + i) % len(urls)], toks[i],
                                    on_close=self._on_close, timeout=60)
            await self.hub.subscribe(c, f"user:{users[i]}", timeout=60)
            await self.hub.subscribe(c, shared, timeout=60)
            lat.append(time.monotonic() - t)
            return c

        results = await bounded_gather([lambda i=i: one(i) for i in range(len(toks))],
                                       concurrency)
        self.clients += [r for r in results if isinstance(r, WSClient)]
        errors: dict[str, int] = {}
        for r in results:
            if not isinstance(r, WSClient):
                key = f"{type(r).__name__}: {str(r)[:80]}"
                errors[key] = errors.get(key, 0) + 1
        return {"connected": sum(isinstance(r, WSClient) for r in results),
                "errors": errors, "elapsed": time.monotonic() - t0, "lat": lat.tobytes()}

    async def mark(self) -> dict[str, Any]:
        self.cpu = CpuWindow()
        return {}

    async def status(self) -> dict[str, Any]:
        return {"open": sum(1 for c in self.clients if c.is_open), "closed": dict(self.closed),
                "cpu": self.cpu.result() if self.cpu else {"cpu_s": 0, "wall_s": 1, "util": 0},
                "frames": dict(self.hub.frames)}

    async def close(self) -> dict[str, Any]:
        import asyncio

        await asyncio.gather(*(c.close(timeout=3) for c in self.clients),
                             return_exceptions=True)
        self.clients = []
        return {}


def _sizes(spec: str, nofile: int) -> list[int]:
    out = []
    for part in spec.split(","):
        part = part.strip()
        if part == "max":
            out.append(max(1000, (nofile // 1000) * 1000 - 1000))
        elif part:
            out.append(int(part))
    return out


def _one(stack: Stack, args: Namespace, c: int, users: list[int], toks: list[str]
         ) -> dict[str, Any]:
    nofile = raise_nofile()
    procs = max(args.client_procs, math.ceil(c / max(1000, nofile - 1000)))
    servers = stack.start_servers(args.idle_servers)
    pool = stack.pool("load.scenarios.idle:IdleAgent", procs)
    try:
        # one warm connection per server first, so imports and caches are not counted per socket
        warm = stack.pool("load.scenarios.idle:IdleAgent", 1)
        warm.call("connect", {"urls": [s.ws_url for s in servers], "users": users[:2],
                              "toks": toks[:2], "shared": SHARED_ROOM, "concurrency": 2,
                              "offset": 0}, timeout=60)
        time.sleep(1.0)
        rss0 = sum(rss(s.pid) for s in servers if s.pid)
        per = split(c, procs)
        targets, at = [], 2
        profiler = None
        if args.profile:
            from load.profile import Profiler

            profiler = Profiler([s.pid for s in servers if s.pid], None, f"idle-connect-{c}",
                                stack.pinning.clients).start()
        t0 = time.monotonic()
        for i, k in enumerate(per):
            targets += pool.send("connect", {
                "urls": [s.ws_url for s in servers], "users": users[at:at + k],
                "toks": toks[at:at + k], "shared": SHARED_ROOM,
                "concurrency": args.idle_concurrency, "offset": at}, only=[i])
            at += k
        replies = pool.gather(targets, 900)
        connect_s = time.monotonic() - t0
        profile = profiler.finish() if profiler is not None else []
        connected = sum(r["connected"] for r in replies)
        errors: dict[str, int] = {}
        for r in replies:
            for k, v in r["errors"].items():
                errors[k] = errors.get(k, 0) + v
        time.sleep(1.0)  # let the last subscriptions settle before the memory reading
        rss1 = sum(rss(s.pid) for s in servers if s.pid)
        pool.call("mark", timeout=30)
        meter = stack.meter(pool)
        meter.start()
        time.sleep(args.idle_hold)
        m = meter.stop()
        status = pool.call("status", timeout=60)
        held = sum(s["open"] for s in status)
        closed: dict[str, int] = {}
        for s in status:
            for k, v in s["closed"].items():
                closed[k] = closed.get(k, 0) + v
        lat = unpack([r["lat"] for r in replies])
        fig: dict[str, Any] = {
            "connections": c, "connected": connected, "held": held,
            "failed": c - connected, "connect_s": round(connect_s, 2),
            "connect_rate_per_s": round(connected / max(connect_s, 1e-9), 1),
            **latency_summary(lat, "connect_"),
            "server_rss_mb_before": round(rss0 / 2**20, 1),
            "server_rss_mb_after": round(rss1 / 2**20, 1),
            "kb_per_connection": round((rss1 - rss0) / 1024 / max(connected, 1), 2),
            "rest_servers_cpu_util": m.get("servers", {}).get("cpu_util", 0.0),
            "rest_redis_cpu_util": m.get("redis", {}).get("cpu_util", 0.0),
            "rest_clients_cpu_util": m.get("clients", {}).get("cpu_util", 0.0),
            **client_figures(status),
            "errors": errors, "closed": closed, "client_procs": procs, "profile": profile,
        }
        stack.close_pool(warm)
        return fig
    finally:
        stack.close_pool(pool)
        stack.stop_servers()


def _baseline(stack: Stack, args: Namespace, c: int, users: list[int], toks: list[str]
              ) -> dict[str, Any]:
    """The same clients (same procs, same two subscribes) against the bare `websockets`
    server, in the same run: its connect rate and memory per connection."""
    nofile = raise_nofile()
    procs = max(args.client_procs, math.ceil(c / max(1000, nofile - 1000)))
    base = stack.start_baseline()
    pool = stack.pool("load.scenarios.idle:IdleAgent", procs)
    try:
        pool.call("connect", {"urls": [base.ws_url], "users": users[:2], "toks": toks[:2],
                              "shared": SHARED_ROOM, "concurrency": 2, "offset": 0},
                  timeout=60, only=[0])
        time.sleep(1.0)
        rss0 = rss(base.pid) if base.pid else 0
        targets, at = [], 2
        t0 = time.monotonic()
        for i, k in enumerate(split(c, procs)):
            targets += pool.send("connect", {
                "urls": [base.ws_url], "users": users[at:at + k], "toks": toks[at:at + k],
                "shared": SHARED_ROOM, "concurrency": args.idle_concurrency, "offset": at},
                only=[i])
            at += k
        replies = pool.gather(targets, 900)
        connect_s = time.monotonic() - t0
        connected = sum(r["connected"] for r in replies)
        time.sleep(1.0)
        rss1 = rss(base.pid) if base.pid else 0
        return {"baseline_connect_rate_per_s": round(connected / max(connect_s, 1e-9), 1),
                "baseline_kb_per_connection": round((rss1 - rss0) / 1024 / max(connected, 1),
                                                    2)}
    finally:
        stack.close_pool(pool)
        stack.stop_child(base)


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    nofile = raise_nofile()
    sizes = _sizes(args.idle_connections, nofile)
    stack.start_engines()
    users = ensure_users(stack, max(sizes) + 2)
    toks = tokens(stack, users)
    sections = []
    for c in sizes:
        runs = []
        for r in range(repeats):
            stack.flush_redis()
            fig = _one(stack, args, c, users, toks)
            if not args.idle_no_baseline:
                fig.update(_baseline(stack, args, c, users, toks))
                fig["connect_rate_ratio"] = round(
                    fig["connect_rate_per_s"] / max(fig["baseline_connect_rate_per_s"], 1e-9), 2)
                fig["kb_per_connection_over_baseline"] = round(
                    fig["kb_per_connection"] - fig["baseline_kb_per_connection"], 2)
                fig["kb_per_connection_ratio"] = round(
                    fig["kb_per_connection"] / max(fig["baseline_kb_per_connection"], 1e-9), 2)
            print(f"   idle C={c} run {r + 1}: held {fig['held']}/{c}, "
                  f"{fig['connect_rate_per_s']:.0f} conn/s, {fig['kb_per_connection']} KB/conn, "
                  f"rest CPU {fig['rest_servers_cpu_util']}", flush=True)
            runs.append(fig)
        notes = []
        for fig in runs:
            if fig["errors"]:
                notes.append(f"connect errors: {fig['errors']}")
            if fig["closed"]:
                notes.append(f"closed while held: {fig['closed']}")
            if fig["profile"]:
                notes.append("connect phase " + "\n    ".join(fig["profile"]))
        notes.append(f"{args.idle_servers} server processes; open-file limit {nofile}; "
                     f"{runs[0]['client_procs']} client process(es); RSS per connection = "
                     "(servers' RSS after − before) / connections")
        sections.append({
            "title": f"idle C={c}", "runs": runs,
            "headline": [("held", "connections held"), ("failed", "failed to connect"),
                         ("connect_rate_per_s", "connect rate (conn/s, auth + 2 subscribes)"),
                         ("connect_p50_ms", "connect+subscribe p50 ms"),
                         ("connect_p99_ms", "connect+subscribe p99 ms"),
                         ("kb_per_connection", "server memory per socket (KiB, RSS delta / C)"),
                         ("baseline_connect_rate_per_s", "bare websockets: connect rate"),
                         ("connect_rate_ratio", "  Readalong / bare websockets"),
                         ("baseline_kb_per_connection", "bare websockets: KiB per socket"),
                         ("kb_per_connection_over_baseline",
                          "  Readalong − bare (KiB; target <= 2)"),
                         ("kb_per_connection_ratio", "  Readalong / bare websockets"),
                         ("server_rss_mb_after", "servers' RSS with all connected (MB)"),
                         ("rest_servers_cpu_util", "server CPU at rest (cores)"),
                         ("rest_redis_cpu_util", "Redis CPU at rest (cores)"),
                         ("client_cpu_max_util", "busiest client process at rest")],
            "notes": notes + saturation_note(runs),
        })
    return sections
