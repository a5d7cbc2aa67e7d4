"""rooms: many small co-reading rooms (`session:<id>`), readers moving and chatting, on 2 processes.

Each reader reports a position every --rooms-move-every seconds (presence meta with a
progression that creeps forward and a locator carrying the send time) and chats now and then.
Figures: end-to-end latency per event type as the *other* readers of the room see it, the ack
latency of each command, errors, and CPU. The spoiler shield is on (the room default), so some
chat arrives redacted; its latency is measured from the message's `created_at` (server clock,
after the Postgres insert) since the redacted variant carries no text.
"""

from __future__ import annotations

import array
import asyncio
import random
import re
import time
from argparse import Namespace
from datetime import datetime
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
from load.scenarios.rooms_setup import end_sessions, make_sessions, pg_transactions
from load.stack import Stack
from load.stats import latency_summary
from load.users import ensure_users, tokens
from load.wsclient import WSClient

TITLE = "rooms: many small co-reading rooms, positions and chat"
DEFAULT_REPEATS = 1
# `python -m load all` (make bench): modest sizes, ~10 minutes on 2 cores
ALL_SIZES = {"rooms_rooms": 200, "rooms_duration": 20.0}
ALL_REPEATS = 1
MARK = re.compile(r"~(\d+)~(\d+)~(\d+)~")
_decode = msgspec.json.Decoder().decode
KINDS = ("position", "chat", "chat_redacted", "ack_presence", "ack_chat")


def add_arguments(g: Any) -> None:
    g.add_argument("--rooms-rooms", type=int, default=500)
    g.add_argument("--rooms-readers", type=int, default=8, help="readers per room")
    g.add_argument("--rooms-move-every", type=float, default=3.0, help="seconds between moves")
    g.add_argument("--rooms-chat-every", type=float, default=30.0,
                   help="mean seconds between a reader's chat messages")
    g.add_argument("--rooms-duration", type=float, default=30.0, help="seconds measured")
    g.add_argument("--rooms-servers", type=int, default=2)
    g.add_argument("--rooms-affinity", action="store_true",
                   help="room affinity: every reader of room r connects to server r %% n (as a "
                        "load balancer hashing on the room hint would route them), so each "
                        "room event crosses one web process; default: readers round-robin "
                        "over the servers, a room's 8 readers split 4/4")
    g.add_argument("--rooms-chats-only", action="store_true",
                   help="no moves during the window, only chats (each reader makes one move "
                        "before it, so some chat arrives redacted): figures per chat (server, "
                        "PostgreSQL CPU, PostgreSQL transactions)")
    g.add_argument("--rooms-idle-window", type=float, default=10.0,
                   help="chats only: seconds of the same sockets at rest, metered before the "
                        "send window (their pings and timers, taken out of the per-chat figures)")
    against.add_argument(g, "rooms", "270855f (before the reshape)")


def quick(args: Namespace) -> None:
    args.rooms_rooms = min(args.rooms_rooms, 25)
    args.rooms_duration = min(args.rooms_duration, 6.0)
    args.rooms_chat_every = min(args.rooms_chat_every, 6.0)


def params(args: Namespace) -> dict[str, Any]:
    return {"rooms": args.rooms_rooms, "readers": args.rooms_readers,
            "move_every_s": args.rooms_move_every, "chat_every_s": args.rooms_chat_every,
            "duration_s": args.rooms_duration, "servers": args.rooms_servers,
            "room_kind": "session", "shield": "on (room default)", "mode": "free",
            "chats_only": args.rooms_chats_only, "affinity": args.rooms_affinity,
            "against": args.rooms_against or None}


class _Reader:
    __slots__ = ("progress", "room", "uid", "ws")

    def __init__(self, uid: int, room: str) -> None:
        self.uid = uid
        self.room = room
        self.ws: WSClient | None = None
        self.progress = random.uniform(0.05, 0.5)


class RoomsAgent:
    """Readers of several rooms: move, chat, and time what the others send."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.hub = Hub()
        self.readers: list[_Reader] = []
        self.run_id = -1
        self.lat: dict[str, array.array] = {k: array.array("d") for k in KINDS}
        self.counts: dict[str, int] = {}

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def _handler(self, reader: _Reader) -> Any:
        def on_message(ws: WSClient, payload: bytes) -> None:
            head = payload[:40]
            if b'"event"' in head:
                now = time.time()
                msg = _decode(payload)
                if msg.get("event") != "chat":
                    self._count(f"event_{msg.get('event')}")
                    return
                data = msg.get("data") or {}
                if data.get("author_id") == reader.uid:
                    return
                body = data.get("body")
                if data.get("unlocked"):
                    self._count("chat_unlocked")  # pushed when the reader moved past its gate
                elif body:
                    m = MARK.search(body)
                    if m and int(m.group(1)) == self.run_id:
                        self.lat["chat"].append(now - int(m.group(3)) / 1e9)
                        self._count("chat_full")
                elif data.get("redacted") and data.get("created_at"):
                    created = datetime.fromisoformat(data["created_at"]).timestamp()
                    self.lat["chat_redacted"].append(now - created)
                    self._count("chat_redacted")
            elif b'"presence"' in head:
                now = time.time()
                msg = _decode(payload)
                for member in msg.get("updated") or ():
                    if member.get("user_id") == reader.uid:
                        continue
                    pos = (member.get("meta") or {}).get("position") or {}
                    m = MARK.search(pos.get("locator") or "")
                    if m and int(m.group(1)) == self.run_id:
                        self.lat["position"].append(now - int(m.group(3)) / 1e9)
                        self._count("position_seen")
            else:
                self.hub.control(ws, payload)
        return on_message

    async def connect(self, urls: list[str], users: list[int], toks: list[str],
                      rooms: list[str], offset: int, move_once: bool = False,
                      servers: list[int] | None = None) -> dict[str, Any]:
        async def one(i: int) -> None:
            r = _Reader(users[i], rooms[i])
            url = urls[servers[i] if servers is not None else (offset + i) % len(urls)]
            r.ws = await self.hub.open(url, toks[i], on_message=self._handler(r), timeout=60)
            await self.hub.subscribe(r.ws, r.room, timeout=60)
            if move_once:  # readers at different places: some chat arrives redacted
                await self.hub.command(r.ws, {
                    "type": "presence", "room": r.room,
                    "meta": {"position": {"progression": round(r.progress, 5),
                                          "locator": "start"}, "state": "active"}}, timeout=60)
                # and one chat each: what a socket's or room's first chat sets up is not
                # counted in the window's chats (no mark: not timed or counted by the readers)
                await self.hub.command(r.ws, {"type": "publish", "room": r.room,
                                              "data": {"type": "chat", "body": "warm-up"}},
                                       timeout=60)
            self.readers.append(r)

        t0 = time.monotonic()
        results = await bounded_gather([lambda i=i: one(i) for i in range(len(users))], 200)
        errors: dict[str, int] = {}
        for x in results:
            if isinstance(x, Exception):
                k = f"{type(x).__name__}: {str(x)[:100]}"
                errors[k] = errors.get(k, 0) + 1
        return {"connected": len(self.readers), "errors": errors,
                "elapsed": time.monotonic() - t0}

    async def idle(self, seconds: float) -> dict[str, Any]:
        """The sockets connected and quiet for `seconds` (pings, the servers' timers): the
        chats-only baseline, metered by the caller."""
        await asyncio.sleep(seconds)
        return {"alive": sum(1 for r in self.readers if r.ws is not None and r.ws.is_open)}

    async def run(self, run_id: int, duration: float, move_every: float, chat_every: float,
                  chats_only: bool = False) -> dict[str, Any]:
        self.run_id = run_id
        self.lat = {k: array.array("d") for k in KINDS}
        self.counts = {}
        errors: dict[str, int] = {}
        cpu = CpuWindow()
        stop_at = time.monotonic() + duration
        seq = 0

        async def timed(kind: str, ws: WSClient, frame: dict[str, Any]) -> None:
            t = time.monotonic()
            try:
                await self.hub.command(ws, frame, timeout=30)
                self.lat[kind].append(time.monotonic() - t)
            except (TimeoutError, CommandError, OSError) as exc:
                key = getattr(exc, "code", type(exc).__name__)
                errors[key] = errors.get(key, 0) + 1

        def chat(r: _Reader, ws: WSClient) -> asyncio.Future[None]:
            nonlocal seq
            seq += 1
            self._count("chats")
            return asyncio.ensure_future(timed("ack_chat", ws, {
                "type": "publish", "room": r.room,
                "data": {"type": "chat", "body": f"bench ~{run_id}~{seq}~{time.time_ns()}~"}}))

        async def chat_loop(r: _Reader) -> None:
            # (a reader whose first turn falls past the window's end sends nothing and does
            # not wait for it: the run, and its meter, end with the window's sends)
            await asyncio.sleep(min(random.uniform(0, chat_every),
                                    max(0.0, stop_at - time.monotonic())))
            pending: list[asyncio.Future[None]] = []
            while time.monotonic() < stop_at and r.ws is not None and r.ws.is_open:
                pending.append(chat(r, r.ws))
                await asyncio.sleep(min(chat_every * random.uniform(0.8, 1.2),
                                        max(0.0, stop_at - time.monotonic())))
            if pending:
                await asyncio.wait(pending, timeout=30)

        async def reader_loop(r: _Reader) -> None:
            nonlocal seq
            await asyncio.sleep(random.uniform(0, move_every))
            pending: list[asyncio.Future[None]] = []
            while time.monotonic() < stop_at and r.ws is not None and r.ws.is_open:
                seq += 1
                r.progress = min(1.0, r.progress + random.uniform(0.0005, 0.003))
                mark = f"~{run_id}~{seq}~{time.time_ns()}~"
                pending.append(asyncio.ensure_future(timed("ack_presence", r.ws, {
                    "type": "presence", "room": r.room,
                    "meta": {"position": {"progression": round(r.progress, 5),
                                          "locator": mark}, "state": "active"}})))
                self._count("moves")
                if random.random() < move_every / chat_every:
                    pending.append(chat(r, r.ws))
                await asyncio.sleep(move_every * random.uniform(0.8, 1.2))
            if pending:
                await asyncio.wait(pending, timeout=30)

        await asyncio.gather(*((chat_loop if chats_only else reader_loop)(r)
                               for r in self.readers))
        await asyncio.sleep(1.0)  # the last deliveries
        alive = sum(1 for r in self.readers if r.ws is not None and r.ws.is_open)
        closes: dict[str, int] = {}
        for r in self.readers:
            if r.ws is not None and not r.ws.is_open:
                key = f"{r.ws.close_code} {r.ws.close_reason}".strip()
                closes[key] = closes.get(key, 0) + 1
        return {"closes": closes,**{f"lat_{k}": v.tobytes() for k, v in self.lat.items()},
                "counts": dict(self.counts), "errors": errors, "alive": alive,
                "cpu": cpu.result()}

    async def close(self) -> dict[str, Any]:
        await asyncio.gather(*(r.ws.close(timeout=2) for r in self.readers if r.ws),
                             return_exceptions=True)
        return {}


RATIOS = (("position_p50_ms", "position seen p50"), ("position_p99_ms", "position seen p99"),
          ("ack_chat_p50_ms", "chat ack p50"), ("ack_chat_p99_ms", "chat ack p99"),
          ("server_cpu_ms_per_move", "server CPU per move"),
          ("stack_cpu_ms_per_move", "servers+Redis+PostgreSQL CPU per move"),
          ("servers_cpu_ms_per_chat", "server CPU per chat (chats only)"),
          ("servers_net_cpu_ms_per_chat", "server CPU per chat, rest taken out (chats only)"),
          ("postgres_cpu_ms_per_chat", "PostgreSQL CPU per chat (chats only)"),
          ("pg_transactions_per_chat", "PostgreSQL transactions per chat (chats only)"))


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    try:
        import domain.sessions.sessions  # noqa: F401
        import realtime.rooms.session  # noqa: F401
    except ImportError:
        return [{"title": TITLE, "status": "pending",
                 "reason": "the session: room kind is not in the tree yet"}]
    n_rooms, per = args.rooms_rooms, args.rooms_readers
    stack.start_engines()
    variants = against.variants(stack, args.rooms_against)
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in variants}
    notes: list[str] = []
    for r in range(repeats):
        for label, root in variants:  # alternated: both see the same machine
            runs[label].append(_one(stack, args, r, label, root, notes))
    placement = ("room affinity: each room's readers on one process" if args.rooms_affinity
                 else "readers round-robin over the processes")
    notes.append(f"{n_rooms} session rooms x {per} readers on {args.rooms_servers} processes "
                 f"({placement}); a "
                 f"move every {args.rooms_move_every:g}s, a chat every ~{args.rooms_chat_every:g}s"
                 " per reader; latencies are as seen by the other readers of the room")
    notes += against.ratio_notes(runs, args.rooms_against, RATIOS)
    headline = [("joined", "readers joined"), ("moves_per_s", "position moves/s sent"),
                ("position_deliveries_per_s", "position updates delivered/s")]
    if args.rooms_chats_only:
        headline += [("chats", "chats sent"), ("ack_chat_samples", "chats acked"),
                     ("servers_cpu_ms_per_chat", "server CPU ms per chat (send window)"),
                     ("servers_net_cpu_ms_per_chat", "  the sockets' rest taken out"),
                     ("servers_idle_cpu_util", "server CPU at rest (cores)"),
                     ("send_window_s", "send window (s)"),
                     ("deliveries_per_chat", "deliveries per chat"),
                     ("postgres_cpu_ms_per_chat", "PostgreSQL CPU ms per chat"),
                     ("redis_cpu_ms_per_chat", "Redis CPU ms per chat"),
                     ("pg_transactions_per_chat", "PostgreSQL transactions per chat")]
    for kind, label in (("position", "position (presence) seen by others"),
                        ("chat", "chat (full) seen by others"),
                        ("chat_redacted", "chat (redacted, from created_at)"),
                        ("ack_presence", "presence command ack"),
                        ("ack_chat", "chat publish ack")):
        headline += [(f"{kind}_p50_ms", f"{label} p50 ms"), (f"{kind}_p99_ms", "  p99 ms"),
                     (f"{kind}_max_ms", "  max ms")]
    headline += [("command_errors", "command errors"), ("alive_at_end", "readers still connected"),
                 ("servers_cpu_util", "server CPU (cores)"), ("redis_cpu_util", "Redis CPU"),
                 ("postgres_cpu_util", "PostgreSQL CPU"),
                 ("server_cpu_ms_per_move", "server CPU ms per move"),
                 ("stack_cpu_ms_per_move", "servers+Redis+PG CPU ms per move"),
                 ("client_cpu_max_util", "busiest client process")]
    sections = []
    for label, _ in variants:
        sections.append({"title": against.title(f"rooms: {n_rooms} x {per} readers", label),
                         "runs": runs[label], "headline": headline,
                         "notes": (notes if label == against.THIS_TREE else [])
                         + saturation_note(runs[label])})
    return sections


def _settle(stack: Stack, pool: Any, below: float, limit: float) -> None:
    """Wait until the servers use at most `below` cores over a second (at most `limit` s)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        meter = stack.meter(pool).start()
        time.sleep(1.0)
        if meter.stop().get("servers", {}).get("cpu_util", 0.0) <= below:
            return


def _one(stack: Stack, args: Namespace, r: int, label: str, root: Path | None,
         notes: list[str]) -> dict[str, Any]:
    """One measured run of the rooms load on servers of this tree (or of `root`)."""
    n_rooms, per = args.rooms_rooms, args.rooms_readers
    total = n_rooms * per
    tag = f"run {r + 1}" + ("" if root is None else f" ({label})")
    stack.flush_redis()
    users = ensure_users(stack, total)
    toks = tokens(stack, users)
    sids = make_sessions(stack, users[::per][:n_rooms])
    rooms = [f"session:{sids[i // per]}" for i in range(total)]
    servers = stack.start_servers(args.rooms_servers, root=root)
    urls = [s.ws_url for s in servers]
    # with affinity, reader i (of room i // per) goes to server (i // per) % n
    placed = [(i // per) % len(urls) for i in range(total)] if args.rooms_affinity else None
    procs = args.client_procs
    pool = stack.pool("load.scenarios.rooms:RoomsAgent", procs)
    try:
        at, targets = 0, []
        for i, k in enumerate(split(total, procs)):
            targets += pool.send("connect", {"urls": urls, "users": users[at:at + k],
                                             "toks": toks[at:at + k],
                                             "rooms": rooms[at:at + k], "offset": at,
                                             "move_once": args.rooms_chats_only,
                                             "servers": placed[at:at + k] if placed else None},
                                 only=[i])
            at += k
        conn = pool.gather(targets, 900)
        connected = sum(x["connected"] for x in conn)
        errs = merge_counts(conn, "errors")
        if connected < total:
            notes.append(f"{tag}: {total - connected} readers failed to join: {errs}")
        if connected == 0:
            raise RuntimeError(f"no reader could join: {errs}")
        rest: dict[str, Any] = {}
        if args.rooms_chats_only:  # the set-up's tail over (the moves and warm-up chats
            _settle(stack, pool, 0.05, 30.0)  # written, their effects run), then the same
            meter = stack.meter(pool).start()  # sockets at rest: what the window takes out
            pool.call("idle", {"seconds": args.rooms_idle_window},
                      timeout=args.rooms_idle_window + 60)
            rest = meter.stop()
        xacts = pg_transactions(stack) if args.rooms_chats_only else 0
        meter = stack.meter(pool)
        profiler = None
        if args.profile and r == 0:
            from load.profile import Profiler

            profiler = Profiler([s.pid for s in servers if s.pid], args.rooms_duration,
                                "rooms", stack.pinning.clients).start()
        meter.start()
        out = pool.call("run", {"run_id": r + 1, "duration": args.rooms_duration,
                                "move_every": args.rooms_move_every,
                                "chat_every": args.rooms_chat_every,
                                "chats_only": args.rooms_chats_only},
                        timeout=args.rooms_duration + 120)
        if args.rooms_chats_only:  # the window ends once the chats' effects have run too
            _settle(stack, pool, rest.get("servers", {}).get("cpu_util", 0.0) * 1.5 + 0.01,
                    15.0)
        m = meter.stop()
        if args.rooms_chats_only:  # (its own connection's one statement left out)
            xacts = pg_transactions(stack) - xacts - 1
        if profiler is not None:
            notes.append("\n    ".join(profiler.finish()))
        counts = merge_counts(out, "counts")
        errors = merge_counts(out, "errors")
        closes = merge_counts(out, "closes")
        if closes:
            notes.append(f"{tag} sockets closed by the server: {closes}")
        fig: dict[str, Any] = {"readers": total, "joined": connected,
                               "alive_at_end": sum(x["alive"] for x in out),
                               "moves": counts.get("moves", 0),
                               "chats": counts.get("chats", 0),
                               "command_errors": sum(errors.values())}
        for kind in KINDS:
            lat = unpack([x[f"lat_{kind}"] for x in out])
            fig.update(latency_summary(lat, f"{kind}_"))
        wall = m["_window"]["wall_s"]
        fig["moves_per_s"] = round(fig["moves"] / wall, 1)
        fig["position_deliveries_per_s"] = round(fig["position_samples"] / wall, 1)
        fig.update(process_figures(m))
        moves = max(fig["moves"], 1)
        if not args.rooms_chats_only:
            fig["server_cpu_ms_per_move"] = round(fig.get("servers_cpu_s", 0) * 1000 / moves, 3)
            fig["stack_cpu_ms_per_move"] = round(sum(fig.get(f"{g}_cpu_s", 0) for g in (
                "servers", "redis", "postgres")) * 1000 / moves, 3)
        else:  # the window holds the sends (and the sockets' pings: `net` takes them out)
            chats = max(fig.get("ack_chat_samples", 0), 1)
            for g in ("servers", "redis", "postgres"):
                used = fig.get(f"{g}_cpu_s", 0)
                fig[f"{g}_cpu_ms_per_chat"] = round(used * 1000 / chats, 3)
                at_rest = rest.get(g, {}).get("cpu_util", 0.0)
                fig[f"{g}_idle_cpu_util"] = at_rest
                fig[f"{g}_net_cpu_ms_per_chat"] = round(
                    max(0.0, used - at_rest * wall) * 1000 / chats, 3)
            fig["send_window_s"] = wall
            fig["deliveries_per_chat"] = round(
                (fig.get("chat_samples", 0) + fig.get("chat_redacted_samples", 0)) / chats, 2)
            fig["pg_transactions_per_chat"] = round(xacts / chats, 2)
        fig.update(client_figures(out))
        if errors:
            notes.append(f"{tag} command errors: {errors}")
        print(f"   rooms {tag}: {fig['moves_per_s']} moves/s, position p99 "
              f"{fig['position_p99_ms']} ms, chat p99 {fig['chat_p99_ms']} ms, errors "
              f"{fig['command_errors']}", flush=True)
        return fig
    finally:
        stack.close_pool(pool)
        stack.stop_servers()
        end_sessions(stack, users[::per][:n_rooms], sids)
