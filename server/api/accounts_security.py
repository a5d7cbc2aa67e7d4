"""REST controllers of one's own security: signed-in devices and the security log."""

from __future__ import annotations

from litestar import Controller, delete, get
from redis.asyncio import Redis

from domain.accounts import audit
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.settings import Settings


class MySecurityController(Controller):
    path = "/api/v1/me"
    tags = ["accounts"]

    @get("/devices", summary="The caller's signed-in devices (one per refresh family)")
    async def devices(self, db: Database, user: Principal) -> list[audit.Device]:
        return await audit.devices(db, user)

    @delete("/devices/{device_id:str}",
            summary="Sign one device out (its tokens and sockets are revoked)")
    async def sign_out(self, db: Database, redis: Redis, settings: Settings, user: Principal,
                       device_id: str) -> None:
        await audit.sign_out_device(db, redis, settings, user, device_id)

    @get("/security-events", summary="The caller's recent security events, newest first")
    async def events(self, db: Database, user: Principal) -> list[audit.SecurityEvent]:
        return await audit.events(db, user.user_id)


CONTROLLERS = [MySecurityController]
