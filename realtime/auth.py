"""Socket authentication: verify (and renew) tokens, arm the reauth notice and the expiry close.

The notices and closes of every socket share one timer (`ExpiryWheel`: sockets grouped by the
second they are due), so an idle socket holds no timer handle of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import time
from collections.abc import Awaitable, Callable

import msgspec
from redis.asyncio import Redis

from domain.accounts.revocation import ensure_not_revoked
from domain.accounts.tokens import Principal, verify_access_token
from domain.errors import Forbidden, Unauthorized
from domain.redisconn import is_cluster
from realtime.connection import Connection
from realtime.connection_redis import TurnRedis
from realtime.events import Reauth
from realtime.protocol import CLOSE_AUTH_EXPIRED
from realtime.registry import Registry
from realtime.rooms.base import ConnectionInfo

NameResolver = Callable[[int], Awaitable[str | None]]


class ExpiryWheel:
    """Sockets by the wall-clock second they are next due (`on_due(conn)` then); one loop
    timer armed for the earliest second. A socket is in at most one bucket (`conn.timer_set`)."""

    def __init__(self, on_due: Callable[[Connection], None]) -> None:
        self.on_due = on_due
        self.buckets: dict[int, set[Connection]] = {}
        self.heap: list[int] = []
        self.handle: asyncio.TimerHandle | None = None
        self.armed: int | None = None

    def add(self, conn: Connection, at: int) -> None:
        conn.cancel_timers()
        bucket = self.buckets.get(at)
        if bucket is None:
            bucket = self.buckets[at] = set()
            heapq.heappush(self.heap, at)
            if self.armed is None or at < self.armed:
                self._arm(at)
        bucket.add(conn)
        conn.timer_set = bucket

    def _arm(self, at: int) -> None:
        if self.handle is not None:
            self.handle.cancel()
        loop = asyncio.get_running_loop()
        self.armed = at
        self.handle = loop.call_at(loop.time() + max(0.0, at - time.time()), self._tick)

    def _tick(self) -> None:
        self.handle = self.armed = None
        now = time.time()  # (a timer fired early by the loop's clock is simply re-armed)
        while self.heap and self.heap[0] <= now:
            at = heapq.heappop(self.heap)
            for conn in list(self.buckets.pop(at, ())):
                conn.timer_set = None
                self.on_due(conn)
        if self.heap and self.handle is None:
            self._arm(self.heap[0])

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.handle = self.armed = None


class SocketAuth:
    """Who a socket is, for how long; renewals must name the same user."""

    def __init__(self, secret_key: str, node_id: str, registry: Registry,
                 close: Callable[[Connection, int], None]) -> None:
        self.secret_key = secret_key
        self.node_id = node_id
        self.registry = registry
        self.close = close
        self.redis: Redis | None = None
        self.name_resolver: NameResolver | None = None
        self.wheel = ExpiryWheel(self._due)
        self._turn: tuple[Redis, Redis | TurnRedis] | None = None

    def _checker(self, redis: Redis) -> Redis | TurnRedis:
        """Where the revocation check reads: this turn's shared pipeline (one instance)."""
        if self._turn is None or self._turn[0] is not redis:
            self._turn = (redis, redis if is_cluster(redis) else TurnRedis(redis))
        return self._turn[1]

    async def authenticate(self, conn: Connection, token: str) -> Principal:
        """Verify a token (first auth or renewal); arm the reauth notice and the expiry close."""
        principal = verify_access_token(self.secret_key, token)
        if self.redis is not None:
            await ensure_not_revoked(self._checker(self.redis), principal)  # type: ignore[arg-type]
        previous = conn.principal
        if previous is not None and previous.user_id != principal.user_id:
            raise Forbidden("the new token is for another user", code="user_mismatch")
        if principal.exp <= time.time():
            raise Unauthorized("access token expired", code="token_expired")
        conn.principal = principal
        if previous is None:
            # the display name is looked up later, by the first subscribe that shows it
            # (`name`): most sockets' first rooms (`user:`, leaderboards) never do
            conn.info = ConnectionInfo(principal.user_id, principal.role,
                                       f"user {principal.user_id}", conn.conn_id, self.node_id)
            conn.unnamed = self.name_resolver is not None
            self.registry.add_connection(conn)
        self._arm_expiry(conn, principal)
        return principal

    async def name(self, conn: Connection) -> None:
        """Give the socket its display name (once; a failed or slow lookup, or an unknown user,
        leaves "user <id>")."""
        conn.unnamed = False
        info = conn.info
        if info is None or self.name_resolver is None:
            return
        name = None
        with contextlib.suppress(Exception):
            name = await self.name_resolver(info.user_id)
        if name and conn.info is info:
            conn.info = msgspec.structs.replace(info, display_name=name)

    def _arm_expiry(self, conn: Connection, principal: Principal) -> None:
        remaining = principal.exp - time.time()
        lead = min(60.0, max(1.0, remaining / 5))
        if remaining - lead > 0:
            self.wheel.add(conn, math.ceil(principal.exp - lead))
        else:
            self.wheel.add(conn, math.ceil(principal.exp))

    def _due(self, conn: Connection) -> None:
        """The reauth notice (then wait for the expiry) or, once the token expired, 4002."""
        principal = conn.principal
        if conn.closed or principal is None:
            return
        if time.time() >= principal.exp:
            self.close(conn, CLOSE_AUTH_EXPIRED)
            return
        conn.send(Reauth(expires_at=principal.exp))
        self.wheel.add(conn, math.ceil(principal.exp))
