"""Socket authentication: verify (and renew) tokens, arm the reauth notice and the expiry close."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from domain.accounts.revocation import ensure_not_revoked
from domain.accounts.tokens import Principal, verify_access_token
from domain.errors import Forbidden, Unauthorized
from realtime.connection import Connection
from realtime.events import Reauth
from realtime.protocol import CLOSE_AUTH_EXPIRED
from realtime.registry import Registry
from realtime.rooms.base import ConnectionInfo

NameResolver = Callable[[int], Awaitable[str | None]]


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

    async def authenticate(self, conn: Connection, token: str) -> Principal:
        """Verify a token (first auth or renewal); arm the reauth notice and the expiry close."""
        principal = verify_access_token(self.secret_key, token)
        if self.redis is not None:
            await ensure_not_revoked(self.redis, principal)
        previous = conn.principal
        if previous is not None and previous.user_id != principal.user_id:
            raise Forbidden("the new token is for another user", code="user_mismatch")
        if principal.exp <= time.time():
            raise Unauthorized("access token expired", code="token_expired")
        conn.principal = principal
        if previous is None:
            name = None
            if self.name_resolver is not None:
                with contextlib.suppress(Exception):
                    name = await self.name_resolver(principal.user_id)
            conn.info = ConnectionInfo(principal.user_id, principal.role,
                                       name or f"user {principal.user_id}", conn.conn_id,
                                       self.node_id)
            self.registry.add_connection(conn)
        self._arm_expiry(conn, principal)
        return principal

    def _arm_expiry(self, conn: Connection, principal: Principal) -> None:
        conn.cancel_timers()
        loop = asyncio.get_running_loop()
        remaining = principal.exp - time.time()
        lead = min(60.0, max(1.0, remaining / 5))
        now = loop.time()
        if remaining - lead > 0:
            conn.call_at(now + remaining - lead, self._reauth_notice, conn, principal)
        conn.call_at(now + remaining, self._expire, conn, principal)

    def _reauth_notice(self, conn: Connection, principal: Principal) -> None:
        if not conn.closed and conn.principal is principal:
            conn.send(Reauth(expires_at=principal.exp))

    def _expire(self, conn: Connection, principal: Principal) -> None:
        if not conn.closed and conn.principal is principal:
            self.close(conn, CLOSE_AUTH_EXPIRED)
