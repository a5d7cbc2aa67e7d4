"""An arq Worker that rides out Redis outages and writes a heartbeat the web process reports.

arq's own loop raises out of `Worker.main` on the first Redis error (while polling, in the
cron and health writes, when a running job finishes) and again in `close()`. Here:

- a poll iteration that fails on Redis waits for Redis with exponential backoff (capped at
  `reconnect_max`), logs once when it goes and once when it is back, and carries on;
- a job whose own Redis bookkeeping fails mid-run (arq's start or finish pipeline) is not
  lost: after the reconnect its in-progress mark is dropped so it runs again at once instead
  of in `job_timeout + 10` s (every job is safe to run twice, see README "The worker");
- claiming a job is one Lua call (arq's claim is WATCH/EXISTS/ZSCORE/MULTI/PSETEX/EXEC, four
  round trips), and releases the concurrency slot it took when Redis fails under it (arq's own
  `start_jobs` leaks the slot, so each outage would shrink the worker);
- the first connection waits for Redis the same way instead of giving up after five tries;
- `close()` still shuts the database pool when Redis is gone.

The overridden methods are arq 0.28's (`pyproject.toml` pins `arq<0.29`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import time
from typing import Any

import redis.exceptions
from arq.connections import create_pool
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker

from domain.keys import WORKER_HEARTBEAT
from domain.ops.metrics import count_reconnect
from jobs.ops import note_beat

log = logging.getLogger("readalong.worker")

# what a Redis restart or a cut connection raises (BusyLoadingError, raised while Redis loads
# its snapshot after a restart, is a ConnectionError; redis-py turns a ConnectionError under a
# WATCH into a WatchError)
REDIS_DOWN: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
    redis.exceptions.WatchError, ConnectionError, asyncio.TimeoutError)
FIRST_DELAY = 0.05

# KEYS: the job's in-progress key, the queue. ARGV: job id, now (ms), in-progress ttl (ms).
# The job's score when it was due and not running elsewhere (now marked running), else nil.
CLAIM_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) == 0 or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('PSETEX', KEYS[1], ARGV[3], '1')
return score
"""


class ResilientWorker(Worker):
    """arq's Worker, plus reconnects, safe job claiming and a heartbeat (see the module doc)."""

    def __init__(self, *args: Any, worker_id: str = "", heartbeat: float = 5.0,
                 reconnect_max: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.worker_id = worker_id or f"{os.uname().nodename}:{os.getpid()}"
        self.heartbeat_s = heartbeat
        self.reconnect_max = reconnect_max
        self.reconnects = 0
        self._next_beat = 0.0
        self._orphans: set[str] = set()
        self._claim_script: Any = None

    # --- connecting -------------------------------------------------------------------------

    async def main(self) -> None:
        if self._pool is None:
            self._pool = await self._first_connection()
        await super().main()

    async def _first_connection(self) -> Any:
        assert self.redis_settings is not None
        once = dataclasses.replace(self.redis_settings, conn_retries=0)
        delay, since = FIRST_DELAY, time.monotonic()
        while True:
            try:
                pool = await create_pool(
                    once, job_serializer=self.job_serializer,
                    job_deserializer=self.job_deserializer, default_queue_name=self.queue_name,
                    expires_extra_ms=self.expires_extra_ms)
            except (TimeoutError, OSError, redis.exceptions.RedisError) as exc:
                if delay == FIRST_DELAY:
                    log.warning("worker cannot reach Redis (%s: %s); retrying with backoff",
                                type(exc).__name__, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_max)
                continue
            if delay != FIRST_DELAY:
                log.warning("worker reached Redis after %.1fs", time.monotonic() - since)
            return pool

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
            if self._orphans:  # a job that hit a stale connection after the reconnect
                await self._release_orphans()
        except REDIS_DOWN as exc:
            await self._reconnect(exc)

    async def _reconnect(self, exc: BaseException) -> None:
        """Wait (backing off) until Redis answers and the orphaned jobs are released."""
        log.warning("worker lost Redis (%s: %s); reconnecting with backoff (at most %.1fs apart)",
                    type(exc).__name__, exc, self.reconnect_max)
        since, delay, tries = time.monotonic(), FIRST_DELAY, 0
        while True:
            await asyncio.sleep(delay)
            tries += 1
            try:
                await self.pool.ping()
                await self._release_orphans()
                break
            except REDIS_DOWN as again:
                log.debug("Redis still unreachable after %d tries: %r", tries, again)
                delay = min(delay * 2, self.reconnect_max)
        self.reconnects += 1
        count_reconnect("worker")
        self._next_beat = 0.0  # beat at once: a restarted Redis lost (or aged) the heartbeat
        log.warning("worker reconnected to Redis after %.1fs (%d tries)",
                    time.monotonic() - since, tries)

    async def _release_orphans(self) -> None:
        """Drop the in-progress mark of jobs whose run ended on a Redis error (not running now),
        so they run again at once; the job id, its arguments and retry count stay as they are."""
        gone = [j for j in self._orphans if j not in self.tasks or self.tasks[j].done()]
        if gone:
            await self.pool.delete(*[in_progress_key_prefix + j for j in gone])
            log.warning("re-queued %d job(s) interrupted by the Redis outage", len(gone))
        self._orphans.difference_update(gone)

    # --- jobs -------------------------------------------------------------------------------

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Claim and start each job (as arq does), giving back the slot if Redis fails."""
        for raw in job_ids:
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            self.job_counter += 1
            job_id = raw.decode()
            try:
                score = await self._claim(job_id)
            except BaseException:
                self._release_sem_dec_counter_on_complete()
                self._orphans.add(job_id)  # its in-progress mark may have been written
                raise
            if score is None:
                self._release_sem_dec_counter_on_complete()
                continue
            task = self.loop.create_task(self.run_job(job_id, score))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    async def _claim(self, job_id: str) -> int | None:
        """Mark the job in progress unless it runs elsewhere, is gone or is not due; its score.

        One atomic script (one round trip) instead of arq's WATCH, EXISTS, ZSCORE, MULTI,
        PSETEX, EXEC (four round trips): the queue is one instance (`queue_url`), never a
        cluster. A connection lost under it may have left the mark: the caller counts the job
        as interrupted (`_orphans`)."""
        if self._claim_script is None or self._claim_script.registered_client is not self.pool:
            self._claim_script = self.pool.register_script(CLAIM_LUA)
        try:
            score = await self._claim_script(
                keys=[in_progress_key_prefix + job_id, self.queue_name],
                args=[job_id, timestamp_ms(), int(self.in_progress_timeout_s * 1000)])
        except redis.exceptions.ResponseError as exc:
            if isinstance(exc.__context__, REDIS_DOWN):
                raise
            return None
        return None if score is None else int(float(score))

    async def run_job(self, job_id: str, score: int) -> None:
        try:
            await super().run_job(job_id, score)
        except REDIS_DOWN as exc:
            self._orphans.add(job_id)
            log.warning("job %s lost Redis mid-run (%s); it runs again once Redis is back",
                        job_id, type(exc).__name__)

    # --- heartbeat and shutdown -------------------------------------------------------------

    async def heart_beat(self) -> None:
        await super().heart_beat()
        now = time.monotonic()
        if now >= self._next_beat:
            await self.pool.set(WORKER_HEARTBEAT, self._beat(), px=int(self.heartbeat_s * 3000))
            self._next_beat = now + self.heartbeat_s
            note_beat()

    def _beat(self) -> str:
        return json.dumps({"worker": self.worker_id, "at": time.time(),
                           "complete": self.jobs_complete, "failed": self.jobs_failed,
                           "retried": self.jobs_retried})

    async def close(self) -> None:
        """arq's close, but each Redis step may fail (Redis gone) without skipping the rest."""
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if not self._pool:
            return
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        try:
            await self.pool.delete(self.health_check_key)
            stored = await self.pool.get(WORKER_HEARTBEAT)
            if stored and json.loads(stored).get("worker") == self.worker_id:
                await self.pool.delete(WORKER_HEARTBEAT)
        except REDIS_DOWN:
            log.warning("Redis unreachable while the worker stops; its keys expire by themselves")
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        with contextlib.suppress(*REDIS_DOWN):
            await self.pool.aclose(close_connection_pool=True)
        self._pool = None
