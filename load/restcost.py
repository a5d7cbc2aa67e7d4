"""Server CPU per REST request of the soak's four kinds (book, search, feed, profile), one kind at a
time: `python -m load.restcost [--root OTHER_TREE] [--n 2000]`.

One uvicorn process on embedded engines, seeded as the soak seeds them (the demo catalog, bench
users, no follows unless --follows). For each kind it issues --n requests over --concurrency
keep-alive connections, exactly the URLs and tokens the soak uses (load/scenarios/soak.py), and
reports the web process's CPU ms per request, PostgreSQL's CPU ms per request (every backend
process), statements per request (the server's own query counter, /metrics) and Redis
commands per request (INFO commandstats; background work adds a little), and the closed-loop
p50/p95 wait of a request (mostly its sequential round trips, each a wait for a busy machine's
scheduler: compare it only between the variants of one run). `--against COMMIT` serves a `git
archive` copy of that commit too, alternated with this tree's (`--rounds` times, Redis flushed
before each, so feeds start cold as in the soak), and prints the medians side by side (or run it
twice, with `--root` another checkout): CPU time per request depends far less on how busy the
machine is than latency does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from load.httpclient import HTTPConn
from load.measure import cpu_seconds
from load.stack import Pinning, Stack
from load.stats import latency_summary

KINDS = ("book", "search", "feed", "profile")
_COUNT = re.compile(r'^readalong_db_query_duration_seconds_count\{.*\} (\S+)$', re.M)


def _redis_calls(stack: Stack) -> int:
    """Commands Redis has run (INFO commandstats; pipelined ones count one each), without the
    INFO calls that read them."""
    return sum(n for name, n in stack.redis_calls().items() if name != "info")


def _query_count(base_url: str) -> float:
    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(float(m) for m in _COUNT.findall(text))


async def _follows(url: str, users: list[int], k: int) -> None:
    """Each user follows the next `k` users and each posted a few activities (a real feed)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        n = len(users)
        pairs = [(users[i], users[(i + j) % n]) for i in range(n) for j in range(1, k + 1)]
        await conn.executemany("INSERT INTO follows (follower_id, followee_id, status) "
                               "VALUES ($1, $2, 'accepted') ON CONFLICT DO NOTHING", pairs)
        await conn.executemany(
            "INSERT INTO activities (actor_id, verb, object_kind, object_id, payload) "
            "VALUES ($1, 'book.finished', 'book', '1', '{\"title\": \"A Book\"}')",
            [(u,) for u in users for _ in range(3)])
        # and some blocks and mutes, so the visibility rules have something to hide
        await conn.executemany("INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2) "
                               "ON CONFLICT DO NOTHING",
                               [(users[i], users[(i + 1) % n]) for i in range(0, n, 7)])
    finally:
        await conn.close()


async def _issue(port: int, reqs: list[tuple[str, str]], concurrency: int,
                 latencies: list[float] | None = None) -> dict[str, int]:
    statuses: dict[str, int] = {}
    queue = list(reqs)

    async def worker() -> None:
        conn = HTTPConn(port)
        try:
            while queue:
                path, headers = queue.pop()
                t0 = time.monotonic()
                status, _ = await conn.get(path, timeout=60, headers=headers)
                if latencies is not None:
                    latencies.append(time.monotonic() - t0)
                statuses[str(status)] = statuses.get(str(status), 0) + 1
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def _profile(pid: int, path: Path, work: Callable[[], object]) -> None:
    """Run `work` while py-spy samples `pid` into `path` (raw collapsed stacks)."""
    from load.profile import available

    binary = available()
    if binary is None:
        print("py-spy not found (pip install py-spy)", flush=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen([binary, "record", "--nonblocking", "-r", "250", "-f", "raw",
                            "-o", str(path), "-p", str(pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    try:
        work()
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)


def _measure(stack: Stack, srv: Any, args: argparse.Namespace, paths: dict[str, list[str]],
             toks: list[str], rng: random.Random) -> dict[str, dict[str, Any]]:
    """Each kind's figures on one running server (see the module's docstring)."""
    pg_pid = stack.postgres_pid
    assert srv.pid and pg_pid
    out: dict[str, dict[str, Any]] = {}
    for kind in args.kinds.split(","):
        def reqs(n: int, kind: str = kind) -> list[tuple[str, str]]:
            auth = kind in ("feed", "profile")
            return [(rng.choice(paths[kind]),
                     f"Authorization: Bearer {rng.choice(toks)}\r\n" if auth else "")
                    for _ in range(n)]

        asyncio.run(_issue(srv.port, reqs(args.warmup), args.concurrency))
        batch = reqs(args.n)
        s0, r0 = _query_count(srv.base_url), _redis_calls(stack)
        w0, p0, t0 = cpu_seconds(srv.pid), cpu_seconds(pg_pid, True), time.monotonic()
        lat: list[float] = []
        statuses = asyncio.run(_issue(srv.port, batch, args.concurrency, lat))
        w1, p1, t1 = cpu_seconds(srv.pid), cpu_seconds(pg_pid, True), time.monotonic()
        s1, r1 = _query_count(srv.base_url), _redis_calls(stack)
        fig = {"web_ms": round((w1 - w0) * 1000 / args.n, 3),
               "pg_ms": round((p1 - p0) * 1000 / args.n, 3),
               "statements": round((s1 - s0) / args.n, 3),
               "redis_commands": round((r1 - r0) / args.n, 3),
               "req_per_s": round(args.n / (t1 - t0), 1),
               # closed loop: each request's wait, mostly its sequential round trips while
               # the machine is busy (timings: compare variants of one run only)
               **latency_summary(lat, ""),
               "statuses": statuses}
        out[kind] = fig
        if args.profile:
            _profile(srv.pid, Path(args.profile) / f"{kind}.txt",
                     lambda: asyncio.run(_issue(srv.port, reqs(args.n), args.concurrency)))
        print(f"{kind:8s} web {fig['web_ms']:7.3f} ms  pg {fig['pg_ms']:7.3f} ms  "
              f"statements {fig['statements']:5.2f}  "
              f"redis {fig['redis_commands']:5.2f}  p50 {fig['p50_ms']:6.2f} ms  "
              f"p95 {fig['p95_ms']:6.2f} ms  ({fig['req_per_s']} req/s, "
              f"{statuses})", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    from load.scenarios.rest import _seed
    from load.scenarios.soak import _handles, _rest_paths
    from load.users import ensure_users, tokens

    ap = argparse.ArgumentParser(prog="python -m load.restcost", description=__doc__)
    ap.add_argument("--root", default=None, help="serve from this source tree (A/B)")
    ap.add_argument("--against", default="", metavar="COMMIT",
                    help="also serve a `git archive` copy of this commit, alternated with the "
                         "tree's, and print the medians side by side")
    ap.add_argument("--rounds", type=int, default=1, help="times each variant is measured")
    ap.add_argument("--n", type=int, default=2000, help="requests per kind measured")
    ap.add_argument("--warmup", type=int, default=300, help="requests per kind before measuring")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--books", type=int, default=10_000)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--follows", type=int, default=0,
                    help="each user follows this many others (the soak: 0)")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--profile", default=None, metavar="DIR",
                    help="then one more batch per kind under py-spy: DIR/<kind>.txt (collapsed)")
    args = ap.parse_args(argv)
    rng = random.Random(17)
    out: dict[str, Any] = {}
    with Stack(Pinning("off")) as stack:
        stack.start_engines()
        _seed(stack, args.books)
        users = ensure_users(stack, args.users)
        toks = tokens(stack, users, ttl=7200)
        handles = _handles(stack, args.users)
        if args.follows:
            asyncio.run(_follows(stack.database_url, users, args.follows))
        roots: list[tuple[str, Path | None]] = [
            (args.root or "this tree", Path(args.root) if args.root else None)]
        if args.against:
            from load.against import archive

            roots.insert(0, (args.against, archive(args.against, stack.tmp / "against")))
        for r in range(args.rounds):
            for label, root in roots:
                stack.flush_redis()  # every variant starts from cold feeds and an empty cache
                srv = stack.start_servers(1, root=root)[0]
                print(f"round {r + 1}: server from {label}", flush=True)
                figs = _measure(stack, srv, args, _rest_paths(stack, srv.base_url, handles),
                                toks, rng)
                for kind, fig in figs.items():
                    out.setdefault(label, {}).setdefault(kind, []).append(fig)
        stack.stop_servers()
    if len(roots) > 1:
        (a, _), (b, _) = roots
        for kind in out[b]:
            for key in ("web_ms", "pg_ms", "p50_ms", "p95_ms"):
                va = statistics.median(f[key] for f in out[a][kind])
                vb = statistics.median(f[key] for f in out[b][kind])
                print(f"{kind:8s} {key:7s} {b} {vb:8.3f} vs {a} {va:8.3f}"
                      f"{f'  (x{vb / va:.2f})' if va else ''}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
