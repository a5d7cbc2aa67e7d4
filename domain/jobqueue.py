"""Enqueueing background jobs by name onto the arq queue (use-cases call this; jobs/ runs them)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from arq.connections import ArqRedis
from redis.asyncio import Redis

from domain.ops.metrics import ops_metrics
from domain.redisconn import queue_of

log = logging.getLogger("readalong.jobs")


def arq_redis(redis: Redis) -> ArqRedis:
    """An arq client sharing `redis`'s connection pool (no new connections); in cluster mode
    the pool of the job queue's own instance (`READALONG_QUEUE_URL`, domain/redisconn.py)."""
    redis = queue_of(redis)
    if isinstance(redis, ArqRedis):
        return redis
    return ArqRedis(pool_or_conn=redis.connection_pool)


async def enqueue(redis: Redis, function: str, *args: Any, job_id: str | None = None,
                  defer_until: datetime | None = None) -> bool:
    """Enqueue `function(*args)`; with `job_id` a second enqueue while the first is queued,
    running or its result is kept is a no-op. True when a job was added."""
    job = await arq_redis(redis).enqueue_job(function, *args, _job_id=job_id,
                                             _defer_until=defer_until)
    if job is not None:
        ops_metrics().jobs_enqueued.labels(function).inc()
    return job is not None


async def enqueue_quietly(redis: Redis, function: str, *args: Any,
                          job_id: str | None = None) -> bool:
    """Like `enqueue` but never raises: used after the durable write, where a sweep job
    re-enqueues whatever could not be queued (Redis down), so the request still succeeds."""
    try:
        return await enqueue(redis, function, *args, job_id=job_id)
    except Exception:
        log.warning("could not enqueue %s%r (a sweep will retry)", function, args, exc_info=True)
        return False
