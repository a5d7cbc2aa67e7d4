"""Liveness and readiness probes.

`/health/ready` answers 503 when PostgreSQL or Redis fails (the web process cannot serve). The
worker is reported too, from the heartbeat it keeps in Redis (`domain.keys.WORKER_HEARTBEAT`,
expiring after three beats), but it is not required: without it the web process still serves
(notifications wait in the queue), so readiness stays 200 with `status: "degraded: worker"`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from redis.asyncio import Redis

from domain.keys import WORKER_HEARTBEAT
from server.deps import services_of

PROBE_TIMEOUT = 2.0


class Check(msgspec.Struct):
    name: str
    ok: bool
    error: str | None = None
    detail: str | None = None
    required: bool = True  # a failing required check makes readiness 503


class Health(msgspec.Struct):
    status: str  # ok | degraded: <optional checks> | unavailable: <required checks>
    checks: list[Check] = []


class WorkerMissing(Exception):
    """No worker heartbeat in Redis."""


async def check(name: str, probe: Callable[[], Awaitable[str | None]],
                required: bool = True) -> Check:
    """Run `probe` (its return value is the detail); any exception or timeout fails it."""
    try:
        detail = await asyncio.wait_for(probe(), PROBE_TIMEOUT)
        return Check(name=name, ok=True, detail=detail, required=required)
    except WorkerMissing as exc:
        return Check(name=name, ok=False, error=str(exc), required=required)
    except Exception as exc:  # report every failure as a failed check
        return Check(name=name, ok=False, error=f"{type(exc).__name__}: {exc}"[:200],
                     required=required)


async def worker_heartbeat(redis: Redis) -> str:
    """The age and id of the last heartbeat a worker wrote; raises WorkerMissing if none."""
    raw = await redis.get(WORKER_HEARTBEAT)
    if raw is None:
        raise WorkerMissing("no worker heartbeat: no worker is running, or it cannot reach "
                            "Redis (notifications wait in the queue)")
    beat = json.loads(raw)
    return f"last heartbeat {max(0.0, time.time() - float(beat['at'])):.1f}s ago " \
           f"from {beat['worker']}"


def summarize(checks: list[Check]) -> Health:
    failed = [c for c in checks if not c.ok and c.required]
    optional = [c for c in checks if not c.ok and not c.required]
    if failed:
        status = "unavailable: " + ", ".join(c.name for c in failed)
    elif optional:
        status = "degraded: " + ", ".join(c.name for c in optional)
    else:
        status = "ok"
    return Health(status=status, checks=checks)


async def _ping(probe: Callable[[], Awaitable[object]]) -> None:
    await probe()


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/live", summary="The process is up")
    async def live(self) -> Health:
        return Health(status="ok")

    @get("/ready", summary="Postgres and Redis answer (the worker is reported, not required)",
         responses={503: ResponseSpec(data_container=Health,
                                      description="PostgreSQL or Redis failed")})
    async def ready(self, state: State) -> Response[Health]:
        services = services_of(state)
        db, redis = services.db, services.redis
        assert db is not None and redis is not None
        checks = list(await asyncio.gather(
            check("postgres", lambda: _ping(db.ping)),
            check("redis", lambda: _ping(redis.ping)),
            check("worker", lambda: worker_heartbeat(redis), required=False)))
        body = summarize(checks)
        return Response(body, status_code=503 if body.status.startswith("unavailable") else 200)
