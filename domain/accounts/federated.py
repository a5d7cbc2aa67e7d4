"""Signing in (or linking) with the OpenID provider: the account side of `oidc.py`."""

from __future__ import annotations

import re
import secrets

from redis.asyncio import Redis

from domain.accounts import oidc, service, twostep
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Conflict, NotFound
from domain.settings import Settings


async def _create(db: Database, settings: Settings, identity: oidc.Identity) -> int:
    """A reader account for a new provider identity: a handle from the email, a random
    password (the owner may set one through "forgot password"), the email verified."""
    assert identity.email is not None
    base = re.sub(r"[^A-Za-z0-9_]", "", identity.email.partition("@")[0])[:20] or "reader"
    user_id: int | None = None
    for _ in range(5):
        handle = f"{base}_{secrets.token_hex(3)}"
        try:
            user_id, _ = await service.create_user(
                db, email=identity.email, handle=handle,
                display_name=(identity.name or base)[:60].strip() or base,
                password=secrets.token_urlsafe(24), role="reader", allow_reserved=False,
                settings=settings)
            break
        except Conflict as exc:
            if exc.code != "handle_taken":
                raise
    if user_id is None:
        raise Conflict("could not pick a handle; try again", code="handle_taken")
    await db.pool.execute("UPDATE users SET email_verified_at = now(), has_password = false "
                          "WHERE id = $1", user_id)
    return user_id


async def sign_in(db: Database, redis: Redis, settings: Settings, *, code: str,
                  state: str) -> tuple[oidc.Outcome, service.AuthSession | twostep.Challenge]:
    """Finish a provider sign-in: tokens (or a 2FA challenge) for the mapped account."""
    identity, link_user_id = await oidc.identify(redis, settings, code, state)

    async def create(found: oidc.Identity) -> int:
        return await _create(db, settings, found)

    outcome = await oidc.resolve(db, identity, link_user_id, create)
    if not outcome.linked and (kinds := await twostep.methods(db, outcome.user_id)):
        return outcome, twostep.challenge_for(settings, outcome.user_id, kinds)
    async with db.pool.acquire() as conn:
        return outcome, await service.issue_session(conn, settings, outcome.user_id,
                                                    outcome.role)


async def start_link(redis: Redis, settings: Settings, principal: Principal,
                     name: str | None = None) -> oidc.Started:
    """A signed-in user starts linking a provider (by name; default the first) to their
    account."""
    return await oidc.start(redis, settings, name, link_user_id=principal.user_id)


async def linked(db: Database, settings: Settings, user_id: int) -> list[str]:
    """The names of the configured providers the account is linked to."""
    issuers = {str(r["issuer"]) for r in await db.pool.fetch(
        "SELECT issuer FROM user_identities WHERE user_id = $1", user_id)}
    return [name for name, p in oidc.providers(settings).items() if p.issuer in issuers]


async def unlink(db: Database, settings: Settings, principal: Principal,
                 name: str | None = None) -> str:
    """Remove the caller's link to the provider, unless it is their only way to sign in (an
    account the provider created, whose owner never set a password: 409
    `last_sign_in_method`; "forgot password" sets one). Returns the provider's issuer."""
    issuer = oidc.provider(settings, name).issuer
    async with db.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT u.has_password, (SELECT count(*) FROM user_identities i "
            " WHERE i.user_id = u.id) AS links, (SELECT count(*) FROM user_identities i "
            " WHERE i.user_id = u.id AND i.issuer = $2) AS here "
            "FROM users u WHERE u.id = $1 FOR UPDATE", principal.user_id, issuer)
        if row is None or not row["here"]:
            raise NotFound("this account is not linked to the provider",
                           code="oidc_not_linked")
        if not row["has_password"] and row["links"] <= row["here"]:
            raise Conflict("this is the account's only way to sign in: set a password first "
                           "(\"forgot password\")", code="last_sign_in_method")
        await conn.execute("DELETE FROM user_identities WHERE user_id = $1 AND issuer = $2",
                           principal.user_id, issuer)
    return issuer
