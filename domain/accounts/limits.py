"""Rate limits of the auth endpoints: login per (address, email), register per address."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.accounts.revocation import AuthUnavailable
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


async def check_register(redis: Redis, settings: Settings, address: str) -> None:
    """Count one registration attempt from `address`; raises RateLimited past the limit."""
    limiter = RateLimiter(redis, "register", settings.register_rate, settings.register_window)
    await _hit(limiter, address)


async def _hit(limiter: RateLimiter, key: str) -> None:
    """Fail closed: without Redis we cannot count attempts, so refuse with a 503."""
    try:
        await limiter.hit(key)
    except (RedisError, OSError) as exc:
        raise AuthUnavailable("cannot sign in right now; try again shortly") from exc
