"""Account use-cases: register, log in, refresh, log out, create an admin, change a role."""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg
import msgspec
from redis.asyncio import Redis

from domain.accounts import audit, revocation, twostep
from domain.accounts import refresh as refresh_tokens
from domain.accounts.passwords import passwords_for
from domain.accounts.rules import (
    check_password,
    normalize_display_name,
    normalize_email,
    normalize_handle,
)
from domain.accounts.tokens import ROLES, Principal, issue_access_token
from domain.db import Database
from domain.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from domain.settings import Settings

log = logging.getLogger("readalong.accounts")
# access tokens may be verified a little after `exp` by a skewed clock elsewhere: keep marks longer
REVOCATION_SLACK = 60


class Account(msgspec.Struct, frozen=True):
    """The private view of one's own account."""

    id: int
    email: str
    handle: str
    display_name: str
    role: str
    visibility: str
    created_at: datetime


class AuthSession(msgspec.Struct, frozen=True):
    """What a successful register/login/refresh hands back."""

    access_token: str
    access_expires_at: int
    refresh_token: str
    refresh_expires_at: datetime
    family: str
    user_id: int
    role: str


_ACCOUNT_COLUMNS = "id, email, handle, display_name, role, visibility, created_at"


def _account(row: asyncpg.Record) -> Account:
    return Account(**{k: row[k] for k in Account.__struct_fields__})


def _conflict_for(exc: asyncpg.UniqueViolationError) -> Conflict:
    name = getattr(exc, "constraint_name", "") or ""
    if "email" in name:
        return Conflict("an account with this email already exists", code="email_taken",
                        field="email")
    return Conflict("this handle is taken", code="handle_taken", field="handle")


async def issue_session(conn: asyncpg.Connection, settings: Settings, user_id: int,
                         role: str) -> AuthSession:
    """A new refresh family and access token; refused (403) for a suspended account, whatever
    the way in (password, second factor, identity provider)."""
    if await conn.fetchval("SELECT suspended_at IS NOT NULL FROM users WHERE id = $1", user_id):
        raise Forbidden("this account is suspended", code="account_suspended")
    issued, _ = await refresh_tokens.issue(conn, user_id, settings.refresh_token_ttl)
    access, exp = issue_access_token(settings.secret_key, user_id, role,
                                     settings.access_token_ttl, family=issued.family)
    return AuthSession(access_token=access, access_expires_at=exp, refresh_token=issued.token,
                       refresh_expires_at=issued.expires_at, family=issued.family,
                       user_id=user_id, role=role)


async def create_user(db: Database, *, email: str, handle: str, display_name: str,
                       password: str, role: str, allow_reserved: bool,
                       settings: Settings | None) -> tuple[int, str]:
    """Validate every field (in a stable order), hash, insert; returns (id, handle)."""
    email = normalize_email(email)
    handle = normalize_handle(handle, allow_reserved=allow_reserved)
    display_name = normalize_display_name(display_name)
    check_password(password, email=email, handle=handle)
    taken = await db.pool.fetchrow(
        "SELECT lower(email) = lower($1) AS email FROM users "
        "WHERE lower(email) = lower($1) OR lower(handle) = lower($2) LIMIT 1", email, handle)
    if taken is not None:
        raise (Conflict("an account with this email already exists", code="email_taken",
                        field="email") if taken["email"]
               else Conflict("this handle is taken", code="handle_taken", field="handle"))
    password_hash = await passwords_for(settings).hash(password)
    try:
        user_id = await db.pool.fetchval(
            "INSERT INTO users (email, handle, display_name, password_hash, role) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id",
            email, handle, display_name, password_hash, role)
    except asyncpg.UniqueViolationError as exc:  # a concurrent registration won the race
        raise _conflict_for(exc) from exc
    return int(user_id), handle


async def register(db: Database, settings: Settings, *, email: str, handle: str,
                   display_name: str, password: str) -> AuthSession:
    """Create a reader account and log it in (a new refresh family)."""
    user_id, _ = await create_user(db, email=email, handle=handle, display_name=display_name,
                                    password=password, role="reader", allow_reserved=False,
                                    settings=settings)
    async with db.pool.acquire() as conn:
        return await issue_session(conn, settings, user_id, "reader")


async def login(db: Database, settings: Settings, *, email: str, password: str,
                client: audit.Client | None = None) -> AuthSession | twostep.Challenge:
    """Check the password (same cost for unknown emails) and start a new refresh family, or,
    when two-factor sign-in is on, answer a short-lived challenge for the code step."""
    if not isinstance(password, str) or len(password) > 1024:
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    row = await db.pool.fetchrow(
        "SELECT id, role, password_hash FROM users WHERE lower(email) = lower($1)",
        (email or "").strip())
    passwords = passwords_for(settings)
    ok = await passwords.verify(row["password_hash"] if row else None, password)
    if row is None or not ok:
        if row is not None:
            await audit.record(db, int(row["id"]), "sign_in_failed", client)
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    if passwords.needs_rehash(row["password_hash"]):
        await db.pool.execute("UPDATE users SET password_hash = $2 WHERE id = $1", row["id"],
                              await passwords.hash(password))
    if kinds := await twostep.methods(db, int(row["id"])):
        return twostep.challenge_for(settings, int(row["id"]), kinds)
    async with db.pool.acquire() as conn:
        return await issue_session(conn, settings, int(row["id"]), str(row["role"]))


async def login_second_step(db: Database, redis: Redis, settings: Settings, *,
                            challenge: str, code: str,
                            client: audit.Client | None = None) -> AuthSession:
    """The code step of a two-factor sign-in: a new refresh family when the code is good."""
    user_id, role = await twostep.second_step(db, redis, settings, challenge, code, client)
    async with db.pool.acquire() as conn:
        return await issue_session(conn, settings, user_id, role)


async def login_passkey_step(db: Database, redis: Redis, settings: Settings, *,
                             challenge: str, credential: dict[str, object],
                             client: audit.Client | None = None) -> AuthSession:
    """The passkey step of a two-factor sign-in: a new refresh family when it verifies."""
    user_id, role = await twostep.passkey_step(db, redis, settings, challenge, credential,
                                               client)
    async with db.pool.acquire() as conn:
        return await issue_session(conn, settings, user_id, role)


async def refresh(db: Database, redis: Redis, settings: Settings, token: str) -> AuthSession:
    """Rotate a refresh token. Reusing a consumed one revokes its whole family (and 401s)."""
    result = await refresh_tokens.rotate(db.pool, token, settings.refresh_token_ttl)
    if result.reused or result.issued is None:
        log.warning("refresh token reuse for user %s: family %s revoked", result.user_id,
                    result.family)
        await revocation.revoke_family(redis, result.user_id, result.family,
                                       settings.access_token_ttl + REVOCATION_SLACK)
        raise Unauthorized("refresh token was already used; this session is revoked",
                           code="refresh_token_reused")
    access, exp = issue_access_token(settings.secret_key, result.user_id, result.role,
                                     settings.access_token_ttl, family=result.family)
    return AuthSession(access_token=access, access_expires_at=exp,
                       refresh_token=result.issued.token,
                       refresh_expires_at=result.issued.expires_at, family=result.family,
                       user_id=result.user_id, role=result.role)


async def logout(db: Database, redis: Redis, settings: Settings, principal: Principal | None,
                 refresh_token: str | None) -> None:
    """Revoke the caller's refresh family: its refresh tokens and its live access tokens.

    The family comes from the access token, or from a refresh token in the body (so a client
    whose access token expired can still log out). Unknown refresh tokens are refused.
    """
    families: dict[str, int] = {}
    if principal is not None and principal.family:
        families[principal.family] = principal.user_id
    if refresh_token:
        found = await refresh_tokens.family_of(db.pool, refresh_token)
        if found is None or (principal is not None and found[0] != principal.user_id):
            raise Unauthorized("invalid refresh token", code="invalid_refresh_token")
        families[found[1]] = found[0]
    if principal is None and not refresh_token:
        raise Unauthorized("authentication required", code="auth_required")
    for family, user_id in families.items():
        await refresh_tokens.revoke_family(db.pool, family)
        await revocation.revoke_family(redis, user_id, family,
                                       settings.access_token_ttl + REVOCATION_SLACK)


async def logout_everywhere(db: Database, redis: Redis, settings: Settings,
                            principal: Principal) -> None:
    """Revoke every refresh family and every access token of the caller."""
    await refresh_tokens.revoke_user(db.pool, principal.user_id)
    await revocation.revoke_user(redis, principal.user_id,
                                 settings.access_token_ttl + REVOCATION_SLACK)


async def get_account(db: Database, user_id: int) -> Account:
    row = await db.pool.fetchrow(f"SELECT {_ACCOUNT_COLUMNS} FROM users WHERE id = $1", user_id)
    if row is None:
        raise Unauthorized("this account no longer exists", code="account_gone")
    return _account(row)


async def create_admin(db: Database, *, email: str, handle: str, password: str,
                       settings: Settings | None = None) -> int:
    """Create an admin account (the `readalong createadmin` command); returns its id."""
    user_id, _ = await create_user(db, email=email, handle=handle, display_name=handle,
                                    password=password, role="admin", allow_reserved=True,
                                    settings=settings)
    log.info("created admin @%s (id %s)", handle, user_id)
    return user_id


async def set_role(db: Database, redis: Redis, settings: Settings, actor: Principal,
                   handle: str, role: str) -> Account:
    """An admin changes a user's role; the user's current access tokens are revoked."""
    if not actor.is_admin:
        raise Forbidden("only admins may change roles", code="admin_only")
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", code="role_invalid",
                      field="role")
    row = await db.pool.fetchrow("SELECT id, role FROM users WHERE lower(handle) = lower($1)",
                                 handle)
    if row is None:
        raise NotFound("no such user", code="user_not_found")
    if row["id"] == actor.user_id:
        raise Forbidden("admins cannot change their own role", code="cannot_change_own_role")
    updated = await db.pool.fetchrow(
        "UPDATE users SET role = $2, updated_at = now() WHERE id = $1"
        f" RETURNING {_ACCOUNT_COLUMNS}",
        row["id"], role)
    if row["role"] != role:
        await revocation.revoke_user(redis, int(row["id"]),
                                     settings.access_token_ttl + REVOCATION_SLACK)
    return _account(updated)


async def change_password(db: Database, redis: Redis, settings: Settings, principal: Principal,
                          *, current_password: str, new_password: str) -> AuthSession:
    """Change the caller's password: every existing session is revoked, a new one is returned."""
    row = await db.pool.fetchrow("SELECT email, handle, role, password_hash FROM users "
                                 "WHERE id = $1", principal.user_id)
    if row is None:
        raise Unauthorized("this account no longer exists", code="account_gone")
    passwords = passwords_for(settings)
    if not isinstance(current_password, str) or len(current_password) > 1024 or \
            not await passwords.verify(row["password_hash"], current_password):
        raise Invalid("the current password is wrong", code="invalid_credentials",
                      field="current_password")
    check_password(new_password, email=row["email"], handle=row["handle"])
    new_hash = await passwords.hash(new_password)
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE users SET password_hash = $2, updated_at = now(), "
                           "has_password = true WHERE id = $1", principal.user_id, new_hash)
        await conn.execute("UPDATE refresh_tokens SET revoked_at = now() "
                           "WHERE user_id = $1 AND revoked_at IS NULL", principal.user_id)
    await revocation.revoke_user(redis, principal.user_id,
                                 settings.access_token_ttl + REVOCATION_SLACK)
    async with db.pool.acquire() as conn:
        return await issue_session(conn, settings, principal.user_id, str(row["role"]))
