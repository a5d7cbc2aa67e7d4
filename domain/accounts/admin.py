"""User administration for admins: list and search accounts, suspend and unsuspend."""

from __future__ import annotations

import base64
from datetime import datetime

import msgspec
from redis.asyncio import Redis

from domain.accounts import refresh as refresh_tokens
from domain.accounts import revocation
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Forbidden, Invalid, NotFound
from domain.settings import Settings

REVOCATION_SLACK = 60
MAX_LIMIT = 100


class AdminUser(msgspec.Struct, frozen=True):
    id: int
    handle: str
    email: str
    display_name: str
    role: str
    email_verified: bool
    suspended: bool
    suspended_reason: str | None
    created_at: datetime


class AdminUserPage(msgspec.Struct, frozen=True):
    items: list[AdminUser]
    next_cursor: str | None = None


_COLUMNS = ("id, handle, email, display_name, role, email_verified_at IS NOT NULL AS "
            "email_verified, suspended_at IS NOT NULL AS suspended, suspended_reason, "
            "created_at")


def _admin_only(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins may do this", code="admin_only")


def _cursor(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        value = int(base64.urlsafe_b64decode(raw.encode() + b"==").decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("invalid cursor", code="invalid_cursor", field="cursor",
                      source="query") from exc
    if value < 1:
        raise Invalid("invalid cursor", code="invalid_cursor", field="cursor", source="query")
    return value


async def list_users(db: Database, actor: Principal, *, q: str | None, cursor: str | None,
                     limit: int, suspended: bool | None = None) -> AdminUserPage:
    """Newest first; `q` matches the start of a handle or an email, or a display-name word."""
    _admin_only(actor)
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be 1 to {MAX_LIMIT}", code="invalid_limit", field="limit",
                      source="query")
    before = _cursor(cursor)
    term = (q or "").strip()[:100]
    pattern = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = await db.pool.fetch(
        f"SELECT {_COLUMNS} FROM users WHERE ($1::bigint IS NULL OR id < $1) "
        "AND ($2 = '' OR lower(handle) LIKE lower($3) OR lower(email) LIKE lower($3) "
        "     OR lower(display_name) LIKE lower('%' || $3)) "
        "AND ($4::boolean IS NULL OR (suspended_at IS NOT NULL) = $4) "
        "ORDER BY id DESC LIMIT $5", before, term, pattern, suspended, limit + 1)
    items = [AdminUser(**dict(r)) for r in rows[:limit]]
    more = len(rows) > limit
    return AdminUserPage(items=items, next_cursor=base64.urlsafe_b64encode(
        str(items[-1].id).encode()).decode().rstrip("=") if more else None)


async def user_id_of(db: Database, actor: Principal, handle: str) -> int:
    """(Admins only) the id of the user with this handle; 404 `user_not_found`."""
    _admin_only(actor)
    user_id = await db.pool.fetchval("SELECT id FROM users WHERE lower(handle) = lower($1)",
                                     handle)
    if user_id is None:
        raise NotFound("no such user", code="user_not_found")
    return int(user_id)


async def _target(db: Database, actor: Principal, handle: str) -> int:
    _admin_only(actor)
    user_id = await db.pool.fetchval("SELECT id FROM users WHERE lower(handle) = lower($1)",
                                     handle)
    if user_id is None:
        raise NotFound("no such user", code="user_not_found")
    if int(user_id) == actor.user_id:
        raise Forbidden("admins cannot suspend themselves", code="cannot_suspend_self")
    return int(user_id)


async def suspend(db: Database, redis: Redis, settings: Settings, actor: Principal,
                  handle: str, reason: str | None) -> AdminUser:
    """Suspend: sign-in is refused (403 `account_suspended`), every refresh family and access
    token is revoked and every socket of the user closes (4003), on every node."""
    user_id = await _target(db, actor, handle)
    reason = (reason or "").strip()[:500] or None
    row = await db.pool.fetchrow(
        "UPDATE users SET suspended_at = coalesce(suspended_at, now()), suspended_reason = $2, "
        f"updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}", user_id, reason)
    await refresh_tokens.revoke_user(db.pool, user_id)
    await revocation.revoke_user(redis, user_id, settings.access_token_ttl + REVOCATION_SLACK)
    return AdminUser(**dict(row))


async def unsuspend(db: Database, actor: Principal, handle: str) -> AdminUser:
    user_id = await _target(db, actor, handle)
    row = await db.pool.fetchrow(
        "UPDATE users SET suspended_at = NULL, suspended_reason = NULL, updated_at = now() "
        f"WHERE id = $1 RETURNING {_COLUMNS}", user_id)
    return AdminUser(**dict(row))
