"""Rate limits of the auth endpoints: login per (address, email), register per address.

Registration has two buckets per client address: accounts *created* (`register_rate` per
`register_window`) and *failed* attempts (`register_failure_rate` per
`register_failure_window`: a handle taken, a weak password, an email in use). A household or
a classroom behind one address registers a few dozen people with the odd typo; neither bucket
is shared with the other, so a run of typos never locks the next person out of creating their
account, and guessing which emails are registered stays slow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.accounts.revocation import AuthUnavailable
from domain.errors import RateLimited
from domain.ratelimit import RateLimiter
from domain.settings import Settings


async def check_login(redis: Redis, settings: Settings, address: str, email: str) -> None:
    """Count one login attempt; raises RateLimited (429 + Retry-After) past the limit.

    Keyed by client address *and* the lowered email: a guesser hammering one account from one
    address is stopped, while one busy address (a NAT, the test suite) can still log in to
    other accounts.
    """
    limiter = RateLimiter(redis, "login", settings.login_rate, settings.login_window)
    await _hit(limiter, f"{address}|{(email or '').strip().lower()[:254]}")


@asynccontextmanager
async def registering(redis: Redis, settings: Settings, address: str) -> AsyncIterator[None]:
    """Around one registration from `address`: 429 when this address created too many
    accounts or failed too often lately; the attempt counts as a creation when the body of the
    `async with` succeeds, as a failure when it raises."""
    created = RateLimiter(redis, "register", settings.register_rate, settings.register_window)
    failed = RateLimiter(redis, "register-failed", settings.register_failure_rate,
                         settings.register_failure_window)
    await _hit(failed, address, count=False)  # too many failures lately: refuse before trying
    await _hit(created, address)  # counted now (two at once cannot both pass), refunded below
    try:
        yield
    except BaseException:
        try:
            await created.refund(address)
            await failed.hit(address)
        except RateLimited:
            pass  # the failure is answered as itself; the next attempt gets the 429
        except (RedisError, OSError):
            pass  # the attempt failed anyway; its own error is the answer
        raise


async def _hit(limiter: RateLimiter, key: str, *, count: bool = True) -> None:
    """Fail closed: without Redis we cannot count attempts, so refuse with a 503."""
    try:
        await limiter.hit(key, count=count)
    except (RedisError, OSError) as exc:
        raise AuthUnavailable("cannot sign in right now; try again shortly") from exc


async def check_account_mail(redis: Redis, settings: Settings, address: str,
                             email: str) -> None:
    """Count one request that may email `email` (forgot password, resend verification, email
    change): 429 past `forgot_rate` per email or `forgot_address_rate` per client address.
    The same whether or not the address is registered, so it reveals nothing."""
    per_address = RateLimiter(redis, "forgot-addr", settings.forgot_address_rate,
                              settings.forgot_address_window)
    per_email = RateLimiter(redis, "forgot-email", settings.forgot_rate, settings.forgot_window)
    await _hit(per_address, address)
    await _hit(per_email, (email or "").strip().lower()[:254])


async def check_code_attempt(redis: Redis, settings: Settings, user_id: int) -> None:
    """Count one second-factor attempt of an account (`totp_attempt_rate` per window)."""
    limiter = RateLimiter(redis, "2fa", settings.totp_attempt_rate, settings.totp_attempt_window)
    await _hit(limiter, str(user_id))
