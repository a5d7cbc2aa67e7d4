"""The second step of a sign-in when two-factor authentication is on."""

from __future__ import annotations

import msgspec
from redis.asyncio import Redis

from domain.accounts import audit, totp
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


def challenge_for(settings: Settings, user_id: int) -> Challenge:
    return Challenge(challenge=issue_challenge(settings.secret_key, user_id,
                                               settings.totp_challenge_ttl),
                     expires_in=settings.totp_challenge_ttl)


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
