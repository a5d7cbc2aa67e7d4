"""One-time account tokens (password reset, email verification, email change).

Each token is 32 random bytes (URL-safe) handed out once, in a link; only its sha256 is stored
(`account_tokens`), so a database leak yields no usable link. A token works once, until it
expires; consuming it is one `UPDATE … WHERE used_at IS NULL AND expires_at > now()
RETURNING`, so two concurrent uses cannot both succeed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from domain.errors import Invalid

PURPOSES = ("reset", "verify", "email_change")
MAX_TOKEN_LENGTH = 200


class Consumed(msgspec.Struct, frozen=True):
    """A token that was just used: whose it is and, for an email change, the new address."""

    user_id: int
    purpose: str
    new_email: str | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def issue(conn: Any, user_id: int, purpose: str, ttl: int,
                new_email: str | None = None) -> str:
    """Store a new token for `purpose` (earlier unused ones of that purpose die); return it."""
    if purpose not in PURPOSES:
        raise ValueError(purpose)
    token = secrets.token_urlsafe(32)
    await conn.execute("UPDATE account_tokens SET used_at = now() "
                       "WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
                       user_id, purpose)
    await conn.execute(
        "INSERT INTO account_tokens (user_id, purpose, token_hash, new_email, expires_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        user_id, purpose, digest(token), new_email,
        datetime.now(UTC) + timedelta(seconds=ttl))
    return token


async def consume(conn: Any, token: str, purposes: tuple[str, ...]) -> Consumed:
    """Use a token of one of `purposes` once; raises Invalid(`token_invalid`) when unknown,
    used or expired."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise Invalid("this link is not valid", code="token_invalid", field="token")
    row = await conn.fetchrow(
        "UPDATE account_tokens SET used_at = now() WHERE token_hash = $1 "
        "AND purpose = ANY($2::text[]) AND used_at IS NULL AND expires_at > now() "
        "RETURNING user_id, purpose, new_email",
        digest(token), list(purposes))
    if row is None:
        raise Invalid("this link is not valid, was already used or has expired",
                      code="token_invalid", field="token")
    return Consumed(user_id=int(row["user_id"]), purpose=str(row["purpose"]),
                    new_email=row["new_email"])


async def prune(pool: Any, grace_seconds: int = 86400) -> int:
    """Delete tokens expired more than `grace_seconds` ago; returns how many."""
    status = await pool.execute(
        "DELETE FROM account_tokens WHERE expires_at < now() - make_interval(secs => $1)",
        float(grace_seconds))
    return int(status.split()[-1])
