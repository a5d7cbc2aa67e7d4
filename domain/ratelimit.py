"""Redis-backed rate limits (GCRA, one atomic Lua call) shared by every server process."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from domain.errors import RateLimited
from domain.keys import RATE_LIMIT

# KEYS[1] bucket; ARGV: now_ms, emission interval ms (window/limit), burst tolerance ms (window)
_GCRA = """
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, allow_at - now}
end
if ARGV[4] == '1' then
  return {1, 0}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(tolerance + interval))
return {1, 0}
"""

# KEYS[1] bucket; ARGV: now_ms, emission interval ms. Gives one counted request back.
_REFUND = """
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local now = tonumber(ARGV[1])
local new_tat = tat - tonumber(ARGV[2])
if new_tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], new_tat, 'KEEPTTL')
end
return 1
"""


class RateLimiter:
    """`limit` requests per `window` seconds for each key, bursting up to `limit`."""

    def __init__(self, redis: Redis, name: str, limit: int, window: float) -> None:
        self.redis = redis
        self.name = name
        self.limit = max(1, limit)
        self.window_ms = window * 1000
        self._script = redis.register_script(_GCRA)
        self._refund = redis.register_script(_REFUND)

    def _key(self, key: str) -> str:
        return f"{RATE_LIMIT}{self.name}:{key}"

    async def hit(self, key: str, *, count: bool = True) -> None:
        """Count one request for `key`; raises RateLimited with the seconds to wait.

        With `count=False` only check that one more would be allowed (nothing is counted).
        """
        now = int(time.time() * 1000)
        interval = self.window_ms / self.limit
        allowed, wait_ms = await self._script(
            keys=[self._key(key)], args=[now, interval, self.window_ms, "0" if count else "1"]
        )
        if not int(allowed):
            raise RateLimited(f"too many {self.name} attempts; try again later",
                              retry_after=float(wait_ms) / 1000)

    async def refund(self, key: str) -> None:
        """Give back one request counted for `key` (it turned out not to count)."""
        now = int(time.time() * 1000)
        await self._refund(keys=[self._key(key)], args=[now, self.window_ms / self.limit])
