"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Controller, Response, get
from litestar.openapi import ResponseSpec
from litestar.datastructures import State

from server.deps import services_of


class Check(msgspec.Struct):
    name: str
    ok: bool
    error: str | None = None


class Health(msgspec.Struct):
    status: str
    checks: list[Check] = []


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/live", summary="The process is up")
    async def live(self) -> Health:
        return Health(status="ok")

    @get("/ready", summary="Postgres and Redis answer",
         responses={503: ResponseSpec(data_container=Health, description="a check failed")})
    async def ready(self, state: State) -> Response[Health]:
        services = services_of(state)

        async def check(name: str, probe) -> Check:  # type: ignore[no-untyped-def]
            try:
                await asyncio.wait_for(probe(), 2.0)
                return Check(name=name, ok=True)
            except Exception as exc:  # noqa: BLE001 - report every failure as a failed check
                return Check(name=name, ok=False, error=f"{type(exc).__name__}: {exc}"[:200])

        assert services.db is not None and services.redis is not None
        checks = list(await asyncio.gather(check("postgres", services.db.ping),
                                           check("redis", services.redis.ping)))
        ok = all(c.ok for c in checks)
        failing = [c.name for c in checks if not c.ok]
        body = Health(status="ok" if ok else "unavailable: " + ", ".join(failing), checks=checks)
        return Response(body, status_code=200 if ok else 503)
