"""The node's display-name resolver for the hub: a bounded TTL cache in front of one batched
lookup, so a reconnect storm of N sockets costs about one query per event-loop turn, not N."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

log = logging.getLogger("readalong.hub")

Fetch = Callable[[list[int]], Awaitable[dict[int, str]]]


class NameCache:
    """`await cache(user_id)` -> display name or None (unknown user, or the lookup failed or
    took longer than `timeout`: the hub then shows "user <id>"). Names are kept `ttl` seconds
    (0: only concurrent lookups are shared), at most `max_size` of them (least recently used
    go first)."""

    def __init__(self, fetch: Fetch, ttl: float = 15.0, max_size: int = 10_000,
                 timeout: float = 2.0, batch: int = 500, window: float = 0.005) -> None:
        self.fetch = fetch
        self.ttl = ttl
        self.max_size = max_size
        self.timeout = timeout
        self.batch = batch
        self.window = window  # how long a lookup waits for others to share its query
        self._cache: OrderedDict[int, tuple[float, str | None]] = OrderedDict()
        self._waiting: dict[int, asyncio.Future[str | None]] = {}
        self._flush: asyncio.Task[None] | None = None

    async def __call__(self, user_id: int) -> str | None:
        hit = self._cache.get(user_id)
        if hit is not None:
            if time.monotonic() - hit[0] < self.ttl:
                self._cache.move_to_end(user_id)
                return hit[1]
            del self._cache[user_id]
        fut = self._waiting.get(user_id)
        if fut is None:
            fut = self._waiting[user_id] = asyncio.get_running_loop().create_future()
            if self._flush is None:
                self._flush = asyncio.get_running_loop().create_task(self._run())
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.timeout)
        except Exception:
            return None

    async def _run(self) -> None:
        # let the other auths of a burst join the batch: a reconnect storm's sockets arrive
        # over many loop turns, and one query per turn cost ~13% of a connect burst's CPU
        await asyncio.sleep(self.window)
        self._flush = None
        waiting, self._waiting = self._waiting, {}
        ids = list(waiting)
        for i in range(0, len(ids), self.batch):
            chunk = ids[i:i + self.batch]
            try:
                names = await self.fetch(chunk)
            except Exception as exc:
                log.debug("hub: display names not resolved: %s", exc)
                for uid in chunk:
                    if not waiting[uid].done():
                        waiting[uid].set_result(None)
                continue
            now = time.monotonic()
            for uid in chunk:
                name = names.get(uid)
                if self.ttl > 0:
                    self._cache[uid] = (now, name)
                if not waiting[uid].done():
                    waiting[uid].set_result(name)
            while len(self._cache) > self.max_size:
                self._cache.popitem(last=False)
