"""Access-token revocation in Redis (per refresh family and per user) and the hub's control message.

Access tokens are stateless JWTs, so a logout cannot recall them; instead we remember, for as
long as any access token can live (the access-token TTL), which refresh families and which users
were revoked. Every authenticated REST request and every WebSocket auth calls
`ensure_not_revoked`, which is one Redis round trip (MGET of two keys).
"""

from __future__ import annotations

import logging
import time

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.accounts.tokens import Principal
from domain.errors import DomainError, Unauthorized
from domain.keys import HUB_CONTROL, REVOKED_FAMILY, REVOKED_USER
from domain.redisconn import mget

log = logging.getLogger("readalong.accounts")


class AuthUnavailable(DomainError):
    """Redis (revocation marks, rate limits) is unreachable: refuse (fail closed) with a 503."""

    status = 503
    code = "auth_unavailable"


def family_key(family: str) -> str:
    return f"{REVOKED_FAMILY}{family}"


def user_key(user_id: int) -> str:
    return f"{REVOKED_USER}{user_id}"


def control_message(user_id: int, family: str | None) -> bytes:
    """The JSON frame on HUB_CONTROL telling every node to close the matching sockets (4003)."""
    return orjson.dumps({"type": "revoke", "user_id": user_id, "family": family})


async def ensure_not_revoked(redis: Redis, principal: Principal) -> None:
    """Raise Unauthorized(code="token_revoked") if the token's family or its user was revoked.

    A user revocation stores the epoch millisecond it happened; tokens issued before it (by
    their `ims` claim) are dead, tokens issued after it (a refresh right after a role change)
    are valid. This relies on the nodes' clocks agreeing to within milliseconds (NTP).
    """
    keys = [user_key(principal.user_id)]
    if principal.family:
        keys.append(family_key(principal.family))
    try:
        values = await mget(redis, keys)  # (two slots in cluster mode)
    except (RedisError, OSError) as exc:
        raise AuthUnavailable("cannot check the session right now; try again shortly") \
            from exc
    user_cut = values[0]
    if user_cut is not None and principal.issued_ms < int(user_cut):
        raise Unauthorized("this session was revoked; log in again", code="token_revoked")
    if len(values) > 1 and values[1] is not None:
        raise Unauthorized("this session was revoked; log in again", code="token_revoked")


async def _publish(redis: Redis, user_id: int, family: str | None) -> None:
    try:
        await redis.publish(HUB_CONTROL, control_message(user_id, family))
    except Exception:
        log.warning("could not publish revocation of user %s family %s", user_id, family,
                    exc_info=True)


async def revoke_family(redis: Redis, user_id: int, family: str, ttl: int) -> None:
    """Kill every access token of one refresh family (one device) and close its sockets."""
    try:
        await redis.set(family_key(family), b"1", ex=max(1, ttl))
    except (RedisError, OSError) as exc:
        raise AuthUnavailable("cannot revoke the session right now; try again shortly") from exc
    await _publish(redis, user_id, family)


async def revoke_user(redis: Redis, user_id: int, ttl: int) -> None:
    """Kill every access token of a user issued before now and close all their sockets."""
    try:
        await redis.set(user_key(user_id), str(int(time.time() * 1000)).encode(),
                        ex=max(1, ttl))
    except (RedisError, OSError) as exc:
        raise AuthUnavailable("cannot revoke sessions right now; try again shortly") from exc
    await _publish(redis, user_id, None)
