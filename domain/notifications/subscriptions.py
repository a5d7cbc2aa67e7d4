"""Web Push subscriptions of a user's browsers: save (validated), list, remove."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from urllib.parse import urlsplit

import msgspec

from domain.db import Database
from domain.errors import Invalid, NotFound
from domain.notifications.webpush import check_subscription_keys

MAX_PER_USER = 20


class PushKeys(msgspec.Struct, forbid_unknown_fields=True):
    p256dh: str
    auth: str


class PushSubscriptionIn(msgspec.Struct, forbid_unknown_fields=True):
    """What `PushSubscription.toJSON()` gives in a browser (expirationTime is ignored)."""

    endpoint: str
    keys: PushKeys
    expirationTime: float | None = None
    user_agent: str = ""


class PushSubscriptionOut(msgspec.Struct, frozen=True):
    id: int
    endpoint: str
    created_at: datetime


def _check_endpoint(endpoint: str, allow_http: bool) -> str:
    """An https URL of a push service; outside development not an IP literal or localhost, so
    the worker cannot be pointed at internal services (push services are public hosts)."""
    bad = Invalid("endpoint must be the https URL of a push service", code="invalid_endpoint",
                  field="endpoint")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
    except ValueError as exc:
        raise bad from exc
    ok = parts.scheme == "https" or (allow_http and parts.scheme == "http")
    if not ok or not host or len(endpoint) > 2000 or parts.username or parts.password:
        raise bad
    if not allow_http:
        try:
            ipaddress.ip_address(host)
            raise bad
        except ValueError:
            pass
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise bad
    return endpoint


async def subscribe(db: Database, user_id: int, data: PushSubscriptionIn, *,
                    allow_http: bool = False) -> PushSubscriptionOut:
    """Save (or move to this user) one browser subscription; idempotent per endpoint."""
    endpoint = _check_endpoint(data.endpoint, allow_http)
    check_subscription_keys(data.keys.p256dh, data.keys.auth)
    count = await db.pool.fetchval("SELECT count(*) FROM push_subscriptions WHERE user_id = $1"
                                   " AND endpoint <> $2", user_id, endpoint)
    if count >= MAX_PER_USER:
        raise Invalid(f"at most {MAX_PER_USER} push subscriptions per user",
                      code="too_many_subscriptions")
    row = await db.pool.fetchrow(
        "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, user_agent)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO UPDATE SET"
        " user_id = EXCLUDED.user_id, p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth,"
        " user_agent = EXCLUDED.user_agent RETURNING id, endpoint, created_at",
        user_id, endpoint, data.keys.p256dh, data.keys.auth, data.user_agent[:300])
    return PushSubscriptionOut(id=row["id"], endpoint=row["endpoint"],
                               created_at=row["created_at"])


async def list_subscriptions(db: Database, user_id: int) -> list[PushSubscriptionOut]:
    rows = await db.pool.fetch("SELECT id, endpoint, created_at FROM push_subscriptions"
                               " WHERE user_id = $1 ORDER BY id", user_id)
    return [PushSubscriptionOut(id=r["id"], endpoint=r["endpoint"], created_at=r["created_at"])
            for r in rows]


async def unsubscribe(db: Database, user_id: int, subscription_id: int) -> None:
    done = await db.pool.fetchval("DELETE FROM push_subscriptions WHERE id = $1 AND user_id = $2"
                                  " RETURNING id", subscription_id, user_id)
    if done is None:
        raise NotFound("no such push subscription", code="subscription_not_found")
