"""The second step of a sign-in when two-factor authentication is on."""

from __future__ import annotations

import msgspec
from redis.asyncio import Redis

from domain.accounts import audit, passkeys, totp
from domain.accounts.limits import check_code_attempt
from domain.accounts.tokens import issue_challenge, verify_challenge
from domain.db import Database
from domain.errors import Unauthorized
from domain.settings import Settings


class Challenge(msgspec.Struct, frozen=True):
    """The password was right; send `challenge` with a code to `POST /auth/login/2fa`."""

    challenge: str
    expires_in: int
    two_factor_required: bool = True
    #: what the second step accepts: `totp` (a code or a recovery code at /auth/login/2fa),
    #: `passkey` (an assertion at /auth/login/2fa/passkey)
    methods: tuple[str, ...] = ("totp",)


async def methods(db: Database, user_id: int) -> tuple[str, ...]:
    """The second factors the account has on (none: a password alone signs in)."""
    found: tuple[str, ...] = ("totp",) if await totp.enabled(db, user_id) else ()
    if await db.pool.fetchval(
            "SELECT u.passkey_second_factor AND EXISTS (SELECT 1 FROM user_passkeys p"
            " WHERE p.user_id = u.id) FROM users u WHERE u.id = $1", user_id):
        found += ("passkey",)
    return found


def challenge_for(settings: Settings, user_id: int,
                  kinds: tuple[str, ...] = ("totp",)) -> Challenge:
    return Challenge(challenge=issue_challenge(settings.secret_key, user_id,
                                               settings.totp_challenge_ttl),
                     expires_in=settings.totp_challenge_ttl, methods=kinds)


async def second_step(db: Database, redis: Redis, settings: Settings, challenge: str,
                      code: str, client: audit.Client | None = None) -> tuple[int, str]:
    """Check the challenge and the code (rate-limited per account); (user id, role)."""
    user_id = verify_challenge(settings.secret_key, challenge)
    await check_code_attempt(redis, settings, user_id)
    role = await db.pool.fetchval("SELECT role FROM users WHERE id = $1", user_id)
    if role is None:
        raise Unauthorized("this account no longer exists", code="account_gone")
    try:
        how = await totp.check_code(db, settings, user_id, code)
    except Unauthorized:
        await audit.record(db, user_id, "second_factor_failed", client)
        raise
    if how == "recovery":
        await audit.record(db, user_id, "recovery_code_used", client)
    return user_id, str(role)


async def _challenged(db: Database, redis: Redis, settings: Settings, challenge: str,
                      attempt: bool = True) -> tuple[int, str]:
    """The account a passkey second step is for, once it is known to accept a passkey (an
    `attempt` counts against the account's second-factor rate limit)."""
    user_id = verify_challenge(settings.secret_key, challenge)
    if attempt:
        await check_code_attempt(redis, settings, user_id)
    role = await db.pool.fetchval("SELECT role FROM users WHERE id = $1", user_id)
    if role is None:
        raise Unauthorized("this account no longer exists", code="account_gone")
    if "passkey" not in await methods(db, user_id):
        raise Unauthorized("this account does not use a passkey as its second step",
                           code="passkey_not_second_factor")
    return user_id, str(role)


async def passkey_options(db: Database, redis: Redis, settings: Settings,
                          challenge: str) -> dict[str, object]:
    user_id, _ = await _challenged(db, redis, settings, challenge, attempt=False)
    return await passkeys.second_factor_options(redis, settings, db, user_id)


async def passkey_step(db: Database, redis: Redis, settings: Settings, challenge: str,
                       credential: dict[str, object],
                       client: audit.Client | None = None) -> tuple[int, str]:
    """Check the challenge and a passkey assertion (rate-limited per account)."""
    user_id, role = await _challenged(db, redis, settings, challenge)
    try:
        await passkeys.verify_second_factor(redis, settings, db, user_id, dict(credential))
    except Unauthorized:
        await audit.record(db, user_id, "second_factor_failed", client)
        raise
    return user_id, role
