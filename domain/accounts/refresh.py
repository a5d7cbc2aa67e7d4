"""Refresh tokens: opaque random strings stored as sha256, rotated on every use, in families.

A family is one login on one device. Each refresh consumes the presented token and issues its
successor in the same family. Presenting a token that was already consumed means someone kept a
copy: the whole family is revoked (theft detection). The check-and-rotate runs in one
transaction holding a row lock on the presented token, so two concurrent refreshes with the
same token cannot both succeed.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from domain.errors import Unauthorized


class Issued(msgspec.Struct, frozen=True):
    token: str
    family: str
    expires_at: datetime


class Rotated(msgspec.Struct, frozen=True):
    """Outcome of presenting a refresh token: a successor, or the family that was just killed."""

    user_id: int
    role: str
    family: str
    issued: Issued | None = None
    reused: bool = False


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_family() -> str:
    return uuid.uuid4().hex


async def issue(conn: Any, user_id: int, ttl: int, family: str | None = None) -> tuple[Issued, int]:
    """Insert a new refresh token (in `family`, or a new one); returns it and its row id."""
    token = secrets.token_urlsafe(32)
    family = family or new_family()
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl)
    row_id = await conn.fetchval(
        "INSERT INTO refresh_tokens (user_id, family, token_hash, expires_at) "
        "VALUES ($1, $2, $3, $4) RETURNING id",
        user_id, family, digest(token), expires_at,
    )
    return Issued(token=token, family=family, expires_at=expires_at), int(row_id)


async def rotate(pool: Any, token: str, ttl: int) -> Rotated:
    """Consume `token` and issue its successor, or revoke its family if it was already consumed.

    Raises Unauthorized for unknown, expired or revoked tokens. On reuse, the family's rows are
    revoked and committed, and `Rotated(reused=True)` is returned so that the caller can also
    kill the family's access tokens before refusing the request.
    """
    if not token or len(token) > 200:
        raise Unauthorized("invalid refresh token", code="invalid_refresh_token")
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT t.id, t.user_id, t.family, t.expires_at, t.used_at, t.revoked_at, u.role "
            "FROM refresh_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = $1 FOR UPDATE OF t",
            digest(token),
        )
        if row is None:
            raise Unauthorized("invalid refresh token", code="invalid_refresh_token")
        if row["revoked_at"] is not None:
            raise Unauthorized("this session was revoked; log in again",
                               code="refresh_token_revoked")
        if row["used_at"] is not None:
            await conn.execute(
                "UPDATE refresh_tokens SET revoked_at = now() "
                "WHERE family = $1 AND revoked_at IS NULL", row["family"])
            return Rotated(user_id=row["user_id"], role=row["role"], family=row["family"],
                           reused=True)
        if row["expires_at"] <= datetime.now(UTC):
            raise Unauthorized("refresh token expired; log in again",
                               code="refresh_token_expired")
        issued, new_id = await issue(conn, row["user_id"], ttl, row["family"])
        await conn.execute(
            "UPDATE refresh_tokens SET used_at = now(), replaced_by = $2 WHERE id = $1",
            row["id"], new_id)
        return Rotated(user_id=row["user_id"], role=row["role"], family=row["family"],
                       issued=issued)


async def family_of(pool: Any, token: str) -> tuple[int, str] | None:
    """(user id, family) of a refresh token, whatever its state; None if unknown."""
    row = await pool.fetchrow("SELECT user_id, family FROM refresh_tokens WHERE token_hash = $1",
                              digest(token))
    return None if row is None else (int(row["user_id"]), str(row["family"]))


async def revoke_family(pool: Any, family: str) -> None:
    await pool.execute("UPDATE refresh_tokens SET revoked_at = now() "
                       "WHERE family = $1 AND revoked_at IS NULL", family)


async def revoke_user(pool: Any, user_id: int) -> None:
    await pool.execute("UPDATE refresh_tokens SET revoked_at = now() "
                       "WHERE user_id = $1 AND revoked_at IS NULL", user_id)


async def prune(pool: Any, grace_seconds: int = 86400) -> int:
    """Delete refresh tokens expired more than `grace_seconds` ago (for a periodic worker job).

    Expired tokens can no longer be used, so dropping them loses nothing but the reuse alarm
    for a token nobody can redeem anyway. Returns the number of rows deleted.
    """
    status = await pool.execute(
        "DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => $1)",
        float(grace_seconds))
    return int(status.split()[-1])
