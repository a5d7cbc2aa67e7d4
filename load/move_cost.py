"""Server CPU per co-reading move (its ack and its fan-out to the room included):
`python -m load.move_cost [--against COMMIT] [--rooms 150] [--rate 400] [--seconds 10]
[--servers 1] [--placement spread|affinity|both]`.

One uvicorn process on embedded engines (or --servers of them, their CPU summed: with
--placement spread a room's readers round-robin over them, with affinity they all sit on server
room % n, `both` alternates the two; the difference is what one more process per room event
costs, `--cpu-per-receive-us` of `load/capacity.py`); --rooms live `free` sessions of 8
readers each, all connected from this process. Moves are sent at a steady --rate (default
2.67 moves/s per room, as issue 17's 1,000 rooms x 8 readers moving every 3 s), readers in a
random order, so the
presence batcher coalesces as much as it would at the real rate. Figures, over the measured
window after a warm-up (the first moves' milestones and caches are left out): the web process's
CPU ms per move (/proc, so it depends far less on how busy the machine is than latency does),
Redis CPU and commands per move (INFO commandstats), and whether every reader saw every move
(updated members received / moves x readers). With --against, servers of that commit (a `git
archive` copy) are measured too, alternated --rounds times with this tree's, same engines,
same client.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from load import against
from load.hubclient import Hub, bounded_gather
from load.measure import cpu_seconds
from load.scenarios.rooms_setup import end_sessions, make_sessions
from load.stack import Pinning, Stack
from load.users import ensure_users, tokens
from load.wsclient import WSClient

_decode = msgspec.json.Decoder().decode


class Readers:
    """The benchmark's sockets: each reader's room, progress, and the updates everyone saw."""

    def __init__(self) -> None:
        self.hub = Hub()
        self.socks: list[tuple[WSClient, str, list[float]]] = []
        self.seen = 0  # presence members `updated` received, by every reader

    def _on_message(self, ws: WSClient, payload: bytes) -> None:
        if b'"presence"' in payload[:40]:
            self.seen += len(_decode(payload).get("updated") or ())
        else:
            self.hub.control(ws, payload)

    async def connect(self, urls: list[str], toks: list[str], rooms: list[str]) -> None:
        async def one(i: int) -> None:
            ws = await self.hub.open(urls[i], toks[i], on_message=self._on_message, timeout=60)
            await self.hub.subscribe(ws, rooms[i], timeout=60)
            self.socks.append((ws, rooms[i], [random.uniform(0.05, 0.4)]))

        errors = [x for x in await bounded_gather(
            [lambda i=i: one(i) for i in range(len(toks))], 100) if isinstance(x, Exception)]
        if errors:
            raise RuntimeError(f"{len(errors)} readers could not join: {errors[0]!r}")

    async def moves(self, n: int, rate: float) -> tuple[int, int]:
        """Send `n` moves at `rate` per second; (acks, errors) once every ack is in."""
        order = list(range(len(self.socks)))
        futs: list[asyncio.Future[Any]] = []
        t0 = time.monotonic()
        for k in range(n):
            if k % len(order) == 0:
                random.shuffle(order)
            ws, room, progress = self.socks[order[k % len(order)]]
            progress[0] = min(1.0, progress[0] + random.uniform(0.0005, 0.002))
            fut = self.hub.send(ws, {"type": "presence", "room": room, "meta": {
                "position": {"progression": round(progress[0], 5), "locator": f"m{k}"},
                "state": "active"}})
            assert fut is not None
            futs.append(fut)
            ahead = t0 + (k + 1) / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
        done = await asyncio.gather(*(asyncio.wait_for(f, 60) for f in futs),
                                    return_exceptions=True)
        errors = sum(1 for d in done if isinstance(d, BaseException))
        return len(done) - errors, errors

    async def close(self) -> None:
        await asyncio.gather(*(ws.close(timeout=2) for ws, _, _ in self.socks),
                             return_exceptions=True)


def _redis_calls(stack: Stack) -> dict[str, int]:
    return {name: n for name, n in stack.redis_calls().items() if name != "info"}


class _Spy:
    """py-spy on the server over the measured window (raw collapsed stacks), when asked."""

    def __init__(self, pid: int, path: str | None) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        if path:
            from load.profile import available

            binary = available()
            if binary:
                self.proc = subprocess.Popen(
                    [binary, "record", "--nonblocking", "-r", "250", "-f", "raw", "-o", path,
                     "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(30)


def _web_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


async def _idle(stack: Stack, pids: list[int], quiet: float = 0.05, most: float = 60.0,
                ) -> float:
    """Wait until the servers and PostgreSQL are idle (together under `quiet` of a core over
    half a second, at most `most` seconds: the after-commit work is done, including what waits
    for PostgreSQL); the servers' CPU seconds then."""
    pg = stack.postgres_pid

    def both() -> tuple[float, float]:
        return _web_cpu(pids), (cpu_seconds(pg, True) if pg else 0.0)

    deadline = time.monotonic() + most
    last = both()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = both()
        if (now[0] - last[0]) + (now[1] - last[1]) < quiet * 0.5:
            return now[0]
        last = now
    return last[0]


async def _measure(stack: Stack, pids: list[int], readers: Readers, args: argparse.Namespace,
                   per: int) -> dict[str, Any]:
    n = int(args.rate * args.seconds)
    readers_n = len(readers.socks)
    # every reader's first move (the started-book milestone, the caches), measured apart, until
    # the server is idle again (its after-commit work included)
    spy = _Spy(pids[0], args.profile_first)
    f0 = _web_cpu(pids)
    await readers.moves(readers_n, args.rate)
    f1 = await _idle(stack, pids)
    spy.finish()
    first_ms = round((f1 - f0) * 1000 / readers_n, 4)
    await readers.moves(readers_n, args.rate)  # one more each: the steady path from here on
    w0 = await _idle(stack, pids)
    redis_pid = stack.redis_pid
    seen0, r0 = readers.seen, _redis_calls(stack)
    d0 = cpu_seconds(redis_pid) if redis_pid else 0.0
    spy = _Spy(pids[0], args.profile)
    t0 = time.monotonic()
    acks, errors = await readers.moves(n, args.rate)
    deadline = time.monotonic() + 10
    while readers.seen - seen0 < n * per and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    wall = time.monotonic() - t0
    w1 = await _idle(stack, pids)
    d1 = cpu_seconds(redis_pid) if redis_pid else 0.0
    r1 = _redis_calls(stack)
    spy.finish()
    by = {k: round((v - r0.get(k, 0)) / n, 3) for k, v in r1.items() if v - r0.get(k, 0)}
    return {"web_ms": round((w1 - w0) * 1000 / n, 4), "first_move_web_ms": first_ms,
            "redis_ms": round((d1 - d0) * 1000 / n, 4),
            "redis_commands": round(sum(by.values()), 3),
            "redis_by_command": dict(sorted(by.items(), key=lambda kv: -kv[1])),
            "moves_per_s": round(n / wall, 1), "acks": acks, "errors": errors,
            "seen": round((readers.seen - seen0) / (n * per), 4)}


async def _one(stack: Stack, servers: list[Any], args: argparse.Namespace, toks: list[str],
               rooms: list[str], affinity: bool) -> dict[str, Any]:
    readers = Readers()
    n = len(servers)
    # reader i is in room i // readers: with affinity all of a room's readers are on server
    # (room % n), else they go round-robin (8 readers on 2 servers: 4 and 4)
    urls = [servers[(i // args.readers if affinity else i) % n].ws_url
            for i in range(len(toks))]
    try:
        await readers.connect(urls, toks, rooms)
        return await _measure(stack, [s.pid for s in servers], readers, args, args.readers)
    finally:
        await readers.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m load.move_cost", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rooms", type=int, default=150)
    ap.add_argument("--readers", type=int, default=8, help="readers per room")
    ap.add_argument("--rate", type=float, default=400.0, help="moves per second sent")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds of moves measured")
    ap.add_argument("--rounds", type=int, default=2, help="measurements per variant")
    ap.add_argument("--profile", default=None, metavar="FILE",
                    help="py-spy the server over the (last) measured window into FILE")
    ap.add_argument("--profile-first", default=None, metavar="FILE",
                    help="py-spy the server over the readers' first moves into FILE")
    ap.add_argument("--against", default="", help="also measure servers of this commit")
    ap.add_argument("--servers", type=int, default=1, help="web processes (their CPU summed)")
    ap.add_argument("--placement", choices=("spread", "affinity", "both"), default="spread",
                    help="with --servers > 1: a room's readers round-robin over the servers "
                         "(spread), all on server room %% n (affinity, as a load balancer "
                         "hashing on the room hint routes them), or both alternated")
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting for the servers of both variants (repeatable), e.g. "
                         "READALONG_POSITIONS_FLUSH_INTERVAL=0.5")
    args = ap.parse_args(argv)
    total = args.rooms * args.readers
    env = dict(kv.split("=", 1) for kv in args.server_env)
    figures: dict[str, list[dict[str, Any]]] = {}
    placements = ["spread", "affinity"] if args.placement == "both" else [args.placement]
    with Stack(Pinning("off")) as stack:
        stack.start_engines()
        users = ensure_users(stack, total)
        toks = tokens(stack, users, ttl=7200)
        variants = [(f"{label}/{p}" if len(placements) > 1 else label, root, p)
                    for label, root in against.variants(stack, args.against)
                    for p in placements]
        for r in range(args.rounds):
            for label, root, placement in variants:
                stack.flush_redis()
                hosts = users[::args.readers][:args.rooms]
                sids = make_sessions(stack, hosts)
                rooms = [f"session:{sids[i // args.readers]}" for i in range(total)]
                servers = stack.start_servers(args.servers, root=root, **env)
                try:
                    fig = asyncio.run(_one(stack, servers, args, toks, rooms,
                                           placement == "affinity"))
                finally:
                    stack.stop_servers()
                    end_sessions(stack, hosts, sids)
                figures.setdefault(label, []).append(fig)
                print(f"round {r + 1} {label:>10}: web {fig['web_ms']:.4f} ms/move  redis "
                      f"{fig['redis_ms']:.4f} ms/move  first move web "
                      f"{fig['first_move_web_ms']:.4f} ms  "
                      f"{fig['redis_commands']} redis cmds/move  "
                      f"{fig['moves_per_s']} moves/s  acks {fig['acks']} errors "
                      f"{fig['errors']}  seen {fig['seen']:.3f}\n    redis per move: "
                      f"{fig['redis_by_command']}", flush=True)
    for label, figs in figures.items():
        med = statistics.median(f["web_ms"] for f in figs)
        first = statistics.median(f["first_move_web_ms"] for f in figs)
        print(f"{label:>10}: web CPU per move, median of {len(figs)}: {med:.4f} ms (a "
              f"reader's first move: {first:.4f} ms)")
    def ratio(a_label: str, b_label: str) -> None:
        if a_label in figures and b_label in figures:
            a = statistics.median(f["web_ms"] for f in figures[a_label])
            b = statistics.median(f["web_ms"] for f in figures[b_label])
            print(f"{b_label} vs {a_label}: x{b / a:.3f}")

    for p in placements:
        suffix = f"/{p}" if len(placements) > 1 else ""
        if args.against:
            ratio(args.against + suffix, against.THIS_TREE + suffix)
    if len(placements) > 1:
        for label in ([args.against] if args.against else []) + [against.THIS_TREE]:
            ratio(f"{label}/spread", f"{label}/affinity")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
