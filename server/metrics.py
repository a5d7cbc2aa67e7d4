"""`/metrics`: the whole host's web processes (and the supervised worker) in one scrape.

The store (domain/ops/store.py) is prometheus_client's multiprocess folder when `readalong
serve` exported one, else the process's own registry. A scrape first refreshes the gauges read
from shared state (queue depth and oldest job age from Redis, this process's pool); a sampler
task in each process keeps its pool gauges and a Redis PING latency sample current between
scrapes, so the `livesum` gauges add up over live processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis

from domain.db import Database
from domain.keys import ARQ_QUEUE
from domain.ops.metrics import USE_CASE, ops_metrics
from domain.ops.store import collect_registry, mark_dead
from domain.redisconn import queue_of
from server.state import Services

log = logging.getLogger("readalong.metrics")


def sample_pool(db: Database | None) -> None:
    """This process's asyncpg pool: open, lent out, waiting acquires, limit."""
    pool = getattr(db, "pool", None) if db is not None else None
    if pool is None:
        return
    m = ops_metrics()
    size = pool.get_size()
    m.db_pool_size.set(size)
    m.db_pool_in_use.set(size - pool.get_idle_size())
    m.db_pool_max.set(pool.get_max_size())
    queue = getattr(pool, "_queue", None)  # asyncpg keeps waiters on its holder queue
    m.db_pool_waiting.set(len(getattr(queue, "_getters", ()) or ()))


async def sample_queue(redis: Redis) -> None:
    """Queue depth and the age of the oldest due job (arq scores are due times in ms)."""
    m = ops_metrics()
    redis = queue_of(redis)  # (in cluster mode the queue has its own instance)
    depth = await redis.zcard(ARQ_QUEUE)
    oldest = await redis.zrange(ARQ_QUEUE, 0, 0, withscores=True)
    m.queue_depth.set(depth)
    age = 0.0
    if oldest:
        age = max(0.0, time.time() - float(oldest[0][1]) / 1000)
    m.queue_oldest.set(age)


async def sample_redis(redis: Redis) -> None:
    """One timed PING: the Redis round trip as this process sees it."""
    start = time.perf_counter()
    await redis.ping()
    ops_metrics().redis_latency.labels("ping").observe(time.perf_counter() - start)


async def note_use_case(request: Request[Any, Any, Any]) -> None:
    """The request's route template becomes the use-case its queries are timed under."""
    USE_CASE.set(f"{request.method} {request.scope.get('path_template', 'other')}")


class MetricsController(Controller):
    path = "/metrics"
    include_in_schema = False

    @get()
    async def scrape(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        services: Services = request.app.state.services
        sample_pool(services.db)
        if services.redis is not None:
            try:
                await sample_queue(services.redis)
            except Exception:  # an outage must not hide the other metrics
                log.debug("queue sample failed", exc_info=True)
        return Response(generate_latest(collect_registry()),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


def install_metrics(services: Services) -> None:
    """Start the per-process sampler with the app; mark the process dead in the store on exit."""
    state: dict[str, asyncio.Task[None]] = {}

    async def loop() -> None:
        while True:
            sample_pool(services.db)
            if services.redis is not None:
                try:
                    await sample_redis(services.redis)
                except Exception:
                    log.debug("redis sample failed", exc_info=True)
            await asyncio.sleep(services.settings.metrics_sample_interval)

    async def start(app: Any, services: Services) -> None:
        state["task"] = asyncio.create_task(loop())

    async def stop(app: Any, services: Services) -> None:
        task = state.pop("task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        mark_dead()

    services.on_startup.append(start)
    services.on_shutdown.append(stop)
