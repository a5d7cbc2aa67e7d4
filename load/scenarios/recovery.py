"""recovery: C clients on one server process, which restarts; time until all are back, caught up.

Clients sit in small `lobby:` rooms (groups of --recovery-group) plus their own `user:` room, all
on the process that gets restarted. A publisher (the hub's own `Publisher`, as the worker uses)
keeps publishing into the lobby rooms throughout. On the restart's close (4012) each client
reconnects (by default to the *other* process), resubscribes with `since` and must receive every
event it missed: lost events must be 0.
"""

from __future__ import annotations

import array
import asyncio
import random
import time
from argparse import Namespace
from pathlib import Path
from typing import Any

import msgspec

from load import against
from load.hubclient import CommandError, Hub, bounded_gather
from load.scenarios.common import (
    CpuWindow,
    client_figures,
    merge_counts,
    process_figures,
    saturation_note,
    split,
    unpack,
)
from load.stack import Stack
from load.stats import latency_summary
from load.users import ensure_users, tokens
from load.wsclient import WSClient

TITLE = "recovery storm: one server process restarted under C clients"
DEFAULT_REPEATS = 1
# `python -m load all` (make bench): modest sizes, ~10 minutes on 2 cores
ALL_SIZES = {"recovery_clients": 1000}
ALL_REPEATS = 1
_decode = msgspec.json.Decoder().decode


def add_arguments(g: Any) -> None:
    g.add_argument("--recovery-clients", type=int, default=1000)
    g.add_argument("--recovery-group", type=int, default=10, help="clients per lobby room")
    g.add_argument("--recovery-rate", type=float, default=100.0,
                   help="events/s published across the lobby rooms during the storm")
    g.add_argument("--recovery-reconnect", choices=["other", "same", "any"], default="other",
                   help="where clients reconnect: the other process, the restarted one, or "
                        "either (round-robin from a random start)")
    g.add_argument("--recovery-timeout", type=float, default=60.0,
                   help="give up waiting for the clients after this many seconds")
    g.add_argument("--recovery-no-baseline", action="store_true",
                   help="skip the same storm against two bare `websockets` processes")
    against.add_argument(g, "recovery")


def quick(args: Namespace) -> None:
    args.recovery_clients = min(args.recovery_clients, 200)
    args.recovery_rate = min(args.recovery_rate, 50.0)


def params(args: Namespace) -> dict[str, Any]:
    return {"clients": args.recovery_clients, "group": args.recovery_group,
            "rate": args.recovery_rate, "reconnect": args.recovery_reconnect,
            "servers": 2, "against": args.recovery_against or None}


class _Client:
    __slots__ = (
        "attempts",
        "back_at",
        "caught_up_at",
        "down_at",
        "dups",
        "index",
        "not_recovered",
        "order",
        "rooms",
        "seen",
        "targets",
        "token",
        "uid",
        "welcomed_at",
        "ws",
    )

    def __init__(self, index: int, uid: int, token: str) -> None:
        self.index = index
        self.uid = uid
        self.token = token
        self.ws: WSClient | None = None
        self.rooms: dict[str, list[Any]] = {}  # room -> [epoch, offset]
        self.seen: set[int] = set()
        self.dups = 0
        self.order = 0
        self.down_at = 0.0
        self.back_at = 0.0
        self.caught_up_at = 0.0
        self.not_recovered = 0
        self.targets: dict[str, int] = {}  # room -> offset to reach after resubscribing
        self.attempts = 0
        self.welcomed_at = 0.0


class RecAgent:
    """Clients that reconnect and resubscribe with `since` when their server goes away."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.hub = Hub()
        self.clients: list[_Client] = []
        self.urls: list[str] = []
        self.policy = "other"
        self.stopping = False
        self.deadline = 0.0
        self.tasks: set[asyncio.Task[Any]] = set()
        self.cpu: CpuWindow | None = None
        self.reconnect_errors: dict[str, int] = {}

    def _handler(self, cl: _Client) -> Any:
        def on_message(ws: WSClient, payload: bytes) -> None:
            if b'"type":"event"' not in payload:
                self.hub.control(ws, payload)
                return
            msg = _decode(payload)
            room = msg.get("room")
            state = cl.rooms.get(room)
            off = msg.get("offset")
            if state is not None and off is not None:
                if state[0] != msg.get("epoch"):
                    state[0] = msg.get("epoch")
                    state[1] = off
                elif off <= state[1]:
                    cl.order += 1
                else:
                    state[1] = off
            text = (msg.get("data") or {}).get("text", "")
            if text.startswith("~"):
                seq = int(text.split("~")[2])
                if seq in cl.seen:
                    cl.dups += 1
                cl.seen.add(seq)
            if (cl.targets and cl.back_at and not cl.caught_up_at
                    and all(cl.rooms[r][1] >= t for r, t in cl.targets.items())):
                cl.caught_up_at = time.time()
        return on_message

    def _on_close(self, cl: _Client) -> Any:
        def closed(ws: WSClient) -> None:
            if self.stopping or ws is not cl.ws:
                return
            cl.down_at = time.time()
            cl.back_at = cl.caught_up_at = 0.0
            task = asyncio.ensure_future(self._reconnect(cl))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return closed

    async def _open(self, cl: _Client, url: str, since: bool) -> None:
        ws = await self.hub.open(url, cl.token, on_message=self._handler(cl), timeout=30)
        cl.ws = ws
        if since:
            cl.welcomed_at = time.time()
        ws.on_close = self._on_close(cl)
        targets: dict[str, int] = {}
        for room, state in cl.rooms.items():
            frame: dict[str, Any] = {"type": "subscribe", "room": room}
            if since and state[0] is not None:
                frame["since"] = {"epoch": state[0], "offset": state[1]}
            result = await self.hub.command(ws, frame, timeout=30)
            if since and state[0] is not None and not result.get("recovered", False):
                cl.not_recovered += 1
            if state[0] is None or not since:
                state[0], state[1] = result.get("epoch"), result.get("offset", 0) or 0
            targets[room] = int(result.get("offset") or 0)
        if since:
            cl.targets = targets
            cl.back_at = time.time()
            if all(cl.rooms[r][1] >= t for r, t in targets.items()):
                cl.caught_up_at = cl.back_at

    async def _reconnect(self, cl: _Client) -> None:
        n = len(self.urls)
        primary = cl.index % n
        if self.policy == "other":
            order = [self.urls[(primary + 1 + k) % n] for k in range(n)]
        elif self.policy == "same":
            order = [self.urls[primary]]
        else:
            start = random.randrange(n)
            order = [self.urls[(start + k) % n] for k in range(n)]
        delay = 0.05
        k = 0
        while not self.stopping and time.time() < self.deadline:
            cl.attempts += 1
            try:
                await self._open(cl, order[k % len(order)], since=True)
                return
            except (TimeoutError, OSError, CommandError) as exc:
                key = type(exc).__name__ + (f":{exc.code}" if isinstance(exc, CommandError)
                                            else "")
                self.reconnect_errors[key] = self.reconnect_errors.get(key, 0) + 1
                if cl.ws is not None:
                    cl.ws.abort()
            k += 1
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(1.0, delay * 2)

    async def connect(self, urls: list[str], primary: int, users: list[int], toks: list[str],
                      first_index: int, group: int, policy: str, deadline_s: float
                      ) -> dict[str, Any]:
        self.urls = urls
        self.policy = policy
        self.deadline = time.time() + deadline_s
        for i, (uid, tok) in enumerate(zip(users, toks, strict=False)):
            cl = _Client(primary, uid, tok)  # index = the process it starts on
            cl.rooms = {f"user:{uid}": [None, 0],
                        f"lobby:bench-rec-{(first_index + i) // group}": [None, 0]}
            self.clients.append(cl)
        t0 = time.monotonic()
        results = await bounded_gather(
            [lambda cl=cl: self._open(cl, urls[primary], since=False) for cl in self.clients],
            300)
        errors = [repr(r)[:160] for r in results if isinstance(r, Exception)]
        return {"connected": len(results) - len(errors), "errors": errors[:5],
                "elapsed": time.monotonic() - t0}

    async def mark(self, deadline_s: float) -> dict[str, Any]:
        self.deadline = time.time() + deadline_s
        self.cpu = CpuWindow()
        return {}

    async def status(self, since: float) -> dict[str, Any]:
        down = [c for c in self.clients if c.down_at >= since]
        back = [c for c in down if c.back_at]
        caught = [c for c in back if c.caught_up_at]
        return {"down": len(down), "back": len(back), "caught_up": len(caught),
                "total": len(self.clients)}

    async def final(self, published: dict[str, list[int]], since: float) -> dict[str, Any]:
        lost = 0
        for cl in self.clients:
            for room in cl.rooms:
                for seq in published.get(room, ()):
                    if seq not in cl.seen:
                        lost += 1
        down = [c for c in self.clients if c.down_at >= since]
        back = array.array("d", [c.back_at - since for c in down if c.back_at])
        caught = array.array("d", [c.caught_up_at - since for c in down if c.caught_up_at])
        closed = array.array("d", [c.down_at - since for c in down])
        welcomed = array.array("d", [c.welcomed_at - since for c in down if c.welcomed_at])
        return {"lost": lost, "dups": sum(c.dups for c in self.clients),
                "order": sum(c.order for c in self.clients),
                "not_recovered": sum(c.not_recovered for c in self.clients),
                "down": len(down), "back": back.tobytes(), "caught": caught.tobytes(),
                "closed": closed.tobytes(), "welcomed": welcomed.tobytes(),
                "attempts": sum(c.attempts for c in down),
                "reconnect_errors": dict(self.reconnect_errors),
                "cpu": self.cpu.result() if self.cpu else {"cpu_s": 0, "wall_s": 1, "util": 0}}

    async def close(self) -> dict[str, Any]:
        self.stopping = True
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*(c.ws.close(timeout=2) for c in self.clients if c.ws),
                             return_exceptions=True)
        return {}


class RecPublisher:
    """Publishes marked events round-robin into the lobby rooms through the hub's Publisher."""

    def __init__(self, index: int, redis_url: str) -> None:
        self.redis_url = redis_url

    async def publish(self, rooms: list[str], rate: float, duration: float) -> dict[str, Any]:
        from redis.asyncio import Redis

        from domain.settings import Settings
        from realtime.publisher import Publisher
        from realtime.rooms.base import RoomEvent

        redis = Redis.from_url(self.redis_url)
        pub = Publisher(redis, Settings())
        published: dict[str, list[int]] = {r: [] for r in rooms}
        errors = 0
        start = time.monotonic()
        n = int(rate * duration)
        seq = 0
        try:
            while seq < n:
                due = min(n, int((time.monotonic() - start) * rate) + 1)
                batch = []
                while seq < due:
                    room = rooms[seq % len(rooms)]
                    ev = RoomEvent("chat", {"text": f"~0~{seq}~{time.time_ns()}~",
                                            "user_id": 0, "name": "bench", "at": time.time()})
                    batch.append((room, seq, pub.publish(room, ev)))
                    seq += 1
                for room, s, coro in batch:
                    try:
                        await coro
                        published[room].append(s)
                    except Exception:
                        errors += 1
                await asyncio.sleep(max(0.0, start + seq / rate - time.monotonic()))
        finally:
            await redis.aclose()
        return {"published": published, "count": seq - errors, "errors": errors}


def _start_baselines(stack: Stack) -> list[Any]:
    return [stack.start_baseline(), stack.start_baseline()]


def _bare_storm(stack: Stack, args: Namespace, users: list[int], toks: list[str],
                group: int) -> dict[str, Any]:
    """The same clients, rooms and reconnect policy against two bare `websockets` processes,
    one of them restarted: how long the same client takes to reconnect + resubscribe when the
    server does nothing but accept and ack (no auth check, no history, no presence)."""
    c = len(toks)
    bases = _start_baselines(stack)
    pool = stack.pool("load.scenarios.recovery:RecAgent", args.client_procs)
    try:
        urls = [b.ws_url for b in bases]
        at, targets = 0, []
        for i, k in enumerate(split(c, args.client_procs)):
            targets += pool.send("connect", {
                "urls": urls, "primary": 1, "users": users[at:at + k], "toks": toks[at:at + k],
                "first_index": at, "group": group, "policy": args.recovery_reconnect,
                "deadline_s": args.recovery_timeout + 600}, only=[i])
            at += k
        pool.gather(targets, 600)
        pool.call("mark", {"deadline_s": args.recovery_timeout}, timeout=30)
        meter = stack.meter(pool, baseline=bases[0])
        meter.start()
        t_restart = time.time()
        t_mono = time.monotonic()
        bases[1].stop()
        bases[1].start()
        deadline = t_mono + args.recovery_timeout
        while time.monotonic() < deadline:
            st = pool.call("status", {"since": t_restart}, timeout=30)
            if sum(x["down"] for x in st) >= c and sum(x["back"] for x in st) >= c:
                break
            time.sleep(0.2)
        m = meter.stop()
        fin = pool.call("final", {"published": {}, "since": t_restart}, timeout=120)
        back = unpack([x["back"] for x in fin])
        return {"baseline_reconnected": len(back),
                "baseline_all_back_s": round(max(back), 2) if len(back) >= c else -1,
                **latency_summary(back, "baseline_back_"),
                "baseline_cpu_s": m.get("baseline", {}).get("cpu_s", 0.0)}
    finally:
        stack.close_pool(pool)
        for b in bases:
            stack.stop_child(b)


RATIOS = (("all_back_s", "all reconnected + resubscribed (s)"),
          ("all_recovered_s", "all recovered (s)"),
          ("server_cpu_ms_per_reconnect", "server CPU per reconnect (ms)"),
          ("redis_calls_per_reconnect", "Redis calls per reconnect"),
          ("stop_s", "stop of the restarted process (s)"),
          ("start_s", "start of the restarted process (s)"))


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    c, group = args.recovery_clients, args.recovery_group
    stack.start_engines()
    users = ensure_users(stack, c)
    toks = tokens(stack, users)
    variants = against.variants(stack, args.recovery_against)
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in variants}
    notes: list[str] = []
    for r in range(repeats):
        figs = []
        for label, root in variants:  # alternated: both see the same machine
            fig = _storm(stack, args, r, label, root, users, toks, notes)
            runs[label].append(fig)
            figs.append(fig)
        if not args.recovery_no_baseline:
            bare = _bare_storm(stack, args, users, toks, group)
            for fig in figs:
                fig.update(bare)
                fig["all_back_ratio"] = round(fig["all_back_s"] / fig["baseline_all_back_s"], 2) \
                    if fig["all_back_s"] > 0 and fig["baseline_all_back_s"] > 0 else -1
                fig["baseline_cpu_ms_per_reconnect"] = round(
                    1000 * fig["baseline_cpu_s"] / max(fig["baseline_reconnected"], 1), 3)
            print(f"   recovery run {r + 1}: bare websockets all back in "
                  f"{bare['baseline_all_back_s']} s", flush=True)
    n_rooms = (c + group - 1) // group
    notes.append(f"{c} clients in {n_rooms} lobby rooms of {group} + their user: rooms, all "
                 f"on the restarted process; reconnect policy `{args.recovery_reconnect}`; "
                 f"{args.recovery_rate:g} events/s published throughout; times are from the "
                 "SIGTERM (graceful restart) to the client's resubscribe ack (back) and to having "
                 "every missed event (recovered); -1 = not all within the timeout; Redis calls "
                 "are INFO commandstats over the storm window (every client's, the publisher's "
                 "and the commands scripts run included) per reconnect")
    notes += against.ratio_notes(runs, args.recovery_against, RATIOS)
    headline = [("all_back_s", "all reconnected + resubscribed (s)"),
                ("all_recovered_s", "all recovered, missed events received (s)"),
                ("baseline_all_back_s", "bare websockets: all reconnected + resubscribed (s)"),
                ("all_back_ratio", "  Readalong / bare websockets (all back)"),
                ("server_cpu_ms_per_reconnect", "server CPU per reconnect, storm window (ms)"),
                ("baseline_cpu_ms_per_reconnect", "bare websockets: CPU per reconnect"),
                ("redis_calls_per_reconnect", "Redis calls per reconnect (storm window)"),
                ("closed_p50_ms", "per-client closed (4012) after SIGTERM p50 ms"),
                ("welcome_p50_ms", "per-client welcome (auth) again p50 ms"),
                ("back_p50_ms", "per-client back p50 ms"),
                ("back_p99_ms", "per-client back p99 ms"),
                ("recovered_p99_ms", "per-client recovered p99 ms"),
                ("lost", "events lost (must be 0)"),
                ("duplicates", "duplicates"), ("order_violations", "order violations"),
                ("recovered_false", "answers recovered:false"),
                ("restart_s", "restart of the process (stop + ready) s"),
                ("stop_s", "  stop s"), ("start_s", "  start until ready s"),
                ("published", "events published during the run"),
                ("servers_cpu_s", "server CPU seconds (window)"),
                ("client_cpu_max_util", "busiest client process")]
    return [{"title": against.title(f"recovery C={c}", label), "runs": runs[label],
             "headline": headline,
             "notes": (notes if label == against.THIS_TREE else []) + saturation_note(runs[label])}
            for label, _ in variants]


def _storm(stack: Stack, args: Namespace, r: int, label: str, root: Path | None,
           users: list[int], toks: list[str], notes: list[str]) -> dict[str, Any]:
    """One restart under the clients, on servers of this tree (or of `root`)."""
    c, group = args.recovery_clients, args.recovery_group
    rooms = [f"lobby:bench-rec-{g}" for g in range((c + group - 1) // group)]
    tag = f"run {r + 1}" + ("" if root is None else f" ({label})")
    stack.flush_redis()
    servers = stack.start_servers(2, root=root, READALONG_SHUTDOWN_GRACE="5")
    urls = [s.ws_url for s in servers]
    procs = args.client_procs
    pool = stack.pool("load.scenarios.recovery:RecAgent", procs)
    pub = stack.pool("load.scenarios.recovery:RecPublisher", 1,
                     init={"redis_url": stack.redis_url})
    try:
        at = 0
        targets = []
        for i, k in enumerate(split(c, procs)):
            # everyone starts on server 1 (index 1), the one that gets restarted
            targets += pool.send("connect", {
                "urls": urls, "primary": 1, "users": users[at:at + k],
                "toks": toks[at:at + k], "first_index": at, "group": group,
                "policy": args.recovery_reconnect,
                "deadline_s": args.recovery_timeout + 600}, only=[i])
            at += k
        replies = pool.gather(targets, 600)
        connected = sum(x["connected"] for x in replies)
        if connected < c:
            raise RuntimeError(f"only {connected}/{c} connected: "
                               f"{[e for x in replies for e in x['errors']][:3]}")
        pool.call("mark", {"deadline_s": args.recovery_timeout}, timeout=30)
        duration = min(args.recovery_timeout / 2 + 6, 15.0)  # the storm comes at 2 s
        pub_target = pub.send("publish", {"rooms": rooms, "rate": args.recovery_rate,
                                          "duration": duration})
        meter = stack.meter(pool)
        calls0 = stack.redis_calls()
        profiler = None
        if args.profile and r == 0:  # the process the clients reconnect to, over the storm
            from load.profile import Profiler

            profiler = Profiler([servers[0].pid] if servers[0].pid else [], None,
                                f"recovery-{c}" + ("" if root is None else f"-{label}"),
                                stack.pinning.clients).start()
        meter.start()
        time.sleep(2.0)
        t_restart = time.time()
        t_mono = time.monotonic()
        stop_s, start_s = stack.restart_server(servers[1])
        all_back_s = all_caught_s = None
        deadline = t_mono + args.recovery_timeout
        while time.monotonic() < deadline:
            st = pool.call("status", {"since": t_restart}, timeout=30)
            down = sum(x["down"] for x in st)
            if down >= c and sum(x["back"] for x in st) >= c and all_back_s is None:
                all_back_s = time.time() - t_restart
            if down >= c and sum(x["caught_up"] for x in st) >= c:
                all_caught_s = time.time() - t_restart
                break
            time.sleep(0.2)
        p = pub.gather(pub_target, duration + 60)[0]
        time.sleep(1.0)  # the last live events
        m = meter.stop()
        calls1 = stack.redis_calls()
        if profiler is not None:
            notes.append(f"{tag} storm on the surviving process "
                         + "\n    ".join(profiler.finish()))
        fin = pool.call("final", {"published": p["published"], "since": t_restart},
                        timeout=120)
        back = unpack([x["back"] for x in fin])
        caught = unpack([x["caught"] for x in fin])
        by_command = {k: v - calls0.get(k, 0) for k, v in calls1.items()
                      if v > calls0.get(k, 0) and k != "info"}
        fig: dict[str, Any] = {
            "clients": c, "disconnected": sum(x["down"] for x in fin),
            "reconnected": len(back), "caught_up": len(caught),
            # from the clients' own clocks: the last one back / caught up
            "all_back_s": round(max(back), 2) if all_back_s is not None and back else -1,
            "all_recovered_s": round(max(caught), 2)
            if all_caught_s is not None and caught else -1,
            **latency_summary(back, "back_"), **latency_summary(caught, "recovered_"),
            **latency_summary(unpack([x["closed"] for x in fin]), "closed_"),
            **latency_summary(unpack([x["welcomed"] for x in fin]), "welcome_"),
            "restart_s": round(stop_s + start_s, 2), "stop_s": round(stop_s, 2),
            "start_s": round(start_s, 2),
            "published": p["count"], "publish_errors": p["errors"],
            "lost": sum(x["lost"] for x in fin), "duplicates": sum(x["dups"] for x in fin),
            "order_violations": sum(x["order"] for x in fin),
            "recovered_false": sum(x["not_recovered"] for x in fin),
            "reconnect_attempts": sum(x["attempts"] for x in fin),
            **process_figures(m), **client_figures(fin),
        }
        n = max(fig["reconnected"], 1)
        fig["server_cpu_ms_per_reconnect"] = round(1000 * fig.get("servers_cpu_s", 0.0) / n, 3)
        fig["redis_calls_per_reconnect"] = round(sum(by_command.values()) / n, 2)
        top = sorted(by_command.items(), key=lambda kv: -kv[1])[:8]
        notes.append(f"{tag} Redis calls per reconnect: "
                     + ", ".join(f"{k} {v / n:.2f}" for k, v in top))
        errs = merge_counts(fin, "reconnect_errors")
        if errs:
            notes.append(f"{tag} failed reconnect attempts: {errs}")
        print(f"   recovery {tag}: {fig['reconnected']}/{c} back, all back in "
              f"{fig['all_back_s']} s, all recovered in {fig['all_recovered_s']} s, "
              f"lost {fig['lost']}, recovered:false {fig['recovered_false']}, stop {stop_s:.2f} s"
              f" + start {start_s:.2f} s, {fig['server_cpu_ms_per_reconnect']} ms server CPU "
              f"and {fig['redis_calls_per_reconnect']} Redis calls per reconnect", flush=True)
        return fig
    finally:
        stack.close_pool(pub)
        stack.close_pool(pool)
        stack.stop_servers()
