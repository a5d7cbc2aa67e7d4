"""REST controllers of user administration (admins only): list/search, suspend, unsuspend."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts import admin, audit
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.settings import Settings
from server.api.accounts import client_of


class SuspendIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str | None = None


class SecurityOut(msgspec.Struct):
    devices: list[audit.Device]
    events: list[audit.SecurityEvent]


class AdminAccountsController(Controller):
    path = "/api/v1/admin/users"
    tags = ["admin"]

    @get("", summary="List and search users, newest first (admins only)")
    async def list_users(self, db: Database, user: Principal, q: str | None = None,
                         suspended: bool | None = None, cursor: str | None = None,
                         limit: int = Parameter(default=50)) -> admin.AdminUserPage:
        return await admin.list_users(db, user, q=q, cursor=cursor, limit=limit,
                                      suspended=suspended)

    @post("/{handle:str}/suspend", status_code=200,
          summary="Suspend a user: sign-in refused, every token and socket revoked")
    async def suspend(self, request: Request[Any, Any, Any], db: Database, redis: Redis,
                      settings: Settings, user: Principal, handle: str,
                      data: SuspendIn | None = None) -> admin.AdminUser:
        done = await admin.suspend(db, redis, settings, user, handle,
                                   data.reason if data is not None else None)
        await audit.record(db, done.id, "suspended", client_of(request), by=user.user_id,
                           reason=done.suspended_reason)
        return done

    @post("/{handle:str}/unsuspend", status_code=200, summary="Lift a suspension")
    async def unsuspend(self, request: Request[Any, Any, Any], db: Database, user: Principal,
                        handle: str) -> admin.AdminUser:
        done = await admin.unsuspend(db, user, handle)
        await audit.record(db, done.id, "unsuspended", client_of(request), by=user.user_id)
        return done

    @get("/{handle:str}/security", summary="A user's devices and recent security events")
    async def security_of(self, db: Database, user: Principal, handle: str) -> SecurityOut:
        user_id = await admin.user_id_of(db, user, handle)
        return SecurityOut(devices=await audit.devices_of(db, user_id),
                           events=await audit.events(db, user_id))


CONTROLLERS = [AdminAccountsController]
