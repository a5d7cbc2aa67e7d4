"""Failed kosync sign-ins are rate limited (a device's key is a password: no guessing).

Two buckets count FAILED authentications only (a wrong key, an unknown username, missing
headers): one per (client address, username), `kosync_auth_fail_rate` per
`kosync_auth_fail_window` seconds, and one per address, `kosync_auth_fail_address_rate` per
window (many usernames tried from one address). Before verifying a key, both buckets are
checked without counting; past either, the request is answered 429 with a kosync-style body
`{"code": 2006, "message": "Too many failed sign-ins. Try again in N seconds."}` and a
`Retry-After` header, even when the key is right, so a guesser learns nothing while locked
out. A device that signs in correctly is never counted, so page turns are never limited.
Redis is needed to count: when it cannot be reached, sign-ins are verified without the limit
(argon2id stays the cost of a guess) and the failure is logged.
"""

from __future__ import annotations

import logging
import math

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.errors import RateLimited
from domain.interop.kosync import KosyncError
from domain.ratelimit import RateLimiter
from domain.settings import Settings

log = logging.getLogger("readalong.kosync")
RATE_LIMITED_CODE = 2006


class KosyncRateLimited(KosyncError):
    """429 in KOReader's error shape, with the seconds to wait (for `Retry-After`)."""

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(429, RATE_LIMITED_CODE,
                         f"Too many failed sign-ins. Try again in {seconds} seconds.")
        self.retry_after = seconds


def _buckets(redis: Redis, settings: Settings, address: str,
             username: str | None) -> list[tuple[RateLimiter, str]]:
    window = settings.kosync_auth_fail_window
    name = (username or "")[:100].lower()
    return [(RateLimiter(redis, "kosync-auth", settings.kosync_auth_fail_rate, window),
             f"{address}|{name}"),
            (RateLimiter(redis, "kosync-auth-address", settings.kosync_auth_fail_address_rate,
                         window), address)]


async def check(redis: Redis, settings: Settings, address: str, username: str | None) -> None:
    """Before verifying: raise `KosyncRateLimited` when this address (and username) failed
    too often lately; nothing is counted."""
    try:
        for limiter, key in _buckets(redis, settings, address, username):
            await limiter.hit(key, count=False)
    except RateLimited as exc:
        raise KosyncRateLimited(exc.retry_after) from None
    except (RedisError, OSError):
        log.warning("kosync sign-in limit unavailable (Redis); verifying without it")


async def failed(redis: Redis, settings: Settings, address: str, username: str | None) -> None:
    """After a failed verification: count it in both buckets (the failure itself is the
    answer; the next attempt past the limit gets the 429)."""
    for limiter, key in _buckets(redis, settings, address, username):
        try:
            await limiter.hit(key)
        except RateLimited:
            pass
        except (RedisError, OSError):
            log.warning("kosync sign-in limit unavailable (Redis): failure not counted")
            return
