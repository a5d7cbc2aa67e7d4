"""soak: a day in the life on one machine — readers in co-reading sessions and clubs, for minutes.

--soak-readers connected readers (10,000) in rooms of --soak-per-room (8): --soak-club-share of
the rooms are clubs (`club:<id>`, members inserted in SQL), the rest live public co-reading
sessions (`session:<id>`, made with the domain's use-cases). Each reader holds one socket on one
of two web processes, subscribed to its own `user:` room and its room, and for
--soak-minutes:

- moves (presence with a creeping progression) about --soak-moves times a minute, chats
  --soak-chats and reacts (on a passage) --soak-reactions times a minute, at random;
- gets notifications: a producer calls `notify()` (the app's use-case) at
  --soak-notifications per reader per minute and the real arq worker delivers them;
- browses over REST at --soak-rest per reader per minute (open loop, Poisson arrivals), a mix
  of book pages, searches, the home feed and profiles (--soak-rest-mix), with the reader's token.

Reported against the criteria: REST p95 (< 200 ms, measured from when each request was due, so
a queue in the client counts), sockets dropped (0), chats lost (every acked chat must reach every
other reader of its room still connected; each miss counts), notifications lost, and the RSS of
each web process, the worker, Redis and PostgreSQL sampled every --soak-sample-s seconds, split
into private, shared and file-backed pages: flat when the last half's least-squares growth of
the private part (and of Redis's used_memory) is within its noise (`common.flatness`), with
PostgreSQL's shared pages held to its shared segment (load/scenarios/soak_memory.py).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import math
import os
import random
import re
import time
from argparse import Namespace
from typing import Any

import msgspec

from load.httpclient import HTTPConn
from load.hubclient import CommandError, Hub, bounded_gather
from load.measure import rss
from load.procs import raise_nofile
from load.scenarios import common, soak_memory, soak_series, soak_verdict
from load.scenarios.rest import _catalog_sample, _discover, _seed
from load.scenarios.rooms_setup import make_sessions
from load.stack import Stack
from load.stats import latency_summary
from load.users import ensure_users, tokens
from load.wsclient import WSClient

TITLE = "soak: a day in the life (sessions and clubs, chat, reactions, REST, notifications)"
DEFAULT_REPEATS = 1
ALL_SIZES = {"soak_readers": 1000, "soak_minutes": 1.0}
ALL_REPEATS = 1
MARK = re.compile(r"~(\d+)~(\d+)~(\d+)~")
NOTE_MARK = re.compile(rb"~(\d+)~(\d+)~(\d+)~")
EMOJI = ("👍", "❤️", "😂", "😮", "🔥", "💡")
_decode = msgspec.json.Decoder().decode
ACKS = ("ack_move", "ack_chat", "ack_react")
# every ack also by room kind (ack_move_session, ack_move_club, ...)
LAT_KINDS = ("position", "chat", *ACKS, "notification",
             *(f"{a}_{k}" for a in ACKS for k in ("session", "club")))
REST_KINDS = ("book", "search", "feed", "profile")
REST_P95_MS = soak_verdict.REST_P95_MS


# the options: --soak-<name> (dest soak_<name>) -> (type, default, help)
OPTIONS: dict[str, tuple[type, Any, str]] = {
    "readers": (int, 10_000, "connected readers"),
    "per_room": (int, 8, "readers per session or club"),
    "club_share": (float, 0.2, "share of the rooms that are clubs (the rest: co-reading sessions)"),
    "minutes": (float, 10.0, "minutes measured"),
    "servers": (int, 2, "web processes"),
    "moves": (float, 3.0, "moves per reader per minute"),
    "chats": (float, 0.2, "chats per reader per minute"),
    "reactions": (float, 0.2, "reactions per reader per minute"),
    "notifications": (float, 0.05, "notifications per reader per minute (notify() -> worker)"),
    "rest": (float, 0.5, "REST requests per reader per minute"),
    "rest_mix": (str, "book=40,search=25,feed=20,profile=15", "weights of the REST requests"),
    "rest_conns": (int, 32, "keep-alive REST connections per client process"),
    "books": (int, 10_000, "catalog size to seed"),
    "sample_s": (float, 10.0, "seconds between memory samples (short runs take at least 20)"),
    "cpu_sample_s": (float, 2.0, "seconds between CPU and job-queue samples"),
    "profile_s": (float, 120.0, "with --profile: py-spy the web processes and the worker for "
                                "the first this many seconds"),
    "drain_s": (float, 5.0, "seconds after the end for the last chats and notifications"),
    "history_window": (int, 0, "READALONG_ROOM_HISTORY_TTL_S for the servers and the worker "
                               "(0: the default)"),
}
# --quick: at most (readers, minutes, books), at least (chats, notifications) so something flows
QUICK_AT_MOST = {"readers": 200, "minutes": 0.5, "books": 500}
QUICK_AT_LEAST = {"chats": 1.0, "notifications": 0.5}


def add_arguments(g: Any) -> None:
    for name, (kind, default, text) in OPTIONS.items():
        g.add_argument(f"--soak-{name.replace('_', '-')}", type=kind, default=default, help=text)


def quick(args: Namespace) -> None:
    for name, bound in QUICK_AT_MOST.items():
        setattr(args, f"soak_{name}", min(getattr(args, f"soak_{name}"), bound))
    for name, bound in QUICK_AT_LEAST.items():
        setattr(args, f"soak_{name}", max(getattr(args, f"soak_{name}"), bound))


def params(args: Namespace) -> dict[str, Any]:
    chosen = {name: getattr(args, f"soak_{name}") for name in OPTIONS}
    return {**chosen, "workers": 1, "sample_s": _sample_every(args)}


def _sample_every(args: Namespace) -> float:
    return round(min(args.soak_sample_s, max(1.0, args.soak_minutes * 60 / 20)), 2)


def _mix(spec: str) -> dict[str, float]:
    out = {}
    for part in spec.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in REST_KINDS:
            raise ValueError(f"--soak-rest-mix: unknown kind {name!r} (one of {REST_KINDS})")
        out[name.strip()] = float(weight or 1)
    return out


class _Reader:
    __slots__ = ("chats_seen", "progress", "room", "token", "uid", "ws")

    def __init__(self, uid: int, room: str, token: str) -> None:
        self.uid = uid
        self.room = room
        self.token = token
        self.ws: WSClient | None = None
        self.progress = random.uniform(0.05, 0.5)
        self.chats_seen: set[int] = set()


class SoakAgent:
    """The readers of whole rooms (so losses are counted here) plus this process's REST share."""

    def __init__(self, index: int, ports: list[int]) -> None:
        self.index, self.ports, self.hub = index, ports, Hub()
        self.readers: list[_Reader] = []
        self._reset(-1)

    def _reset(self, run_id: int) -> None:
        """A fresh run: its id (in every mark), latencies, counters, acked chats, chats seen."""
        self.run_id = run_id
        self.lat: dict[str, array.array] = {k: array.array("d") for k in LAT_KINDS}
        self.counts: dict[str, int] = {}
        self.notes_seen: set[int] = set()
        self.drops_at: dict[int, float] = {}
        self.acked: dict[str, list[tuple[int, int]]] = {}  # room -> (message id, author)
        for r in self.readers:
            r.chats_seen = set()

    def _count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def _handler(self, reader: _Reader) -> Any:
        def on_message(ws: WSClient, payload: bytes) -> None:
            head = payload[:60]
            if b'"event"' in head:
                if b'"room":"user:' in head:
                    self._notification(payload)
                    return
                msg = _decode(payload)
                event = msg.get("event")
                self._count(f"event_{event}")
                if event != "chat":
                    return
                data = msg.get("data") or {}
                mid = data.get("id")
                if data.get("author_id") == reader.uid or mid is None:
                    return
                if mid in reader.chats_seen:
                    return
                reader.chats_seen.add(mid)
                m = MARK.search(data.get("body") or "")
                if m and int(m.group(1)) == self.run_id:
                    self.lat["chat"].append(time.time() - int(m.group(3)) / 1e9)
            elif b'"presence"' in head:
                self.lat["position"].extend(common.position_lags(
                    _decode(payload), reader.uid, self.run_id, MARK, time.time()))
            else:
                self.hub.control(ws, payload)
        return on_message

    def _notification(self, payload: bytes) -> None:
        m = NOTE_MARK.search(payload)
        if m is None or int(m.group(1)) != self.run_id:
            self._count("user_events_other")
            return
        seq = int(m.group(2))
        if seq in self.notes_seen:
            self._count("notification_dups")
            return
        self.notes_seen.add(seq)
        self.lat["notification"].append(time.time() - int(m.group(3)) / 1e9)

    async def connect(self, urls: list[str], users: list[int], toks: list[str],
                      rooms: list[str], offset: int) -> dict[str, Any]:
        async def one(i: int) -> None:
            r = _Reader(users[i], rooms[i], toks[i])
            r.ws = await self.hub.open(urls[(offset + i) % len(urls)], toks[i],
                                       on_message=self._handler(r), timeout=120)
            await self.hub.subscribe(r.ws, f"user:{r.uid}", timeout=120)
            await self.hub.subscribe(r.ws, r.room, timeout=120)
            self.readers.append(r)

        t0 = time.monotonic()
        results = await bounded_gather([lambda i=i: one(i) for i in range(len(users))], 200)
        return {"connected": len(self.readers), "errors": common.error_counts(results),
                "elapsed": time.monotonic() - t0}

    async def run(self, run_id: int, duration: float, moves: float, chats: float,
                  reactions: float, rest_rate: float, rest_mix: dict[str, float],
                  rest_paths: dict[str, list[str]], rest_conns: int, drain: float
                  ) -> dict[str, Any]:
        self._reset(run_id)
        errors: dict[str, int] = {}
        cpu = common.CpuWindow()
        stop_at = time.monotonic() + duration
        seq = 0
        tick = 60.0 / max(moves, 1e-9)  # a reader's cadence: one move per tick

        async def command(kind: str, r: _Reader, frame: dict[str, Any]) -> Any:
            assert r.ws is not None
            t = time.monotonic()
            try:
                result = await self.hub.command(r.ws, frame, timeout=30)
            except (TimeoutError, CommandError, OSError) as exc:
                key = f"{kind}:{getattr(exc, 'code', type(exc).__name__)}"
                errors[key] = errors.get(key, 0) + 1
                return None
            took = time.monotonic() - t
            self.lat[kind].append(took)
            self.lat[f"{kind}_{r.room.partition(':')[0]}"].append(took)
            return result

        async def chat(r: _Reader, body: str) -> None:
            result = await command("ack_chat", r, {"type": "publish", "room": r.room,
                                                   "data": {"type": "chat", "body": body}})
            if isinstance(result, dict) and result.get("message_id") is not None:
                self.acked.setdefault(r.room, []).append((int(result["message_id"]), r.uid))

        async def reader_loop(r: _Reader) -> None:
            nonlocal seq
            await asyncio.sleep(random.uniform(0, tick))
            pending: set[asyncio.Future[Any]] = set()
            while time.monotonic() < stop_at and r.ws is not None and r.ws.is_open:
                seq += 1
                r.progress = min(1.0, r.progress + random.uniform(0.0002, 0.001))
                position = {"progression": round(r.progress, 5),
                            "locator": f"~{run_id}~{seq}~{time.time_ns()}~"}
                jobs = [command("ack_move", r, {"type": "presence", "room": r.room, "meta": {
                    "position": position, "state": "active"}})]
                self._count("moves")
                if random.random() < chats / max(moves, 1e-9):
                    seq += 1
                    jobs.append(chat(r, f"soak ~{run_id}~{seq}~{time.time_ns()}~"))
                    self._count("chats")
                if random.random() < reactions / max(moves, 1e-9):
                    jobs.append(command("ack_react", r, {"type": "publish", "room": r.room,
                                                         "data": {"type": "react",
                                                                  "emoji": random.choice(EMOJI),
                                                                  "position": position}}))
                    self._count("reactions")
                for job in jobs:
                    fut = asyncio.ensure_future(job)
                    pending.add(fut)
                    fut.add_done_callback(pending.discard)
                await asyncio.sleep(tick * random.uniform(0.8, 1.2))
            if pending:
                await asyncio.wait(pending, timeout=30)

        rest = asyncio.ensure_future(self._rest(stop_at, rest_rate, rest_mix, rest_paths,
                                                rest_conns))
        watch = asyncio.ensure_future(self._watch_drops(time.monotonic()))
        await asyncio.gather(*(reader_loop(r) for r in self.readers))
        rest_out = await rest
        await asyncio.sleep(drain)  # the last chats and notifications
        watch.cancel()
        return {**self._losses(), **rest_out, "errors": errors, "counts": dict(self.counts),
                "drops_at": sorted(self.drops_at.values()),
                **{f"lat_{k}": v.tobytes() for k, v in self.lat.items()},
                "notifications_seen": len(self.notes_seen),
                "notification_seqs": sorted(self.notes_seen),
                "closed_uids": [r.uid for r in self.readers if r.ws is None or not r.ws.is_open],
                "cpu": cpu.result()}

    async def _watch_drops(self, t0: float, every: float = 2.0) -> None:
        """When each socket was first seen closed (seconds into the run, to `every`)."""
        self.drops_at = {}
        while True:
            now = round(time.monotonic() - t0, 1)
            for r in self.readers:
                if r.uid not in self.drops_at and (r.ws is None or not r.ws.is_open):
                    self.drops_at[r.uid] = now
            await asyncio.sleep(every)

    def _losses(self) -> dict[str, Any]:
        """Every acked chat against every other reader of its room still connected."""
        by_room: dict[str, list[_Reader]] = {}
        for r in self.readers:
            by_room.setdefault(r.room, []).append(r)
        expected = lost = 0
        for room, sent in self.acked.items():
            for reader in by_room.get(room, []):
                if reader.ws is None or not reader.ws.is_open:
                    continue
                for mid, author in sent:
                    if author != reader.uid:
                        expected += 1
                        lost += mid not in reader.chats_seen
        closes: dict[str, int] = {}
        for r in self.readers:
            if r.ws is not None and not r.ws.is_open:
                key = f"{r.ws.close_code} {r.ws.close_reason}".strip()
                closes[key] = closes.get(key, 0) + 1
        return {"chat_deliveries_expected": expected, "chats_lost": lost,
                "chats_acked": sum(len(v) for v in self.acked.values()),
                "alive": sum(1 for r in self.readers if r.ws is not None and r.ws.is_open),
                "closes": closes}

    async def _rest(self, stop_at: float, rate: float, mix: dict[str, float],
                    paths: dict[str, list[str]], n_conns: int) -> dict[str, Any]:
        """Open-loop Poisson arrivals at `rate`/s over `n_conns` keep-alive connections."""
        lat = {k: array.array("d") for k in REST_KINDS}
        statuses: dict[str, int] = {}
        failures = 0
        idle: asyncio.Queue[HTTPConn] = asyncio.Queue()
        conns = [HTTPConn(self.ports[i % len(self.ports)]) for i in range(n_conns)]
        for c in conns:
            idle.put_nowait(c)
        kinds, weights = list(mix), list(mix.values())
        tasks: set[asyncio.Future[Any]] = set()

        issued = 0

        async def one(kind: str, due: float) -> None:
            nonlocal failures
            conn = await idle.get()
            path = random.choice(paths[kind])
            headers = ""
            if kind in ("feed", "profile") and self.readers:
                headers = f"Authorization: Bearer {random.choice(self.readers).token}\r\n"
            try:
                status, _ = await conn.get(path, timeout=30, headers=headers)
                lat[kind].append(time.monotonic() - due)
                key = f"{kind} {status}"
                statuses[key] = statuses.get(key, 0) + 1
            except (TimeoutError, OSError, ValueError):
                failures += 1
                await conn.close()
            finally:
                idle.put_nowait(conn)

        due = time.monotonic()
        while rate > 0:
            due += random.expovariate(rate)
            if due >= stop_at:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            issued += 1
            fut = asyncio.ensure_future(one(random.choices(kinds, weights)[0], due))
            tasks.add(fut)
            fut.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=60)
        for c in conns:
            await c.close()
        return {**{f"rest_{k}": v.tobytes() for k, v in lat.items()},
                "rest_statuses": statuses, "rest_failures": failures, "rest_issued": issued}

    async def close(self) -> dict[str, Any]:
        await asyncio.gather(*(r.ws.close(timeout=2) for r in self.readers if r.ws),
                             return_exceptions=True)
        self.readers = []
        return {}


def pss_tree(pid: int) -> int:
    """Proportional set size of a process and its children (PostgreSQL's backends share their
    buffers: summing RSS would count the shared memory once per backend)."""
    import psutil

    total = 0
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_full_info().pss
        except (psutil.Error, AttributeError):
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
    return total


async def _make_clubs(database_url: str, groups: list[list[int]], books: list[int]
                      ) -> list[int]:
    """One private club per group of users (the first its owner), reading one catalog book."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        tag = f"{random.getrandbits(32):08x}"
        owners = [g[0] for g in groups]
        rows = await conn.fetch(
            "INSERT INTO clubs (slug, name, visibility, join_policy, owner_id, book_id) "
            "SELECT 'soak-' || $1 || '-' || i, 'Soak club ' || i, 'private', 'open', o, b "
            "FROM unnest($2::bigint[], $3::bigint[]) WITH ORDINALITY AS t(o, b, i) "
            "ORDER BY i RETURNING id", tag, owners,
            [books[i % len(books)] for i in range(len(groups))])
        clubs = [int(r["id"]) for r in rows]
        pairs = [(c, u, "owner" if j == 0 else "member")
                 for c, g in zip(clubs, groups, strict=True) for j, u in enumerate(g)]
        await conn.executemany("INSERT INTO club_members (club_id, user_id, role) "
                               "VALUES ($1, $2, $3)", pairs)
        return clubs
    finally:
        await conn.close()


_VECTOR_PROBE = "SELECT vector_norm(array_fill(1, ARRAY[256])::real[]::vector)"


def _settle_catalog(stack: Stack) -> str:
    """Embed the seeded catalog before the measured window (a day in the life has a steady
    catalog: the worker's embedding sweep of 10,000 fresh books is setup, not load). When this
    machine's pgvector cannot compute a norm (an AVX-512 build on a CPU without it: the backend
    dies of SIGILL and PostgreSQL restarts every connection), the sweep is marked done instead,
    or the worker's cron would crash PostgreSQL every 30 s of the run. Says which, for the
    notes."""
    import asyncpg
    import redis as redis_sync

    from domain.ai import vectors
    from domain.ai.embed import WordLlamaEmbedder
    from domain.db import Database

    async def go() -> str:
        conn = await asyncpg.connect(stack.database_url)
        try:
            await conn.fetchval(_VECTOR_PROBE)
            works = True
        except (asyncpg.PostgresConnectionError, ConnectionError, OSError):
            works = False
        finally:
            with contextlib.suppress(Exception):
                await conn.close()
        if not works:
            for _ in range(100):  # PostgreSQL's crash recovery: back in well under a second
                await asyncio.sleep(0.2)
                with contextlib.suppress(Exception):
                    c = await asyncpg.connect(stack.database_url)
                    version = int(await c.fetchval("SELECT version FROM catalog_state"
                                                   " WHERE id = 1"))
                    await c.close()
                    break
            r = redis_sync.Redis.from_url(stack.redis_url)
            r.set(vectors.SWEPT_KEY + WordLlamaEmbedder.model_id, version)
            r.close()
            return ("pgvector crashes this CPU's PostgreSQL (vector_norm: SIGILL, an AVX-512 "
                    "build): the catalog was not embedded and its sweep marked done")
        from redis.asyncio import Redis

        db, redis = Database(stack.database_url, pool_size=2), Redis.from_url(stack.redis_url)
        await db.connect()
        try:
            t0 = time.monotonic()
            done = await vectors.embed_catalog(db, redis, WordLlamaEmbedder())
            return f"catalog embedded before the run: {done} books in {time.monotonic() - t0:.0f} s"
        finally:
            await redis.aclose()
            await db.close()

    return asyncio.run(go())


def _queue_depth(stack: Stack) -> Any:
    """A callable for the sampler thread: the arq queue's length (jobs waiting or deferred)."""
    import redis

    from domain.keys import ARQ_QUEUE

    client = redis.Redis.from_url(stack.redis_url, socket_timeout=2)
    return lambda: int(client.zcard(ARQ_QUEUE))


def _redis_used_mb(stack: Stack) -> Any:
    """A callable for the sampler thread: Redis's dataset and overhead, `used_memory` (MB)."""
    import redis

    client = redis.Redis.from_url(stack.redis_url, socket_timeout=2)
    return lambda: int(client.info("memory")["used_memory"]) / 2**20


def _pg_shared_mb(stack: Stack) -> float | None:
    """PostgreSQL's main shared memory segment (`shared_memory_size`, MB): what its backends'
    shared pages are bounded by."""
    import asyncpg

    async def go() -> float | None:
        conn = await asyncpg.connect(stack.database_url)
        try:
            raw = await conn.fetchval("SELECT setting FROM pg_settings"
                                      " WHERE name = 'shared_memory_size'")
            return float(raw) if raw else None  # (its unit is MB)
        finally:
            await conn.close()

    try:
        return asyncio.run(go())
    except Exception:  # an older PostgreSQL: no bound stated, the shared part not judged
        return None


def _jobs_done(stack: Stack) -> tuple[float, int] | None:
    """(when, jobs the worker has finished: complete + failed + retried) from its heartbeat, which
    it writes every few seconds; None without one."""
    import json

    import redis

    from domain.keys import WORKER_HEARTBEAT

    client = redis.Redis.from_url(stack.redis_url, socket_timeout=2)
    try:
        raw = client.get(WORKER_HEARTBEAT)
    except redis.RedisError:
        return None
    finally:
        client.close()
    if not raw:
        return None
    beat = json.loads(raw)
    return float(beat["at"]), sum(int(beat.get(k, 0)) for k in ("complete", "failed", "retried"))


def _commands_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)}


def _handles(stack: Stack, n: int) -> list[str]:
    import asyncpg

    async def go() -> list[str]:
        conn = await asyncpg.connect(stack.database_url)
        try:
            rows = await conn.fetch("SELECT handle FROM users WHERE handle LIKE 'bench%' "
                                    "ORDER BY id LIMIT $1", n)
            return [str(r["handle"]) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(go())


def _rest_paths(stack: Stack, base_url: str, handles: list[str]) -> dict[str, list[str]]:
    ids, words = _catalog_sample(stack)
    book_t, search_t = _discover(base_url)
    book_t = book_t or "/api/v1/books/{id}"
    search_t = search_t or "/api/v1/books?q={q}"
    rng = random.Random(17)
    return {"book": [book_t.format(id=i) for i in ids[:1000]],
            "search": [search_t.format(q=(w if rng.random() < 0.5 else w[:3]))
                       for w in rng.sample(words, min(300, len(words)))],
            "feed": ["/api/v1/feed?limit=20"],
            "profile": [f"/api/v1/users/{h}" for h in handles]}


def _rooms(stack: Stack, args: Namespace, users: list[int]) -> list[str]:
    """Each reader's room: whole rooms of --soak-per-room readers, clubs first."""
    per = args.soak_per_room
    n_rooms = max(1, len(users) // per)
    n_clubs = round(n_rooms * args.soak_club_share)
    groups = [users[i * per:(i + 1) * per] for i in range(n_rooms)]
    groups[-1] += users[n_rooms * per:]
    names: list[str] = []
    if n_clubs:
        ids, _ = _catalog_sample(stack)
        clubs = asyncio.run(_make_clubs(stack.database_url, groups[:n_clubs], ids[:200]))
        names += [f"club:{c}" for c in clubs]
    if n_rooms > n_clubs:
        sids = make_sessions(stack, [g[0] for g in groups[n_clubs:]])
        names += [f"session:{s}" for s in sids]
    return [names[i] for i, g in enumerate(groups) for _ in g]


def _procs(args: Namespace, readers: int) -> int:
    nofile = raise_nofile()
    return max(args.client_procs, math.ceil(readers / 5000),
               math.ceil(readers / max(1000, nofile - 1000)))


def _split_rooms(rooms: list[str], procs: int) -> list[tuple[int, int]]:
    """[start, end) reader ranges, one per client process, never cutting a room in two."""
    bounds, at = [], 0
    for i in range(procs):
        end = len(rooms) if i == procs - 1 else max(at, round(len(rooms) * (i + 1) / procs))
        while 0 < end < len(rooms) and rooms[end] == rooms[end - 1]:
            end += 1
        bounds.append((at, end))
        at = end
    return bounds


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    n = args.soak_readers
    duration = args.soak_minutes * 60
    mix = _mix(args.soak_rest_mix)
    stack.start_engines()
    t_seed = time.monotonic()
    _seed(stack, args.soak_books)
    users = ensure_users(stack, n + 1)
    actor, users = users[0], users[1:n + 1]
    toks = tokens(stack, users, ttl=int(duration) + 3600)
    handles = _handles(stack, min(n, 2000))
    runs: list[dict[str, Any]] = []
    notes: list[str] = []
    for r in range(repeats):
        stack.flush_redis()
        notes.append(f"run {r + 1} {_settle_catalog(stack)}")
        rooms = _rooms(stack, args, users)
        setup_s = time.monotonic() - t_seed
        window = ({"READALONG_ROOM_HISTORY_TTL_S": str(args.soak_history_window)}
                  if args.soak_history_window else {})
        servers = stack.start_servers(args.soak_servers, **window)
        worker = stack.start_worker(**window)
        urls = [s.ws_url for s in servers]
        paths = _rest_paths(stack, servers[0].base_url, handles)
        procs = _procs(args, n)
        bounds = _split_rooms(rooms, procs)
        pool = stack.pool("load.scenarios.soak:SoakAgent", procs,
                          init={"ports": [s.port for s in servers]})
        prod = stack.pool("load.scenarios.notifications:NotifyProducer", 1,
                          init={"database_url": stack.database_url,
                                "redis_url": stack.redis_url})
        try:
            t0 = time.monotonic()
            targets = []
            for i, (a, b) in enumerate(bounds):
                targets += pool.send("connect", {"urls": urls, "users": users[a:b],
                                                 "toks": toks[a:b], "rooms": rooms[a:b],
                                                 "offset": a}, only=[i])
            conn = pool.gather(targets, 1800)
            connect_s = time.monotonic() - t0
            joined = sum(x["connected"] for x in conn)
            errs = common.merge_counts(conn, "errors")
            if joined < n:
                notes.append(f"run {r + 1}: {n - joined} readers failed to join: {errs}")
            if joined == 0:
                raise RuntimeError(f"no reader could join: {errs}")
            print(f"   soak run {r + 1}: {joined}/{n} readers in {len(set(rooms))} rooms joined "
                  f"in {connect_s:.0f} s; running {args.soak_minutes:g} min", flush=True)
            sampler = soak_series.Sampler({
                **{f"web{i}": (lambda s=s: s.pid, False) for i, s in enumerate(servers)},
                "worker": (lambda: worker.pid, False),
                "redis": (lambda: stack.redis_pid, False),
                "postgres": (lambda: stack.postgres_pid, True)},
                args.soak_cpu_sample_s, _sample_every(args), duration,
                rss_of=lambda pid, tree: pss_tree(pid) if tree else rss(pid),
                queue_depth=_queue_depth(stack),
                cpus=stack.pinning.servers or sorted(os.sched_getaffinity(0)),
                gauges={"redis_used": _redis_used_mb(stack)}).start()
            profiler = None
            if args.profile:
                from load.profile import Profiler

                profiler = Profiler([p for p in [*(s.pid for s in servers), worker.pid] if p],
                                    min(duration, args.soak_profile_s), "soak",
                                    stack.pinning.clients).start()
            meter = stack.meter(pool)
            meter.groups["worker"] = (lambda: [worker.pid] if worker.pid else [], False)
            meter.start()
            commands0 = stack.redis_calls()
            jobs0 = _jobs_done(stack)
            rest_rate = args.soak_rest * n / 60
            targets = []
            for i, (a, b) in enumerate(bounds):
                targets += pool.send("run", {
                    "run_id": r + 1, "duration": duration, "moves": args.soak_moves,
                    "chats": args.soak_chats, "reactions": args.soak_reactions,
                    "rest_rate": rest_rate * (b - a) / n, "rest_mix": mix, "rest_paths": paths,
                    "rest_conns": args.soak_rest_conns, "drain": args.soak_drain_s},
                    only=[i])
            note_rate = args.soak_notifications * n / 60
            produced = None
            if note_rate > 0:
                p = prod.call("produce", {
                    "run": r + 1, "recipients": [users[a:b] for a, b in bounds],
                    "actor": actor, "rate": note_rate, "duration": duration},
                    timeout=duration + 300)
                produced = p[0]
            out = pool.gather(targets, duration + 600)
            m = meter.stop()
            by_command = _commands_delta(commands0, stack.redis_calls())
            jobs1 = _jobs_done(stack)
            commands = sum(by_command.values())
            sampler.stop()
            series = sampler.memory
            fig = _figures(out, m, joined, n, produced, duration)
            if profiler is not None:
                notes.append("\n    ".join(profiler.finish()))
            drops = sorted(t for x in out for t in x.get("drops_at", []))
            more, series_notes = soak_series.summary(
                sampler, len(stack.pinning.servers or os.sched_getaffinity(0)), drops,
                [f"web{i}" for i in range(len(servers))])
            fig.update(more)
            notes += [f"run {r + 1} {line}" for line in series_notes]
            fig["connect_s"] = round(connect_s, 1)
            fig["setup_s"] = round(setup_s, 1)
            events = (fig["moves_per_s"] + fig["chats_per_s"] + fig["reactions_per_s"]) * duration
            fig["redis_commands_per_s"] = round(commands / duration, 1)
            fig["redis_commands_per_event"] = round(commands / max(events, 1), 2)
            # MULTI/EXEC/s: arq's enqueues, feed rebuilds and the worker's own steps (upper bound)
            fig["redis_exec_per_s"] = round(by_command.get("exec", 0) / duration, 1)
            if jobs0 and jobs1 and jobs1[0] > jobs0[0]:  # counted by the worker itself
                fig["worker_jobs_per_s"] = round((jobs1[1] - jobs0[1]) / (jobs1[0] - jobs0[0]), 2)
            top = sorted(by_command.items(), key=lambda kv: -kv[1])[:10]
            notes.append(f"run {r + 1} Redis commands/s by command: " + ", ".join(
                f"{k} {v / duration:.1f}" for k, v in top))
            mem, mem_notes = soak_memory.memory_figures(series, sampler.parts, sampler.gauges,
                                                        _pg_shared_mb(stack))
            fig.update(mem)
            fig["rooms"] = len(set(rooms))
            fig["criteria_met"], verdict_lines = soak_verdict.verdict(fig)
            notes[:0] = [f"run {r + 1} {line}" for line in verdict_lines]
            notes += mem_notes
            errors = common.merge_counts(out, "errors")
            closes = common.merge_counts(out, "closes")
            if errors:
                notes.append(f"run {r + 1} command errors: {errors}")
            if closes:
                notes.append(f"run {r + 1} sockets closed by the server: {closes}")
            if produced and produced["errors"]:
                notes.append(f"run {r + 1} notify() errors: {produced['errors']}")
            notes.append(f"run {r + 1} REST answers: {common.merge_counts(out, 'rest_statuses')}")
            # the whole series go in the report's JSON
            fig["memory_series"] = series
            fig["memory_parts_series"] = sampler.parts
            fig["memory_gauge_series"] = sampler.gauges
            notes.append(f"run {r + 1} memory (s:MB, every {max(1, len(series['web0']) // 12)}"
                         " th sample): " + "; ".join(
                             f"{k} " + " ".join(f"{t:.0f}:{v:.0f}" for t, v in
                                                s[::max(1, len(s) // 12)])
                             for k, s in series.items()))
            print(f"   soak run {r + 1}: " + ("PASSED" if fig["criteria_met"] else "FAILED")
                  + "\n     " + "\n     ".join(verdict_lines), flush=True)
            runs.append(fig)
        finally:
            for client_pool in (prod, pool):
                stack.close_pool(client_pool)
            stack.stop_child(worker)
            stack.stop_servers()
    notes.append(
        f"{n} readers in rooms of {args.soak_per_room} ({args.soak_club_share:.0%} clubs, the "
        f"rest co-reading sessions) on {args.soak_servers} web processes + 1 worker; per reader "
        f"per minute: {args.soak_moves:g} moves, {args.soak_chats:g} chats, "
        f"{args.soak_reactions:g} reactions, {args.soak_notifications:g} notifications, "
        f"{args.soak_rest:g} REST requests ({args.soak_rest_mix}); REST latency is from when "
        "each request was due (open loop); memory is judged flat when the least-squares growth "
        "over the last half is within max(2 × the samples' residual SD, 1 % of the mean), on "
        "each process's private (anonymous) memory and Redis's used_memory, PostgreSQL's shared "
        "memory against its segment (soak_memory)")
    headline = [("joined", "readers connected"), ("rooms", "rooms (sessions + clubs)"),
                ("criteria_met", "ALL CRITERIA MET (1 = yes)"),
                ("rest_p95_all_ms", f"REST p95 ms, misses counted (criterion < {REST_P95_MS:g})"),
                ("rest_p95_ms", "  REST p95 ms of the answers"),
                ("rest_failures", "  REST requests failed (time-out, connection)"),
                ("rest_unanswered", "  REST requests never answered by the end"),
                ("rest_p99_ms", "  REST p99 ms"), ("rest_per_s", "  REST requests/s"),
                ("rest_non_2xx", "  REST non-2xx answers"),
                ("sockets_dropped", "sockets dropped (criterion 0)"),
                ("chats_lost", "chat deliveries lost (criterion 0)"),
                ("chat_deliveries_expected", "  chat deliveries expected"),
                ("notifications_lost", "notifications lost (criterion 0)"),
                ("notifications_lost_connected", "  to readers still connected"),
                ("notifications_lost_closed", "  to closed sockets (dropped or never joined)"),
                ("memory_flat", "memory flat over the last half (1 = yes)")]
    for kind in REST_KINDS:
        headline.append((f"rest_{kind}_p95_ms", f"  REST {kind} p95 ms"))
    headline += [("moves_per_s", "moves/s"), ("chats_per_s", "chats/s"),
                 ("reactions_per_s", "reactions/s"), ("notifications_per_s", "notifications/s"),
                 ("position_p99_ms", "position seen by others p99 ms"),
                 ("chat_p99_ms", "chat seen by others p99 ms"),
                 ("ack_move_p99_ms", "move ack p99 ms"),
                 ("ack_move_session_p99_ms", "  in sessions p99 ms"),
                 ("ack_move_club_p99_ms", "  in clubs p99 ms"),
                 ("ack_chat_p99_ms", "chat ack p99 ms"),
                 ("ack_chat_session_p99_ms", "  in sessions p99 ms"),
                 ("ack_chat_club_p99_ms", "  in clubs p99 ms"),
                 ("ack_react_p99_ms", "reaction ack p99 ms"),
                 ("notification_p99_ms", "notification created → socket p99 ms"),
                 ("command_errors", "command errors"),
                 ("saturated_at_s", "server side saturated from (s; -1 = never)"),
                 ("first_drop_s", "first socket dropped at (s)"),
                 ("server_cpus_busy", "server CPUs busy, anyone's (cores)"),
                 ("server_cpus_ours", "  of which the soak's server side"),
                 ("queue_depth_max", "arq queue depth, max"),
                 ("queue_depth_end", "arq queue depth at the end"),
                 ("redis_commands_per_event", "Redis commands per room event (all clients)"),
                 ("redis_exec_per_s", "  MULTI/EXEC per second (arq's enqueues and more)"),
                 ("worker_jobs_per_s", "jobs the worker finished per second (its heartbeat)"),
                 ("servers_cpu_util", "web processes CPU (cores)"),
                 ("worker_cpu_util", "worker CPU (cores)"), ("redis_cpu_util", "Redis CPU"),
                 ("postgres_cpu_util", "PostgreSQL CPU"),
                 ("client_cpu_max_util", "busiest client process")]
    return [{"title": f"soak: {n} readers, {args.soak_minutes:g} min", "runs": runs,
             "headline": headline, "notes": notes + common.saturation_note(runs)}]


def _figures(out: list[dict[str, Any]], m: dict[str, Any], joined: int, n: int,
             produced: dict[str, Any] | None, wall: float) -> dict[str, Any]:
    counts = common.merge_counts(out, "counts")
    statuses = common.merge_counts(out, "rest_statuses")
    rest_all: list[float] = []
    fig: dict[str, Any] = {"readers": n, "joined": joined}
    for kind in REST_KINDS:
        lat = common.unpack([x[f"rest_{kind}"] for x in out])
        rest_all += lat
        fig.update(latency_summary(lat, f"rest_{kind}_"))
    fig.update(latency_summary(rest_all, "rest_"))
    issued = sum(x.get("rest_issued", 0) for x in out)
    fig["rest_issued"] = issued
    fig["rest_unanswered"] = max(0, issued - len(rest_all)
                                 - sum(x["rest_failures"] for x in out))
    fig["rest_per_s"] = round(len(rest_all) / wall, 1)
    fig["rest_non_2xx"] = sum(v for k, v in statuses.items() if not k.split()[-1].startswith("2"))
    fig["rest_failures"] = sum(x["rest_failures"] for x in out)
    fig["rest_p95_all_ms"] = round(soak_verdict.p95_with_misses(
        rest_all, fig["rest_failures"] + fig["rest_unanswered"]), 2)
    for kind in LAT_KINDS:
        fig.update(latency_summary(common.unpack([x[f"lat_{kind}"] for x in out]), f"{kind}_"))
    alive = sum(x["alive"] for x in out)
    fig["alive_at_end"] = alive
    fig["sockets_dropped"] = joined - alive
    fig["chats_acked"] = sum(x["chats_acked"] for x in out)
    fig["chat_deliveries_expected"] = sum(x["chat_deliveries_expected"] for x in out)
    fig["chats_lost"] = sum(x["chats_lost"] for x in out)
    stored = sum(produced["stored_per_proc"]) if produced else 0
    seen = sum(x["notifications_seen"] for x in out)
    fig["notifications_stored"] = stored
    fig["notifications_lost"] = max(0, stored - seen)
    if produced and "stored" in produced:  # split by whether the reader was still connected
        connected, closed = soak_verdict.notification_losses(
            [(int(q), int(u)) for q, u in produced["stored"]],
            {q for x in out for q in x.get("notification_seqs", [])},
            {u for x in out for u in x.get("closed_uids", [])})
        fig["notifications_lost"] = connected + closed
        fig["notifications_lost_connected"], fig["notifications_lost_closed"] = connected, closed
    fig["notifications_not_stored"] = (produced["sent"] - stored) if produced else 0
    fig["chats_sent"] = counts.get("chats", 0)
    fig["command_errors"] = sum(common.merge_counts(out, "errors").values())
    for key in ("moves", "chats", "reactions"):
        fig[f"{key}_per_s"] = round(counts.get(key, 0) / wall, 1)
    fig["notifications_per_s"] = round(stored / wall, 2)
    fig["worker_cpu_util"] = m.get("worker", {}).get("cpu_util", 0.0)
    fig.update(common.process_figures(m))
    fig.update(common.client_figures(out))
    return fig
