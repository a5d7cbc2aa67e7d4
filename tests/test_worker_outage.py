"""The worker through a Redis restart: a real `readalong worker` process keeps running, and
every notification of a burst cut by the restart reaches the reader's socket, the `since`
replay and the mailbox exactly once."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from redis.asyncio import Redis

from domain.db import Database
from domain.jobqueue import enqueue
from domain.notifications.service import notify
from server.engines import EmbeddedEngines, stop_process
from tests.accounts_helpers import UserSession, register
from tests.fixture_helpers import copy_pg_folder
from tests.hub_support import Client
from tests.support import ServerProcess, eventually, server_env
from tests.worker_helpers import (
    db_and_redis,
    run_worker,
    smtp_server,
    spawn_worker,
    worker_settings,
)

BEFORE, AFTER = 300, 40  # notifications stored before the restart and after it


class Reader:
    """Bea's socket on her `user:` room: collects notification ids; if the socket drops it
    comes back with `since` (the README's recovery), so nothing it missed is lost."""

    def __init__(self, url: str, user_id: int) -> None:
        self.url, self.user_id, self.room = url, user_id, f"user:{user_id}"
        self.ids: list[int] = []
        self.position: dict[str, Any] = {}
        self.reconnects = 0
        self.last_ack: dict[str, Any] = {}

    async def connect(self, since: dict[str, Any] | None = None) -> Client:
        client = await Client.login(self.url, self.user_id, origin=None)
        ack = await client.ok("subscribe", room=self.room, **({"since": since} if since else {}))
        self.last_ack = ack
        if since is None:
            self.position = {"epoch": ack["epoch"], "offset": ack["offset"]}
        return client

    async def run(self, client: Client) -> None:
        while True:
            try:
                frame = await client.recv(timeout=120)
            except websockets.ConnectionClosed:
                self.reconnects += 1
                client = await eventually(self._reconnect, timeout=30, interval=0.2)
                continue
            if frame["type"] == "event" and frame["room"] == self.room:
                self.position = {"epoch": frame["epoch"], "offset": frame["offset"]}
                if frame["event"] == "notification":
                    self.ids.append(int(frame["data"]["notification"]["id"]))

    async def _reconnect(self) -> Client | None:
        try:
            return await self.connect(since=self.position)
        except (OSError, AssertionError, websockets.WebSocketException):
            return None


async def _burst(db: Database, redis: Any, ana: UserSession, bea: UserSession, n: int,
                 tag: str) -> list[int]:
    ids = []
    for i in range(n):
        nid = await notify(db, redis, recipient_id=bea.id, type="mention", actor_id=ana.id,
                           target_kind="room", target_id=f"lobby:{tag}{i}")
        assert nid is not None
        ids.append(nid)
    return ids


async def _delivered(db: Database, ids: list[int]) -> int:
    return int(await db.pool.fetchval(
        "SELECT count(*) FROM notifications WHERE id = ANY($1::bigint[])"
        " AND delivered_at IS NOT NULL", ids))


async def _scenario(tmp: Path, engines: EmbeddedEngines, env: dict[str, str]) -> None:
    server = ServerProcess(env, log_dir=tmp).start()
    db = Database(env["DATABASE_URL"], pool_size=4)
    await db.connect()
    redis = Redis.from_url(env["REDIS_URL"])
    worker_log = tmp / "worker.log"
    worker: subprocess.Popen[bytes] | None = None
    try:
        async with smtp_server() as (box, smtp_port), \
                httpx.AsyncClient(base_url=server.base_url, timeout=20) as http:
            ana = await register(http, "out", prefix="ana")
            bea = await register(http, "out", prefix="bea")
            worker = spawn_worker({**env, "READALONG_SMTP_PORT": str(smtp_port)}, worker_log)
            reader = Reader(server.ws_url, bea.id)
            first = await reader.connect()
            start = dict(reader.position)
            listening = asyncio.create_task(reader.run(first))

            ids = await _burst(db, redis, ana, bea, BEFORE, "a")
            await eventually(lambda: _delivered(db, ids), timeout=60)
            engines.redis.stop()  # SIGTERM: Redis saves its snapshot and exits
            cut_at = await _delivered(db, ids)
            assert cut_at < BEFORE, "the restart came after the burst: nothing was cut"

            async def worker_noticed() -> bool:
                return "worker lost Redis" in worker_log.read_text(errors="replace")

            await eventually(worker_noticed, timeout=30)
            engines.redis.start()
            assert worker.poll() is None, worker_log.read_text()[-3000:]

            async def worker_back() -> bool:
                return "worker reconnected to Redis" in worker_log.read_text(errors="replace")

            await eventually(worker_back, timeout=60, interval=0.2)
            # a fresh producer client: redis-py's idle pooled connection fails its first command
            # after a restart (the web process's client checks idle connections first)
            producer = Redis.from_url(env["REDIS_URL"])
            try:
                ids += await _burst(db, producer, ana, bea, AFTER, "b")
                (last,) = await _burst(db, producer, ana, bea, 1, "z")
            finally:
                await producer.aclose()

            async def all_delivered_and_mailed() -> bool:
                states = dict(await db.pool.fetch(
                    "SELECT (delivered_at IS NOT NULL) || ':' || email_state, count(*)"
                    " FROM notifications WHERE id = ANY($1::bigint[]) GROUP BY 1", [*ids, last]))
                assert states == {"true:sent": len(ids) + 1}, states
                return True

            await eventually(all_delivered_and_mailed, timeout=90, interval=0.2)

            # the worker runs jobs concurrently, so the last id created need not be the last one
            # published: wait until every one is on the socket
            expected = sorted([*ids, last])

            async def all_arrived() -> bool:
                return set(expected) <= set(reader.ids)

            await eventually(all_arrived, timeout=30)
            listening.cancel()
            live = sorted(reader.ids)

            replay = await reader.connect(since=start)
            assert reader.last_ack["recovered"] is True
            replayed: list[int] = []
            while len(replayed) < len(expected):
                frame = await replay.expect(lambda f: f["type"] == "event"
                                            and f["event"] == "notification", timeout=15)
                replayed.append(int(frame["data"]["notification"]["id"]))
            assert sorted(replayed) == expected, "since: missing or duplicated"
            assert live == expected, (
                f"live: missing {set(ids) - set(live)}, {len(live) - len(set(live))} duplicated"
                f" ({reader.reconnects} reconnects; {cut_at} delivered before the cut)")
            await replay.close()

            assert len(box.to(bea.email)) == len(ids) + 1, "emails: missing or duplicated"
            assert worker.poll() is None, "the worker died"
    finally:
        if worker is not None:
            assert stop_process(worker, timeout=20) == 0, worker_log.read_text()[-3000:]
        await redis.aclose()
        await db.close()
        server.stop()


@pytest.mark.timeout(240)
def test_worker_rides_out_a_redis_restart_mid_burst(tmp_path: Path, pg_template: Path) -> None:
    """Redis restarts while the worker is delivering a burst: the same worker process carries
    on (it logs losing Redis and reconnecting), and every notification, cut or not, is on the
    reader's socket, in the `since` replay and in the mailbox exactly once."""
    copy_pg_folder(pg_template, tmp_path)  # migrated to head
    engines = EmbeddedEngines(tmp_path, pg_options={"fsync": "off"}, persist_redis=True)
    db_url, redis_url = engines.start()
    try:
        env = server_env(db_url, redis_url, READALONG_HISTORY_SIZE="2000",
                         READALONG_USER_HISTORY_SIZE="2000", READALONG_JOB_RETRY_DELAY="0.05",
                         READALONG_DATA_DIR=str(tmp_path),
                         READALONG_WORKER_RECONNECT_MAX="0.5")
        asyncio.run(_scenario(tmp_path, engines, env))
    finally:
        engines.stop()


async def test_sweep_requeues_email_jobs_lost_with_redis_data(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """A notification delivered before Redis restarted without its data has lost its email job:
    the minute sweep queues it again and the email goes out, once, even if the sweep runs twice."""
    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    async with db_and_redis(engines) as (db, redis), smtp_server() as (box, port):
        # stored and delivered, its email job queued to a Redis that then lost its data
        nid = await notify(db, None, recipient_id=bea.id, type="mention", actor_id=ana.id,
                           target_kind="room", target_id=f"lobby:{unique}")
        await db.pool.execute("UPDATE notifications SET delivered_at = now() WHERE id = $1", nid)
        settings = worker_settings(engines, READALONG_SMTP_PORT=str(port))
        for n in range(2):
            later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
            await enqueue(redis, "due_sweep", later, job_id=f"test-lost-{nid}-{n}")
            await run_worker(settings)
            assert await db.pool.fetchval(
                "SELECT email_state FROM notifications WHERE id = $1", nid) == "sent"
        assert len(box.to(bea.email)) == 1
