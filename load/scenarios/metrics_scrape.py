"""metrics_scrape: the cost of one `/metrics` scrape with C connected sockets.

Two server processes share one multiprocess metrics folder (PROMETHEUS_MULTIPROC_DIR, as
`readalong serve --workers 2` sets it up), so a scrape of either merges both processes'
files. First a baseline with no sockets, then C authenticated sockets (each in its own
`user:` room and a shared room, split over the two servers) are held while the first server
is scraped N times, one at a time. Figures per step: scrape latency p50/p99, response size,
and the scraped server's CPU seconds per scrape (its CPU over the scrapes, minus its rate at
rest over the same wall time: pings and heartbeats of the held sockets are not counted).
"""

from __future__ import annotations

import time
from argparse import Namespace
from typing import Any

import httpx

from load.measure import cpu_seconds
from load.procs import raise_nofile
from load.scenarios.common import split
from load.stack import Stack
from load.stats import latency_summary
from load.users import ensure_users, tokens

TITLE = "metrics_scrape: /metrics scrape cost (latency, bytes, CPU) with C connected sockets"
DEFAULT_REPEATS = 1
ALL_SIZES = {"scrape_connections": 10_000, "scrape_count": 30}
SHARED_ROOM = "leaderboard:bench-scrape"


def add_arguments(g: Any) -> None:
    g.add_argument("--scrape-connections", type=int, default=10_000,
                   help="sockets held while scraping (split over two servers)")
    g.add_argument("--scrape-count", type=int, default=30, help="scrapes per step")
    g.add_argument("--scrape-concurrency", type=int, default=500,
                   help="connections opening at once, per client process")


def quick(args: Namespace) -> None:
    args.scrape_connections = min(args.scrape_connections, 500)
    args.scrape_count = min(args.scrape_count, 10)


def params(args: Namespace) -> dict[str, Any]:
    return {"connections": args.scrape_connections, "scrapes": args.scrape_count,
            "servers": 2, "multiprocess": True}


def _scrapes(url: str, pid: int | None, n: int, rest_rate: float) -> dict[str, Any]:
    lat: list[float] = []
    size = 0
    families = 0
    cpu0, t0 = (cpu_seconds(pid) if pid else 0.0), time.monotonic()
    with httpx.Client(timeout=60) as http:
        for _ in range(n):
            t = time.monotonic()
            r = http.get(url)
            lat.append(time.monotonic() - t)
            r.raise_for_status()
            size = len(r.content)
            families = sum(1 for line in r.text.splitlines() if line.startswith("# TYPE "))
    wall = time.monotonic() - t0
    cpu = (cpu_seconds(pid) if pid else 0.0) - cpu0 - rest_rate * wall
    return {**latency_summary(lat, "scrape_"), "scrape_bytes": size, "families": families,
            "cpu_ms_per_scrape": round(max(cpu, 0.0) * 1000 / n, 2)}


def _rest_rate(pid: int | None, seconds: float = 3.0) -> float:
    if not pid:
        return 0.0
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def _one(stack: Stack, args: Namespace, users: list[int], toks: list[str]) -> dict[str, Any]:
    store = stack.tmp / "metrics-store"
    if store.exists():
        import shutil

        shutil.rmtree(store)
    store.mkdir()
    servers = stack.start_servers(2, PROMETHEUS_MULTIPROC_DIR=str(store))
    target = servers[0]
    url = target.base_url + "/metrics"
    pool = None
    try:
        base = _scrapes(url, target.pid, args.scrape_count, _rest_rate(target.pid))
        c = args.scrape_connections
        procs = max(1, args.client_procs)
        pool = stack.pool("load.scenarios.idle:IdleAgent", procs)
        targets, at = [], 0
        for i, k in enumerate(split(c, procs)):
            targets += pool.send("connect", {
                "urls": [s.ws_url for s in servers], "users": users[at:at + k],
                "toks": toks[at:at + k], "shared": SHARED_ROOM,
                "concurrency": args.scrape_concurrency, "offset": at}, only=[i])
            at += k
        replies = pool.gather(targets, 900)
        connected = sum(r["connected"] for r in replies)
        time.sleep(1.0)
        loaded = _scrapes(url, target.pid, args.scrape_count, _rest_rate(target.pid))
        held = sum(s["open"] for s in pool.call("status", timeout=60))
        fig: dict[str, Any] = {"connections": c, "connected": connected, "held": held}
        fig.update({f"base_{k}": v for k, v in base.items()})
        fig.update(loaded)
        fig["p50_ratio"] = round(loaded["scrape_p50_ms"] / max(base["scrape_p50_ms"], 1e-6), 2)
        return fig
    finally:
        if pool is not None:
            stack.close_pool(pool)
        stack.stop_servers()


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    nofile = raise_nofile()
    stack.start_engines()
    users = ensure_users(stack, args.scrape_connections)
    toks = tokens(stack, users)
    runs = []
    for r in range(repeats):
        stack.flush_redis()
        fig = _one(stack, args, users, toks)
        print(f"   scrape with {fig['held']}/{fig['connections']} sockets run {r + 1}: "
              f"p50 {fig['scrape_p50_ms']} ms (no sockets {fig['base_scrape_p50_ms']} ms), "
              f"{fig['scrape_bytes']} bytes, {fig['cpu_ms_per_scrape']} CPU ms/scrape",
              flush=True)
        runs.append(fig)
    return [{
        "title": f"metrics_scrape C={args.scrape_connections}", "runs": runs,
        "headline": [("held", "sockets held while scraping"),
                     ("base_scrape_p50_ms", "scrape p50 ms, no sockets (baseline)"),
                     ("scrape_p50_ms", "scrape p50 ms with the sockets"),
                     ("scrape_p99_ms", "scrape p99 ms with the sockets"),
                     ("p50_ratio", "p50 with sockets / baseline"),
                     ("scrape_bytes", "response bytes"),
                     ("families", "metric families"),
                     ("base_cpu_ms_per_scrape", "server CPU ms per scrape, baseline"),
                     ("cpu_ms_per_scrape", "server CPU ms per scrape with the sockets")],
        "notes": [f"2 server processes sharing one multiprocess store, the first scraped "
                  f"{args.scrape_count} times per step; open-file limit {nofile}; "
                  "CPU per scrape = scraped process's CPU over the scrapes minus its rate at "
                  "rest (held sockets' pings) over the same time"],
    }]
