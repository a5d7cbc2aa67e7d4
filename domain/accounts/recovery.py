"""Forgotten passwords, email verification and email changes.

Every use-case returns the `Mail`s to send; the caller sends them after answering (see
`domain/accounts/mail.py`). Tokens are one-time (`domain/accounts/onetime.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import asyncpg
import msgspec
from redis.asyncio import Redis

from domain.accounts import audit, onetime, revocation
from domain.accounts.mail import Mail, link
from domain.accounts.passwords import passwords_for
from domain.accounts.rules import check_password, normalize_email
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Conflict, Invalid, Unauthorized
from domain.settings import Settings

REVOCATION_SLACK = 60
T = TypeVar("T")


def _as_field(check: Callable[[], T], field: str) -> T:
    """Run a shared rule, naming this endpoint's field in its error."""
    try:
        return check()
    except Invalid as exc:
        exc.field = field
        raise


class EmailState(msgspec.Struct, frozen=True):
    """The caller's address, whether it is verified, and an address waiting for confirmation."""

    email: str
    verified: bool
    pending_email: str | None = None


async def forgot_password(db: Database, settings: Settings, email: str) -> list[Mail]:
    """A reset link for the account of `email`, or nothing when there is none (the caller
    answers the same either way)."""
    row = await db.pool.fetchrow("SELECT id, email FROM users WHERE lower(email) = lower($1)",
                                 (email or "").strip()[:254])
    if row is None:
        return []
    async with db.pool.acquire() as conn:
        token = await onetime.issue(conn, int(row["id"]), "reset", settings.password_reset_ttl)
    minutes = max(1, settings.password_reset_ttl // 60)
    return [Mail(to=row["email"], subject="Reset your Readalong password", lines=[
        "Someone (hopefully you) asked to reset the password of your Readalong account.",
        f"Choose a new password here (the link works once, for {minutes} minutes):\n"
        f"{link(settings, 'reset-password', token)}",
        "If it was not you, ignore this email: your password stays as it is."])]


async def reset_password(db: Database, redis: Redis, settings: Settings, token: str,
                         new_password: str) -> list[Mail]:
    """Set a new password with a reset token (once); every session and socket is revoked and
    the owner is told. The link came to the address, so the address counts as verified."""
    passwords = passwords_for(settings)
    async with db.pool.acquire() as conn, conn.transaction():
        used = await onetime.consume(conn, token, ("reset",))
        row = await conn.fetchrow("SELECT email, handle FROM users WHERE id = $1 FOR UPDATE",
                                  used.user_id)
        if row is None:
            raise Invalid("this link is not valid", code="token_invalid", field="token")
        _as_field(lambda: check_password(new_password, email=row["email"],
                                         handle=row["handle"]), "new_password")
        await conn.execute(
            "UPDATE users SET password_hash = $2, updated_at = now(), has_password = true, "
            "email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1",
            used.user_id, await passwords.hash(new_password))
        await conn.execute("UPDATE refresh_tokens SET revoked_at = now() "
                           "WHERE user_id = $1 AND revoked_at IS NULL", used.user_id)
    await revocation.revoke_user(redis, used.user_id,
                                 settings.access_token_ttl + REVOCATION_SLACK)
    await audit.record(db, used.user_id, "password_reset")
    return [Mail(to=row["email"], subject="Your Readalong password was changed", lines=[
        "The password of your Readalong account was just reset, and every device was signed "
        "out.",
        "If this was not you, reset it again at once: "
        f"{settings.public_url.rstrip('/')}/app/#/forgot-password"])]


async def verification_mail(conn: asyncpg.Connection, settings: Settings, user_id: int,
                            email: str) -> Mail:
    """Issue a verification token for the account's current address and word the email."""
    token = await onetime.issue(conn, user_id, "verify", settings.email_verify_ttl)
    return Mail(to=email, subject="Confirm your email address for Readalong", lines=[
        "Welcome to Readalong! Confirm that this address is yours:",
        link(settings, "verify-email", token),
        "Until you do, Readalong sends you no notification or digest emails."])


async def after_register(db: Database, settings: Settings, user_id: int) -> list[Mail]:
    """The verification email of a new account."""
    async with db.pool.acquire() as conn:
        email = await conn.fetchval("SELECT email FROM users WHERE id = $1", user_id)
        return [await verification_mail(conn, settings, user_id, str(email))]


async def resend_verification(db: Database, settings: Settings,
                              principal: Principal) -> list[Mail]:
    async with db.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT email, email_verified_at FROM users WHERE id = $1",
                                  principal.user_id)
        if row is None:
            raise Unauthorized("this account no longer exists", code="account_gone")
        if row["email_verified_at"] is not None:
            raise Conflict("this address is already verified", code="email_already_verified")
        return [await verification_mail(conn, settings, principal.user_id, row["email"])]


async def email_state(db: Database, user_id: int) -> EmailState:
    row = await db.pool.fetchrow(
        "SELECT u.email, u.email_verified_at, (SELECT t.new_email FROM account_tokens t "
        " WHERE t.user_id = u.id AND t.purpose = 'email_change' AND t.used_at IS NULL "
        " AND t.expires_at > now() ORDER BY t.id DESC LIMIT 1) AS pending "
        "FROM users u WHERE u.id = $1", user_id)
    if row is None:
        raise Unauthorized("this account no longer exists", code="account_gone")
    return EmailState(email=row["email"], verified=row["email_verified_at"] is not None,
                      pending_email=row["pending"])


async def request_email_change(db: Database, settings: Settings, principal: Principal, *,
                               new_email: str, password: str) -> list[Mail]:
    """Step-up with the password, then send a confirmation link to the new address; the
    account keeps its old address until the link is used."""
    new_email = _as_field(lambda: normalize_email(new_email), "new_email")
    row = await db.pool.fetchrow("SELECT email, password_hash FROM users WHERE id = $1",
                                 principal.user_id)
    if row is None:
        raise Unauthorized("this account no longer exists", code="account_gone")
    if not isinstance(password, str) or len(password) > 1024 or \
            not await passwords_for(settings).verify(row["password_hash"], password):
        raise Invalid("the password is wrong", code="invalid_credentials", field="password")
    if new_email.lower() == str(row["email"]).lower():
        raise Invalid("this is already your address", code="email_unchanged",
                      field="new_email")
    if await db.pool.fetchval("SELECT 1 FROM users WHERE lower(email) = lower($1)", new_email):
        raise Conflict("an account with this email already exists", code="email_taken",
                       field="new_email")
    async with db.pool.acquire() as conn:
        token = await onetime.issue(conn, principal.user_id, "email_change",
                                    settings.email_verify_ttl, new_email=new_email)
    return [Mail(to=new_email, subject="Confirm your new email address for Readalong", lines=[
        "You asked to use this address for your Readalong account. Confirm it here:",
        link(settings, "verify-email", token),
        "Your account keeps its current address until you do."])]


async def verify_email(db: Database, settings: Settings, token: str) -> tuple[EmailState,
                                                                            list[Mail]]:
    """Use a verification or email-change link. An email change replaces the address (now
    verified) and tells the old address."""
    mails: list[Mail] = []
    try:
        async with db.pool.acquire() as conn, conn.transaction():
            used = await onetime.consume(conn, token, ("verify", "email_change"))
            old = await conn.fetchval("SELECT email FROM users WHERE id = $1 FOR UPDATE",
                                      used.user_id)
            if used.purpose == "email_change" and used.new_email:
                await conn.execute("UPDATE users SET email = $2, email_verified_at = now(), "
                                   "updated_at = now() WHERE id = $1",
                                   used.user_id, used.new_email)
                mails.append(Mail(to=str(old), subject="Your Readalong email address changed",
                                  lines=[f"Your Readalong account now uses {used.new_email}; "
                                         "this address gets no more emails from it.",
                                         "If this was not you, contact the administrators."]))
            else:
                await conn.execute("UPDATE users SET email_verified_at = "
                                   "coalesce(email_verified_at, now()) WHERE id = $1",
                                   used.user_id)
    except asyncpg.UniqueViolationError as exc:  # someone registered the address meanwhile
        raise Conflict("an account with this email already exists", code="email_taken",
                       field="token") from exc
    if mails:
        await audit.record(db, used.user_id, "email_changed", new_email=used.new_email)
    return await email_state(db, used.user_id), mails


async def security_notice(db: Database, user_id: int, subject: str, line: str) -> list[Mail]:
    """A short "this just happened to your account" email to the owner."""
    email = await db.pool.fetchval("SELECT email FROM users WHERE id = $1", user_id)
    if email is None:
        return []
    return [Mail(to=str(email), subject=subject, lines=[
        line, "If this was not you, reset your password at once and contact the "
              "administrators."])]
