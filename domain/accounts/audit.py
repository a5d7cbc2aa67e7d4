"""The security log of an account (sign-ins, failures, 2FA, password, role and suspension
changes) and its signed-in devices (one per refresh family)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
import orjson
from redis.asyncio import Redis

from domain.accounts import refresh as refresh_tokens
from domain.accounts import revocation
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import NotFound
from domain.settings import Settings

log = logging.getLogger("readalong.accounts")
REVOCATION_SLACK = 60
KINDS = ("sign_in", "sign_in_failed", "second_factor_failed", "recovery_code_used",
         "totp_enabled", "totp_disabled", "recovery_codes_regenerated", "password_changed",
         "password_reset", "email_changed", "role_changed", "suspended", "unsuspended",
         "provider_linked", "provider_unlinked", "passkey_added",
         "passkey_second_factor_on", "passkey_second_factor_off", "passkey_removed")


class Client(msgspec.Struct, frozen=True):
    """Where a request came from (the socket peer, or the proxy's X-Forwarded-For)."""

    address: str = ""
    user_agent: str = ""


class SecurityEvent(msgspec.Struct, frozen=True):
    id: int
    kind: str
    address: str
    user_agent: str
    detail: dict[str, Any]
    created_at: datetime


class Device(msgspec.Struct, frozen=True):
    id: str  # the refresh family
    created_at: datetime
    last_used_at: datetime
    address: str
    user_agent: str
    current: bool


async def record(db: Database, user_id: int, kind: str, client: Client | None = None,
                 **detail: Any) -> None:
    """Append one event; a failure to log never fails the request (it is logged instead)."""
    client = client or Client()
    try:
        await db.pool.execute(
            "INSERT INTO security_events (user_id, kind, address, user_agent, detail) "
            "VALUES ($1, $2, $3, $4, $5::jsonb)", user_id, kind, client.address[:100],
            client.user_agent[:300], orjson.dumps(detail).decode())
    except (asyncpg.PostgresError, OSError):
        log.warning("could not record %s for user %s", kind, user_id, exc_info=True)


async def events(db: Database, user_id: int, limit: int = 50) -> list[SecurityEvent]:
    rows = await db.pool.fetch(
        "SELECT id, kind, address, user_agent, detail, created_at FROM security_events "
        "WHERE user_id = $1 ORDER BY id DESC LIMIT $2", user_id, max(1, min(limit, 200)))
    return [SecurityEvent(id=r["id"], kind=r["kind"], address=r["address"],
                          user_agent=r["user_agent"], detail=orjson.loads(r["detail"]),
                          created_at=r["created_at"]) for r in rows]


async def touch_device(db: Database, user_id: int, family: str, client: Client) -> None:
    """A sign-in or refresh of `family`: create its device row or bump its last use."""
    await db.pool.execute(
        "INSERT INTO user_devices (family, user_id, address, user_agent) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (family) DO UPDATE SET last_used_at = now(), address = EXCLUDED.address,"
        " user_agent = EXCLUDED.user_agent", family, user_id, client.address[:100],
        client.user_agent[:300])


async def devices(db: Database, principal: Principal) -> list[Device]:
    """The caller's signed-in devices: families with a live, unrevoked refresh token."""
    return await devices_of(db, principal.user_id, principal.family)


async def devices_of(db: Database, user_id: int, current: str | None = None) -> list[Device]:
    rows = await db.pool.fetch(
        "SELECT d.* FROM user_devices d WHERE d.user_id = $1 AND EXISTS (SELECT 1 FROM "
        "refresh_tokens t WHERE t.family = d.family AND t.revoked_at IS NULL AND "
        "t.used_at IS NULL AND t.expires_at > now()) ORDER BY d.last_used_at DESC",
        user_id)
    return [Device(id=r["family"], created_at=r["created_at"], last_used_at=r["last_used_at"],
                   address=r["address"], user_agent=r["user_agent"],
                   current=r["family"] == current) for r in rows]


async def sign_out_device(db: Database, redis: Redis, settings: Settings, principal: Principal,
                          device_id: str) -> None:
    """Revoke one device of the caller: its refresh tokens, access tokens and sockets."""
    owner = await db.pool.fetchval("SELECT user_id FROM user_devices WHERE family = $1",
                                   device_id[:64])
    if owner != principal.user_id:
        raise NotFound("no such device", code="device_not_found")
    await refresh_tokens.revoke_family(db.pool, device_id)
    await revocation.revoke_family(redis, principal.user_id, device_id,
                                   settings.access_token_ttl + REVOCATION_SLACK)


async def signed_in(db: Database, user_id: int, family: str, client: Client,
                    method: str) -> None:
    """A new session: its device row and a `sign_in` event naming how (password, totp, …)."""
    await touch_device(db, user_id, family, client)
    await record(db, user_id, "sign_in", client, method=method)
