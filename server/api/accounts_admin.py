"""REST controllers of user administration (admins only): list/search, suspend, unsuspend."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts import admin
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.settings import Settings


class SuspendIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str | None = None


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
    async def suspend(self, db: Database, redis: Redis, settings: Settings, user: Principal,
                      handle: str, data: SuspendIn | None = None) -> admin.AdminUser:
        return await admin.suspend(db, redis, settings, user, handle,
                                   data.reason if data is not None else None)

    @post("/{handle:str}/unsuspend", status_code=200, summary="Lift a suspension")
    async def unsuspend(self, db: Database, user: Principal, handle: str) -> admin.AdminUser:
        return await admin.unsuspend(db, user, handle)


CONTROLLERS = [AdminAccountsController]
